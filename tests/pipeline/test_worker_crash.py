"""A real qcluster, killed with SIGKILL in the middle of its jobs, then restarted.

The jobs must finish exactly once, every candidate must be paid for at most once, and no row
may be left running.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path):
    fake = FakeOpenAI(latency_s=3.0).start()
    environment = {
        **os.environ,
        "KROMA_VAR_DIR": str(tmp_path / "var"),
        "KROMA_JOB_LEASE_S": "3",
        "OPENAI_API_KEY": "sk-test-crash-0000",
        "OPENAI_BASE_URL": fake.base_url,
        "PYTHONUNBUFFERED": "1",
    }
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    environment.pop("KROMA_TASKS_SYNC", None)
    yield environment, fake, tmp_path / "var" / "kroma.sqlite3"
    fake.stop()


def _manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _qcluster(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db, timeout=20) as conn:
        return conn.execute(sql).fetchall()


def _wait(predicate, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}; worker log:\n{log.read_text()[-3000:]}")


@pytest.mark.slow
def test_sigkilled_worker_jobs_finish_exactly_once_after_restart(env, tmp_path):
    environment, fake, db = env
    log = tmp_path / "worker.log"
    _manage(environment, "migrate", "-v0")
    _manage(environment, "kroma_seed", "--with-default-user", "--demo")
    _manage(
        environment,
        "kroma_run",
        "--project",
        "demo",
        "--stage",
        "style",
        "--candidates",
        "2",
        "--confirm-spend",
    )
    worker = _qcluster(environment, log)
    # All three jobs are in flight (concurrency 4, provider latency 3 s): kill the worker now.
    _wait(lambda: len(fake.calls) == 3, 60, "three provider calls in flight", log)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    time.sleep(3.5)  # the provider finishes its answers to a dead client: nothing is billed
    assert fake.paid_images == 0
    assert _rows(db, "SELECT status, attempts FROM pipeline_runjob") == [("running", 1)] * 3

    worker = _qcluster(environment, log)
    try:
        # The leases (3 s) have expired: the sweeper requeues the jobs and enqueues the run.
        assert "3 requeued" in _manage(environment, "kroma_sweep")
        _wait(
            lambda: _rows(db, "SELECT status FROM pipeline_run") == [("done",)],
            90,
            "the run to finish",
            log,
        )
    finally:
        os.killpg(worker.pid, signal.SIGINT)
        worker.wait(timeout=30)

    assert _rows(db, "SELECT status, attempts FROM pipeline_runjob") == [("done", 2)] * 3
    assert _rows(db, "SELECT count(*) FROM pipeline_runcandidate") == [(6,)]
    assert _rows(db, "SELECT count(*) FROM pipeline_costevent") == [(3,)]
    assert fake.paid_images == 6  # each of the 6 candidates paid exactly once
    assert _rows(db, "SELECT count(*) FROM pipeline_runjob WHERE status = 'running'") == [(0,)]
    run_log = json.loads(
        next((tmp_path / "var" / "projects" / "demo" / "runs").glob("*/run.json")).read_text()
    )
    assert run_log["run"]["status"] == "done"
    assert "sk-test-crash" not in json.dumps(run_log)
