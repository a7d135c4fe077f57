"""The work engine: claim, steps and their rows, failed apart from errored, leases, the sweeper."""

from __future__ import annotations

import socket
import subprocess
import time
from decimal import Decimal

import pytest
from django.utils import timezone

from kroma.lib.errors import UserError
from pipeline import engine
from pipeline.models import CostEvent, LabJob, Run, RunJob, StepRun
from pipeline.runlog import build_run_log
from pipeline.services.runs import submit_run
from pipeline.work import sweep_all
from tests.conftest import local_run

pytestmark = pytest.mark.django_db


def _item(user) -> LabJob:
    return LabJob.objects.create(user=user, operation="color", params={"profile": "neutral"})


def _work(*steps) -> engine.WorkType:
    return engine.WorkType(
        name="test_item", model=LabJob, steps=lambda: [engine.FnStep(n, f) for n, f in steps]
    )


def test_steps_run_in_order_and_each_writes_a_row(user):
    seen = []
    work = _work(("first", lambda item: seen.append("first")), ("second", seen.append))
    item = _item(user)
    assert engine.work_through(work, LabJob.objects.filter(pk=item.pk)) == 1
    item.refresh_from_db()
    assert item.status == "done" and item.attempts == 1 and item.locked_by == ""
    assert seen[0] == "first" and seen[1].pk == item.pk
    rows = list(engine.step_rows("test_item", item.pk))
    assert [(r.step, r.status, r.attempt) for r in rows] == [
        ("first", "done", 1),
        ("second", "done", 1),
    ]
    assert all(r.duration_s is not None and r.finished_at for r in rows)


def test_a_user_error_fails_the_item_with_its_code_and_a_bug_errors_it(user):
    def refuse(item):
        raise UserError("the scene is too dark to light", code="too_dark")

    def crash(item):
        return {}["missing"]

    failed, errored = _item(user), _item(user)
    engine.work_through(_work(("light", refuse)), LabJob.objects.filter(pk=failed.pk))
    engine.work_through(_work(("light", crash)), LabJob.objects.filter(pk=errored.pk))
    failed.refresh_from_db()
    errored.refresh_from_db()
    assert (failed.status, failed.error_code) == ("failed", "too_dark")
    assert failed.error == "light: the scene is too dark to light" and failed.traceback == ""
    assert (errored.status, errored.error_code) == ("errored", "internal")
    assert "KeyError" in errored.error and "Traceback" in errored.traceback
    rows = {r.item_id: r for r in StepRun.objects.filter(item_type="test_item")}
    assert rows[str(failed.pk)].status == "failed"
    assert rows[str(failed.pk)].error_code == "too_dark"
    assert rows[str(errored.pk)].status == "errored"


def test_an_item_is_claimed_once_and_the_attempt_counted_at_claim(user):
    item = _item(user)
    work = _work()
    first = engine.claim(work, "host:1:1", LabJob.objects.filter(pk=item.pk))
    assert first is not None and first.attempts == 1 and first.status == "running"
    assert engine.claim(work, "host:2:2", LabJob.objects.filter(pk=item.pk)) is None


def test_a_worker_that_lost_its_lease_stops_without_writing(user):
    item = _item(user)

    def taken_over(job):
        # Another worker took the item over (our lease had expired).
        LabJob.objects.filter(pk=job.pk).update(locked_by="other:9:9")

    work = _work(("one", taken_over), ("two", lambda job: pytest.fail("must not run")))
    engine.work_through(work, LabJob.objects.filter(pk=item.pk))
    item.refresh_from_db()
    assert item.status == "running" and item.locked_by == "other:9:9"


