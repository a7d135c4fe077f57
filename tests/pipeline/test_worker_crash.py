"""Real qclusters at default settings, killed with SIGKILL in the middle of their jobs.

After a restart (or with a second worker alive) the jobs must resume within a minute and
finish exactly once, every candidate must be paid for at most once, every call the provider
billed must be on record, and no row may be left running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.databases import ProcessDatabase, process_database
from tests.fake_openai import FakeOpenAI
from tests.processes import manage

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path):
    # Default settings: no shortened lease, the real django-q2 cluster configuration.
    fake = FakeOpenAI(latency_s=3.0, bills_undelivered=True).start()
    environment = {
        **os.environ,
        "KROMA_VAR_DIR": str(tmp_path / "var"),
        "OPENAI_API_KEY": "sk-test-crash-0000",
        "OPENAI_BASE_URL": fake.base_url,
        "PYTHONUNBUFFERED": "1",
    }
    for name in (
        "DJANGO_SETTINGS_MODULE",
        "KROMA_TASKS_SYNC",
        "KROMA_JOB_LEASE_S",
        "KROMA_SWEEP_S",
        "DATABASE_URL",
    ):
        environment.pop(name, None)
    with process_database(tmp_path / "var") as db:
        environment.update(db.env)
        yield environment, fake, db
    fake.stop()


def _qcluster(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _rows(db: ProcessDatabase, sql: str) -> list[tuple]:
    return db.rows(sql)


def _wait(predicate, timeout: float, what: str, log: Path) -> float:
    """Wait for `predicate`; return how long it took."""
    started = time.monotonic()
    while time.monotonic() < started + timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout} s waiting for {what}; log:\n{log.read_text()[-3000:]}")


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGINT)
        worker.wait(timeout=30)


def _start_run(environment: dict) -> None:
    manage(environment, "migrate", "-v0")
    manage(environment, "kroma_seed", "--with-default-user", "--demo")
    manage(
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


def _assert_finished_once(db: ProcessDatabase, fake: FakeOpenAI, tmp_path: Path) -> None:
    """Done; each candidate saved and paid once; the calls killed in flight are on record."""
    assert _rows(db, "SELECT status FROM pipeline_run") == [("done",)]
    assert _rows(db, "SELECT status, attempts FROM pipeline_runjob") == [("done", 2)] * 3
    assert _rows(db, "SELECT count(*) FROM pipeline_runcandidate") == [(6,)]
    # 3 calls were answered to the dead worker (billed by this provider), 3 after recovery.
    assert fake.billed_calls == 6
    confirmed = _rows(db, "SELECT count(*) FROM pipeline_costevent WHERE NOT unconfirmed")
    unconfirmed = _rows(db, "SELECT count(*) FROM pipeline_costevent WHERE unconfirmed")
    assert (confirmed, unconfirmed) == ([(3,)], [(3,)])  # every billed call is on record
    assert _rows(db, "SELECT count(*) FROM pipeline_runjob WHERE status = 'running'") == [(0,)]
    lost = _rows(db, "SELECT count(*) FROM pipeline_steprun WHERE status = 'lost' AND paid")
    assert lost == [(3,)]
    run_log = json.loads(
        next((tmp_path / "var" / "projects" / "demo" / "runs").glob("*/run.json")).read_text()
    )
    assert run_log["run"]["status"] == "done"
    assert "sk-test-crash" not in json.dumps(run_log)


@pytest.mark.slow
def test_sigkilled_workers_resume_within_a_minute_after_restart(env, tmp_path):
    environment, fake, db = env
    log = tmp_path / "worker.log"
    _start_run(environment)
    worker = _qcluster(environment, log)
    # All three jobs are in flight (concurrency 4, provider latency 3 s): kill every process.
    _wait(lambda: len(fake.calls) == 3, 60, "three provider calls in flight", log)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    _wait(lambda: fake.in_flight == 0, 30, "the provider to answer the dead client", log)
    assert _rows(db, "SELECT status, attempts FROM pipeline_runjob") == [("running", 1)] * 3

    worker = _qcluster(environment, log)
    try:
        # No manual sweep: the starting worker takes back what the dead processes held.
        resumed = _wait(
            lambda: _rows(db, "SELECT count(*) FROM pipeline_runjob WHERE attempts = 2") == [(3,)],
            60,
            "the jobs to be taken back",
            log,
        )
        _wait(lambda: _rows(db, "SELECT status FROM pipeline_run") == [("done",)], 60, "done", log)
    finally:
        _stop(worker)
    print(f"\n  resumed {resumed:.1f} s after the restart")
    _assert_finished_once(db, fake, tmp_path)


@pytest.mark.slow
def test_a_live_worker_takes_over_a_dead_workers_jobs_within_a_lease(env, tmp_path):
    environment, fake, db = env
    log = tmp_path / "worker.log"
    _start_run(environment)
    first = _qcluster(environment, log)
    _wait(lambda: len(fake.calls) == 3, 60, "three provider calls in flight", log)
    second = _qcluster(environment, log)  # alive the whole time
    try:
        _wait(lambda: log.read_bytes().count(b"running.") >= 2, 60, "a second cluster", log)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        _wait(lambda: fake.in_flight == 0, 30, "the provider to answer the dead client", log)
        taken = _wait(
            lambda: _rows(db, "SELECT count(*) FROM pipeline_runjob WHERE attempts = 2") == [(3,)],
            60,  # one lease (KROMA_JOB_LEASE_S default)
            "the live worker to take the jobs over",
            log,
        )
        _wait(lambda: _rows(db, "SELECT status FROM pipeline_run") == [("done",)], 60, "done", log)
    finally:
        _stop(second)
    print(f"\n  taken over {taken:.1f} s after the kill")
    _assert_finished_once(db, fake, tmp_path)
