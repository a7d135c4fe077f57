"""Confirmed runs end to end: the real openai client, the fake server, real threads and files."""

from __future__ import annotations

import io
import json

import pytest
from django.conf import settings
from PIL import Image

from pipeline.errors import GuardError
from pipeline.models import CostEvent, QualityReport, Run, RunCandidate, RunJob
from pipeline.runlog import build_run_log, ingest_run_log
from pipeline.services.execute import execute_run
from pipeline.services.plan import plan_run
from pipeline.services.runs import cancel_run, submit_run
from projects.models import Asset, ProjectSecret
from projects.services.assets import read_asset_bytes, store_image
from projects.services.story import panels_from_uploads
from tests.conftest import FAST_RETRIES, local_run

pytestmark = pytest.mark.django_db(transaction=True)


def _run(project, user, **kwargs) -> Run:
    options = {
        "stage": "style",
        "candidates": 3,
        "mode": "run",
        "confirm_spend": True,
        "dispatch": "inline",
        **kwargs,
    }
    return submit_run(project=project, user=user, **options)


def _log(run: Run) -> dict:
    path = settings.PROJECTS_ROOT / run.project.slug / run.log_path
    return json.loads(path.read_text())


def _add_scenes(project, count: int) -> None:
    for i in range(count):
        image = Image.radial_gradient("L").rotate(10 * i).resize((80, 80)).convert("RGB")
        out = io.BytesIO()
        image.save(out, "PNG")
        asset = store_image(
            project=project, data=out.getvalue(), kind="scene_ref", name=f"extra{i}.png"
        )
        panels_from_uploads(project=project, actor=None, assets=[asset])


def test_confirmed_run_creates_candidates_reports_costs_and_a_log(scene_project, fake_openai, user):
    _add_scenes(scene_project, 3)
    scene_project.manifest_overrides = {
        **FAST_RETRIES,
        "generation": {"concurrency": 4, "retry_base_s": 0.01},
    }
    scene_project.save()
    fake_openai.latency_s = 0.3
    run = _run(scene_project, user)
    assert run.status == "done"
    assert list(run.jobs.values_list("status", flat=True)) == ["done"] * 6
    assert RunCandidate.objects.filter(job__run=run).count() == 18
    assert QualityReport.objects.filter(run=run).count() == 18
    assert RunCandidate.objects.filter(job__run=run, selected=True).count() == 6
    assert CostEvent.objects.filter(run=run).count() == 6  # one billed call per scene
    assert fake_openai.paid_images == 18
    assert fake_openai.max_in_flight == 4  # bounded concurrency: four jobs in flight at once
    assert run.actual_cost_usd == sum(e.usd for e in CostEvent.objects.filter(run=run))
    log = _log(run)
    assert log["run"]["mode"] == "run" and log["manifest_sha256"] == run.manifest_hash
    job = log["jobs"][0]
    assert job["provider_calls"][0]["usage"]["output_tokens"] == 3000
    assert job["provider_calls"][0]["request"]["n"] == 3
    assert [c["rank"] for c in job["candidates"]] and job["ranking"]
    assert set(job["timings_s"]) == {"generate", "qa", "select", "postprocess"}


