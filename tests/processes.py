"""Helpers for tests that start real processes (manage.py commands, qcluster, the server)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def manage(
    env: dict, *args: str, ok: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run `manage.py ARGS` with `env`; unless `ok=False`, fail the test (with its output)
    when the command fails."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if ok:
        assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-2000:]
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def served(var_dir: Path, *args: str, worker: bool = False, **env: str) -> Iterator[int]:
    """`kroma_serve ARGS` (with `--no-worker` unless `worker`) on a free port of its own, on
    SQLite in `var_dir`; yields the port once it accepts connections, stops it after."""
    port = free_port()
    environment = {**os.environ, "KROMA_VAR_DIR": str(var_dir), "KROMA_BIND": f"127.0.0.1:{port}"}
    environment.update(env)
    environment.pop("DATABASE_URL", None)
    manage(environment, "migrate", "-v0")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "kroma_serve", *([] if worker else ["--no-worker"]), *args],
        cwd=ROOT,
        env=environment,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(150):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