@pytest.mark.django_db(transaction=True)  # the heartbeat writes from its own thread
def test_the_heartbeat_keeps_the_lease_during_a_long_step(user, settings):
    settings.JOB_LEASE_SECONDS = 1
    item = _item(user)
    leases = []

    def long_step(job):
        for _ in range(3):
            time.sleep(0.6)
            leases.append(LabJob.objects.get(pk=job.pk).lease_expires_at)

    engine.work_through(_work(("long", long_step)), LabJob.objects.filter(pk=item.pk))
    # Without renewals the lease would have expired 1 s after the claim (1.8 s of work).
    assert leases[-1] > leases[0]
    assert LabJob.objects.get(pk=item.pk).status == "done"


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_the_sweeper_takes_back_at_once_what_a_dead_local_process_held(user):
    host = socket.gethostname()
    future = timezone.now() + timezone.timedelta(seconds=600)
    dead = _item(user)
    alive = _item(user)
    LabJob.objects.filter(pk=dead.pk).update(
        status="running", attempts=1, locked_by=f"{host}:{_dead_pid()}:1", lease_expires_at=future
    )
    LabJob.objects.filter(pk=alive.pk).update(
        status="running", attempts=1, locked_by=engine.worker_name(), lease_expires_at=future
    )
    counts = sweep_all()["by_type"]["lab_job"]
    assert counts["requeued"] == 1
    assert LabJob.objects.get(pk=dead.pk).status == "queued"
    assert LabJob.objects.get(pk=alive.pk).status == "running"  # its lease is being kept


def test_a_paid_call_in_flight_when_the_worker_died_is_recorded_as_unconfirmed(
    scene_project, user, artist_client, fake_openai
):
    """The provider may bill a call whose answer never reached us: it is counted, flagged."""
    run = submit_run(
        project=scene_project,
        user=user,
        stage="style",
        provider="openai",
        mode="run",
        confirm_spend=True,
        panels=["harbor"],
        dispatch="none",
    )
    job = run.jobs.get()
    expired = timezone.now() - timezone.timedelta(seconds=5)
    RunJob.objects.filter(pk=job.pk).update(
        status="running", attempts=1, locked_by="gone:1:1", lease_expires_at=expired
    )
    job.refresh_from_db()
    call = engine.start_step(
        "run_job",
        job,
        "provider_call",
        project_id=scene_project.pk,
        paid=True,
        notes={"provider": "openai", "request": {"n": 3}, "estimate_usd": "0.1234"},
    )
    sweep_all()
    event = CostEvent.objects.get(run=run)
    assert event.unconfirmed and event.usd == Decimal("0.1234")
    call.refresh_from_db()
    assert call.status == "lost" and call.cost_event == event
    Run.objects.filter(pk=run.pk).update(status="canceled")
    RunJob.objects.filter(pk=job.pk).update(status="canceled")
    from pipeline.services.execute import finalize_run

    run = finalize_run(run.pk)
    assert run.actual_cost_usd == Decimal("0.1234")  # counted in the totals
    logged = build_run_log(run)
    assert logged["costs"]["events"][0]["unconfirmed"] is True
    assert logged["jobs"][0]["provider_calls"][0]["unconfirmed"] is True
    page = artist_client.get(f"/projects/noir_city/runs/{run.uid}/").content.decode()
    assert "incl. $0.12 unconfirmed" in page


def test_run_job_steps_are_rows_and_the_run_log_reads_them(scene_project, user):
    run = local_run(scene_project, user, candidates=2, panels=["harbor"])
    job = run.jobs.get()
    steps = [r.step for r in engine.step_rows("run_job", job.pk)]
    assert steps == ["generate", "provider_call", "qa", "select", "postprocess"]
    entry = build_run_log(run)["jobs"][0]
    assert set(entry["timings_s"]) == {"generate", "qa", "select", "postprocess"}
    assert entry["ranking"] and entry["provider_calls"][0]["provider"] == "local"
    assert [s["step"] for s in entry["steps"]] == steps
    assert RunJob._meta.get_field("details").help_text.startswith("Legacy")
    assert RunJob.objects.get(pk=job.pk).details == {}  # nothing writes the old JSON any more


def test_a_running_item_without_a_lease_is_taken_back(user):
    """Left running by a version before leases (or a claim that crashed half-way)."""
    item = _item(user)
    LabJob.objects.filter(pk=item.pk).update(status="running", attempts=1, lease_expires_at=None)
    assert sweep_all()["by_type"]["lab_job"]["requeued"] == 1


