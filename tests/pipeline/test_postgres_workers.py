"""Four real worker processes on PostgreSQL, all delivered the same 20-job run.

Every job is done once, every candidate paid once, and no step row is lost, while the jobs are
contended for by 4 processes x 4 threads (the run is delivered four times, as django-q2's
at-least-once delivery may).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.databases import new_postgres_database, postgres_server
from tests.fake_openai import FakeOpenAI
from tests.processes import manage

ROOT = Path(__file__).resolve().parents[2]

# Seventeen more scenes for the demo's three, and the free chain switched off.
SETUP = """
import io
from PIL import Image
from projects.models import Asset, Project
from projects.services.assets import store_image
from projects.services.story import panels_from_uploads
demo = Project.objects.get(slug="demo")
for i in range(17):
    image = Image.linear_gradient("L").rotate(7 * i).resize((64, 48)).convert("RGB")
    out = io.BytesIO()
    image.save(out, "PNG")
    name = f"s{i:02d}.png"
    asset = store_image(project=demo, data=out.getvalue(), kind=Asset.Kind.SCENE_REF, name=name)
    panels_from_uploads(project=demo, actor=None, assets=[asset])
off = {"enabled": False}
demo.manifest_overrides = {
    "generation": {"retry_base_s": 0.05, "timeout_s": 20},
    "postprocess": {step: off for step in ("bg_remove", "refine", "upscale", "color")},
}
demo.save()
"""

DELIVER_AGAIN = """
from django_q.tasks import async_task
from pipeline.models import Run
run = Run.objects.get(mode="run")
for _ in range(3):
    async_task("pipeline.tasks.execute_run_task", run.pk)
"""


@pytest.mark.slow
def test_four_workers_on_postgresql_do_each_job_once_and_pay_each_candidate_once(tmp_path):
    server = postgres_server()
    assert server, "needs PostgreSQL: run ./kroma.sh test, or set KROMA_TEST_POSTGRES_URL"
    fake = FakeOpenAI(latency_s=0.5).start()
    log = tmp_path / "workers.log"
    with new_postgres_database(server) as db:
        env = {
            **os.environ,
            **db.env,
            "KROMA_VAR_DIR": str(tmp_path / "var"),
            "KROMA_WORKERS": "4",
            "OPENAI_API_KEY": "sk-test-pg-0000",
            "OPENAI_BASE_URL": fake.base_url,
            "PYTHONUNBUFFERED": "1",
        }
        for name in ("DJANGO_SETTINGS_MODULE", "KROMA_TASKS_SYNC", "KROMA_JOB_LEASE_S"):
            env.pop(name, None)
        manage(env, "migrate", "-v0")
        manage(env, "kroma_seed", "--with-default-user", "--demo")
        manage(env, "shell", "-c", SETUP)
        manage(env, "kroma_run", "--project", "demo", "--stage", "style", "--confirm-spend")
        manage(env, "shell", "-c", DELIVER_AGAIN)
        cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 150
            while db.rows("SELECT status FROM pipeline_run WHERE mode = 'run'") != [("done",)]:
                if time.monotonic() > deadline:
                    pytest.fail(f"the run did not finish; log:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        finally:
            os.killpg(cluster.pid, signal.SIGINT)
            cluster.wait(timeout=30)
        fake.stop()

        jobs = db.rows("SELECT status, attempts FROM pipeline_runjob ORDER BY index")
        assert jobs == [("done", 1)] * 20  # each job claimed and done exactly once
        assert db.rows("SELECT count(*) FROM pipeline_runcandidate") == [(60,)]
        assert fake.paid_images == 60  # 20 jobs x 3 candidates, each paid once
        assert len(fake.calls) == 20
        assert db.rows("SELECT count(*) FROM pipeline_costevent") == [(20,)]
        steps = db.rows(
            "SELECT step, status, count(*) FROM pipeline_steprun "
            "WHERE item_type = 'run_job' GROUP BY step, status ORDER BY step"
        )
        assert steps == [
            ("generate", "done", 20),
            ("postprocess", "skipped", 20),  # the chain is off for this project
            ("provider_call", "done", 20),
            ("qa", "done", 20),
            ("select", "done", 20),
        ]
        assert db.rows("SELECT count(*) FROM pipeline_runjob WHERE locked_by <> ''") == [(0,)]
        processes = db.rows(
            "SELECT count(DISTINCT split_part(worker, ':', 2)) FROM pipeline_steprun "
            "WHERE step = 'generate'"
        )
        assert processes[0][0] > 1  # the jobs were really spread over worker processes
        assert fake.max_in_flight > 4
