"""`./kroma.sh up` itself: it installs, seeds, serves web + worker, and stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.load(response)
    except OSError:
        return None


def _start(var_dir: Path, port: int, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "KROMA_VAR_DIR": str(var_dir),
        "KROMA_BIND": f"127.0.0.1:{port}",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DATABASE_URL", None)  # `up` is the SQLite install, also on the PostgreSQL pass
    # A session of its own, so the test can see every process the command started.
    return subprocess.Popen(
        [str(ROOT / "kroma.sh"), "up"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _wait_for(predicate, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}; log:\n{log.read_text()[-3000:]}")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_and_wait(proc: subprocess.Popen, how: str, log: Path) -> float:
    started = time.monotonic()
    if how == "SIGTERM":
        proc.send_signal(signal.SIGTERM)
    else:  # Ctrl-C in a terminal: SIGINT to the whole foreground process group
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=25)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"{how} did not stop kroma.sh up; log:\n{log.read_text()[-3000:]}")
    _wait_for(lambda: not _group_alive(proc.pid), 10, "web and worker to exit", log)
    return time.monotonic() - started


@pytest.mark.slow
def test_up_serves_health_runs_a_worker_and_stops_on_sigterm_and_ctrl_c(tmp_path):
    port, log = _free_port(), tmp_path / "up.log"
    url = f"http://127.0.0.1:{port}/health"
    proc = _start(tmp_path / "var", port, log)
    elapsed = None
    try:
        health = _wait_for(lambda: _get_json(url), 120, "/health", log)
        assert health["db"]["ok"] is True
        # The worker is real: the scheduled heartbeat task runs within a scheduler cycle.
        worker = _wait_for(
            lambda: (
                ((_get_json(url) or {}).get("worker") or {}).get("heartbeat_age_s") is not None
                and _get_json(url)["worker"]
            ),
            90,
            "a worker heartbeat",
            log,
        )
        assert 0 <= worker["heartbeat_age_s"] < 120  # written by the worker, just now
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/projects/demo/") as response:
            assert b"Demo: Lantern Harbor" in response.read()  # single-user mode, demo seeded
    finally:
        if proc.poll() is None:
            elapsed = _stop_and_wait(proc, "SIGTERM", log)
    assert elapsed is not None and elapsed < 20, "kroma.sh up exited by itself"
    assert "Kroma stopped." in log.read_text()

    # Running it again reuses the same database and files and loses nothing.
    log2 = tmp_path / "up2.log"
    proc = _start(tmp_path / "var", port, log2)
    elapsed = None
    try:
        _wait_for(lambda: _get_json(url), 120, "/health after restart", log2)
        assert "Demo project 'demo': 7 assets, 2 characters." in log2.read_text()
    finally:
        if proc.poll() is None:
            elapsed = _stop_and_wait(proc, "SIGINT", log2)
    assert elapsed is not None and elapsed < 20, "kroma.sh up exited by itself"