def test_an_expired_item_is_not_claimed_directly_but_swept_with_its_paid_call(user):
    """Only the sweeper takes over a dead worker's item, so its lost calls are accounted."""
    item = _item(user)
    expired = timezone.now() - timezone.timedelta(seconds=5)
    LabJob.objects.filter(pk=item.pk).update(
        status="running", attempts=1, locked_by="gone:1:1", lease_expires_at=expired
    )
    assert engine.claim(_work(), "host:2:2", LabJob.objects.filter(pk=item.pk)) is None
    item.refresh_from_db()
    row = engine.start_step(
        "lab_job", item, "provider_call", project_id=None, paid=True, notes={"estimate_usd": "0.04"}
    )
    sweep_all()
    row.refresh_from_db()
    assert row.status == "lost" and row.cost_event.unconfirmed
    assert row.cost_event.user == user and row.cost_event.usd == Decimal("0.04")


@pytest.mark.django_db(transaction=True)
def test_a_paid_chain_step_writes_its_intent_row_first(scene_project, user, fake_openai):
    from tests.conftest import FAST_RETRIES, NO_POSTPROCESS

    scene_project.manifest_overrides = {
        **FAST_RETRIES,
        "postprocess": {
            **NO_POSTPROCESS,
            "bg_remove": {"enabled": True},
            "refine": {"enabled": True, "quality": "low", "size": "1024x1024"},
        },
    }
    scene_project.save()
    run = local_run(scene_project, user, panels=["harbor"], candidates=1, confirm_spend=True)
    job = run.jobs.get()
    intent = engine.step_rows("run_job", job.pk).get(step="refine_call")
    assert intent.paid and intent.status == "done" and Decimal(intent.notes["estimate_usd"]) > 0
    assert CostEvent.objects.filter(run=run, operation="refine").exists()


# --- queued items no task delivers (pipeline.delivery) ------------------------------------------


def _queued_export(project, user, minutes_ago: int):
    """A queued export as migration 0008 left an old `pending` one: no task delivers it."""
    from projects.models import ProjectExport

    export = ProjectExport.objects.create(
        project=project, kind="zip", requested_by=user, options={}
    )
    ProjectExport.objects.filter(pk=export.pk).update(
        created_at=timezone.now() - timezone.timedelta(minutes=minutes_ago)
    )
    return export


def _export_tasks() -> list[tuple[str, list]]:
    from django_q.models import OrmQ

    return [(row.task["func"], list(row.task["args"])) for row in OrmQ.objects.all()]


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_delivers_again_a_queued_export_no_task_holds(scene_project, user):
    from pipeline.tasks import export_task

    stale = _queued_export(scene_project, user, minutes_ago=10)
    fresh = _queued_export(scene_project, user, minutes_ago=0)  # its task is on its way
    assert _export_tasks() == []
    result = sweep_all()
    assert result["redelivered"] == 1
    assert _export_tasks() == [("pipeline.tasks.export_task", [stale.pk])]
    assert sweep_all()["redelivered"] == 0  # its task is waiting now: not sent twice
    assert _export_tasks() == [("pipeline.tasks.export_task", [stale.pk])]
    assert export_task(stale.pk) == "done"  # what the worker does with the delivered task
    assert fresh.__class__.objects.get(pk=fresh.pk).status == "queued"


@pytest.mark.django_db(transaction=True)
def test_an_item_out_of_attempts_or_final_is_not_delivered_again(scene_project, user):
    from projects.models import ProjectExport

    spent = _queued_export(scene_project, user, minutes_ago=10)
    ProjectExport.objects.filter(pk=spent.pk).update(attempts=3)
    done = _queued_export(scene_project, user, minutes_ago=10)
    ProjectExport.objects.filter(pk=done.pk).update(status="done")
    assert sweep_all()["redelivered"] == 0
    assert _export_tasks() == []


@pytest.mark.django_db(transaction=True)
def test_kroma_sweep_says_what_it_delivered_again(scene_project, user):
    from io import StringIO

    from django.core.management import call_command

    _queued_export(scene_project, user, minutes_ago=10)
    out = StringIO()
    call_command("kroma_sweep", stdout=out)
    assert "1 delivered again" in out.getvalue()