def test_the_api_key_never_reaches_the_run_log(scene_project, fake_openai, user, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    secret = ProjectSecret(project=scene_project, provider="openai", name="api_key")
    secret.set_value("sk-project-secret-987654321")
    secret.save()
    run = _run(scene_project, user, candidates=1)
    assert run.status == "done"
    assert fake_openai.calls[0].authorization == "Bearer sk-project-secret-987654321"
    raw = (settings.PROJECTS_ROOT / scene_project.slug / run.log_path).read_text()
    assert "987654321" not in raw
    assert "987654321" not in json.dumps(list(RunJob.objects.values("details")))


def _rows(run_uid: str) -> dict:
    run = Run.objects.get(uid=run_uid)
    return {
        "run": Run.objects.filter(pk=run.pk)
        .values(
            "uid",
            "stage",
            "mode",
            "status",
            "estimated_cost_usd",
            "actual_cost_usd",
            "manifest_hash",
            "candidates_per_job",
        )
        .get(),
        "jobs": list(run.jobs.order_by("index").values("index", "scene_key", "status", "prompt")),
        "candidates": list(
            RunCandidate.objects.filter(job__run=run)
            .order_by("job__index", "index")
            .values(
                "job__index",
                "index",
                "rank",
                "passed",
                "selected",
                "asset_id",
                "output_path",
                "qa_summary",
            )
        ),
        "reports": list(
            QualityReport.objects.filter(run=run)
            .order_by("candidate__job__index", "candidate__index")
            .values("passed", "hard_failures", "metrics")
        ),
        "costs": list(
            CostEvent.objects.filter(run=run)
            .order_by("idempotency_key")
            .values("idempotency_key", "usd", "units", "job__index")
        ),
    }


def test_run_log_reingests_to_the_same_rows_and_twice_adds_nothing(
    scene_project, fake_openai, user
):
    run = _run(scene_project, user)
    before = _rows(run.uid)
    log = _log(run)
    Run.objects.filter(pk=run.pk).delete()
    assert RunCandidate.objects.count() == 0
    restored, created = ingest_run_log(log)
    assert created
    assert _rows(run.uid) == before
    counts = (
        Run.objects.count(),
        RunJob.objects.count(),
        RunCandidate.objects.count(),
        QualityReport.objects.count(),
        CostEvent.objects.count(),
    )
    _, created_again = ingest_run_log(log)
    assert not created_again
    assert counts == (
        Run.objects.count(),
        RunJob.objects.count(),
        RunCandidate.objects.count(),
        QualityReport.objects.count(),
        CostEvent.objects.count(),
    )
    assert build_run_log(restored)["jobs"] == log["jobs"]


def test_candidates_failing_qa_are_archived_not_selected(scene_project, fake_openai, user):
    scene_project.manifest_overrides = {
        **FAST_RETRIES,
        "output_guard": {"enforce_grayscale": True},
        "generation": {"retry_base_s": 0.01},
    }
    scene_project.save()
    fake_openai.colour_specks_for = {0}
    run = _run(scene_project, user, panels=["harbor"])
    tainted = RunCandidate.objects.get(job__run=run, index=0)
    assert (tainted.passed, tainted.archived, tainted.selected) == (False, True, False)
    assert tainted.output_path == f"runs/{run.uid}/archive/jobs/000/c0.png"
    assert (settings.PROJECTS_ROOT / scene_project.slug / tainted.output_path).is_file()
    assert Asset.objects.get(pk=tainted.asset_id).path == tainted.output_path
    assert RunCandidate.objects.get(job__run=run, selected=True).index == 1
    assert tainted.rank == 3


def test_all_candidates_failing_qa_fails_the_job_with_the_reason(scene_project, fake_openai, user):
    scene_project.manifest_overrides = {**FAST_RETRIES, "output_guard": {"enforce_grayscale": True}}
    scene_project.save()
    fake_openai.colour_specks_for = {0, 1}
    run = _run(scene_project, user, panels=["harbor"], candidates=2)
    job = run.jobs.get()
    assert run.status == "failed"
    assert job.error.startswith("select: all 2 candidates failed QA")
    assert not RunCandidate.objects.filter(job=job, selected=True).exists()


def test_content_policy_refusal_fails_the_job_and_the_rest_continue(
    scene_project, fake_openai, user
):
    fake_openai.fail_next("policy")
    run = _run(scene_project, user, candidates=1)
    statuses = list(run.jobs.order_by("index").values_list("status", flat=True))
    assert run.status == "partial"
    assert statuses.count("failed") == 1 and statuses.count("done") == 2
    failed = run.jobs.get(status="failed")
    assert "content policy" in failed.error and failed.error.startswith("generate: ")
    assert len(fake_openai.calls) == 3  # the refusal was not retried


def test_a_resumed_job_does_not_pay_again_for_candidates_on_disk(scene_project, fake_openai, user):
    run = _run(scene_project, user, panels=["harbor"])
    calls, costs = len(fake_openai.calls), CostEvent.objects.count()
    # As if the worker died after generating: the job is back in the queue, QA rows gone.
    RunCandidate.objects.filter(job__run=run).delete()
    RunJob.objects.filter(run=run).update(status="queued", locked_by="")
    Run.objects.filter(pk=run.pk).update(status="queued")
    execute_run(run.pk)
    assert len(fake_openai.calls) == calls
    assert CostEvent.objects.count() == costs
    assert RunCandidate.objects.filter(job__run=run).count() == 3
    assert Run.objects.get(pk=run.pk).status == "done"


def test_canceled_run_starts_no_queued_job(scene_project, fake_openai, user):
    run = submit_run(
        project=scene_project,
        user=user,
        stage="style",
        mode="run",
        confirm_spend=True,
        dispatch="none",
    )
    cancel_run(run=run, user=user)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "canceled"
    assert set(run.jobs.values_list("status", flat=True)) == {"canceled"}
    assert fake_openai.calls == []


def test_next_stage_takes_the_previous_stage_selection_as_input(scene_project, fake_openai, user):
    style_run = _run(scene_project, user, panels=["harbor"], candidates=2)
    selected = RunCandidate.objects.get(job__run=style_run, selected=True)
    plan = plan_run(project=scene_project, stage="time", panels=["harbor"])
    assert plan.jobs[0].input.path == selected.asset.path
    assert plan.jobs[0].input.source == f"style run {style_run.uid}"


def test_local_provider_runs_a_whole_stage_offline(scene_project, user):
    run = _run(scene_project, user, provider="local", confirm_spend=False, candidates=2)
    assert run.status == "done" and run.actual_cost_usd == 0
    assert RunCandidate.objects.filter(job__run=run, selected=True).count() == 3
    assert CostEvent.objects.count() == 0
    first, second = RunCandidate.objects.filter(job__run=run, job__index=0).order_by("index")
    assert first.asset.sha256 != second.asset.sha256  # candidates really differ


def test_fewer_images_than_asked_are_kept_and_only_the_rest_asked_again(
    scene_project, fake_openai, user
):
    fake_openai.withheld = 1
    run = _run(scene_project, user, panels=["harbor"], candidates=2)
    job = run.jobs.get()
    assert job.status == "failed"
    assert "returned 1 of 2 images" in job.error
    assert CostEvent.objects.count() == 1
    fake_openai.withheld = 0
    RunJob.objects.filter(pk=job.pk).update(status="queued", error="")
    Run.objects.filter(pk=run.pk).update(status="queued", finished_at=None)
    execute_run(run.pk)
    assert fake_openai.calls[-1].fields["n"] == "1"  # only the missing candidate
    assert Run.objects.get(pk=run.pk).status == "done"
    assert fake_openai.paid_images == 2


def test_identical_outputs_of_two_runs_stay_separate_assets(scene_project, user):
    first = _run(
        scene_project, user, provider="local", confirm_spend=False, candidates=1, panels=["harbor"]
    )
    second = _run(
        scene_project, user, provider="local", confirm_spend=False, candidates=1, panels=["harbor"]
    )
    a = RunCandidate.objects.get(job__run=first).asset
    b = RunCandidate.objects.get(job__run=second).asset
    # The same pixels; each file carries its own run's recipe, and each is its own asset.
    pixels = [Image.open(io.BytesIO(read_asset_bytes(x))).tobytes() for x in (a, b)]
    assert pixels[0] == pixels[1] and a.pk != b.pk
    assert a.metadata["recipe"]["run"] == first.uid and b.metadata["recipe"]["run"] == second.uid
    assert a.path.startswith(f"runs/{first.uid}/") and b.path.startswith(f"runs/{second.uid}/")


def test_sweeper_cancels_expired_jobs_of_a_canceled_run(scene_project, user):
    from django.utils import timezone

    from pipeline.work import sweep_all

    run = local_run(scene_project, user, dispatch="none")
    RunJob.objects.filter(run=run, index=0).update(
        status="running",
        locked_by="dead",
        attempts=1,
        lease_expires_at=timezone.now() - timezone.timedelta(seconds=5),
    )
    cancel_run(run=run, user=user)
    assert Run.objects.get(pk=run.pk).finished_at is None  # a job was still leased
    sweep_all()
    run.refresh_from_db()
    assert set(run.jobs.values_list("status", flat=True)) == {"canceled"}
    assert run.status == "canceled" and run.finished_at is not None


def test_server_key_is_never_sent_to_a_project_configured_endpoint(
    scene_project, fake_openai, user
):
    from projects.models import ProviderAccount

    ProviderAccount.objects.create(
        project=scene_project, provider="openai", base_url=fake_openai.base_url
    )
    # Refused when it is planned for real (it used to fail later, in the worker).
    with pytest.raises(GuardError, match="has no secret openai/api_key") as refused:
        _run(scene_project, user, panels=["harbor"], candidates=1)
    assert refused.value.field == "provider"
    assert fake_openai.calls == [] and not Run.objects.filter(mode="run").exists()
