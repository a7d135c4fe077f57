"""Fixes from the review of issue 14: paid post-processing goes through the budgets, the bulk
post-process refuses paid steps up front, and a new pick clears the old pick's "used anyway"."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kroma.lib.errors import UserError
from pipeline.asset_actions import postprocess_assets
from pipeline.models import CostEvent, PostprocessJob, Run, RunCandidate, StepRun
from pipeline.services.postprocess import chain_config, run_pass
from pipeline.services.runs import override_selection, postprocess_run
from tests.conftest import FAST_RETRIES, NO_POSTPROCESS, local_run

pytestmark = pytest.mark.django_db(transaction=True)

REFINE = {
    **NO_POSTPROCESS,
    "bg_remove": {"enabled": True},
    "refine": {"enabled": True, "quality": "low", "size": "1024x1024"},
}


@pytest.fixture
def picked_run(scene_project, user) -> Run:
    """A finished local (free) run of one panel, with no post-processing."""
    scene_project.manifest_overrides = {**FAST_RETRIES}
    scene_project.save()
    run = local_run(scene_project, user, panels=["harbor"], candidates=2)
    assert run.status == "done"
    return run


def _spent(project, run, usd: str) -> None:
    CostEvent.objects.create(
        project=project,
        run=run,
        provider="openai",
        model="gpt-image-1",
        operation="images.edit",
        usd=Decimal(usd),
        idempotency_key=f"spent-{usd}-{run.pk}",
    )


def _refine_pass(run: Run, user) -> PostprocessJob:
    [item] = postprocess_run(
        run=run,
        user=user,
        config=chain_config(run.project, REFINE),
        only=["bg_remove", "refine"],
        confirm_spend=True,
        dispatch="inline",
    )
    item.refresh_from_db()
    return item


def test_a_paid_refine_past_the_monthly_budget_is_refused(picked_run, user, fake_openai):
    project = picked_run.project
    project.monthly_budget_usd = Decimal("1.00")
    project.save()
    _spent(project, picked_run, "1.00")
    item = _refine_pass(picked_run, user)
    assert (item.status, item.error_code) == ("failed", "budget_exhausted")
    assert "month's budget of $1.00 is reached" in item.error
    assert fake_openai.calls == []
    assert not StepRun.objects.filter(step="refine_call").exists()  # no intent row either
    assert not CostEvent.objects.filter(operation="refine").exists()


def test_a_paid_refine_past_the_run_cap_is_refused(picked_run, user, fake_openai):
    project = picked_run.project
    project.run_cap_usd = Decimal("0.50")
    project.save()
    _spent(project, picked_run, "0.50")
    item = _refine_pass(picked_run, user)
    assert (item.status, item.error_code) == ("failed", "budget_exhausted")
    assert "run's cap of $0.50 is reached" in item.error
    assert fake_openai.calls == []


def test_a_paid_refine_within_the_budgets_runs_and_is_charged(picked_run, user, fake_openai):
    project = picked_run.project
    project.monthly_budget_usd, project.run_cap_usd = Decimal("50"), Decimal("10")
    project.save()
    item = _refine_pass(picked_run, user)
    assert item.status == "done"
    assert len(fake_openai.calls) == 1
    assert CostEvent.objects.filter(run=picked_run, operation="refine").count() == 1


def test_a_new_pick_with_refine_past_the_budget_is_refused(picked_run, user, fake_openai):
    """override_selection queues a pass with confirm_spend=True: the budgets still hold."""
    run, project = picked_run, picked_run.project
    Run.objects.filter(pk=run.pk).update(
        plan={**run.plan, "postprocess": chain_config(project, REFINE)}
    )
    project.monthly_budget_usd = Decimal("1.00")
    project.save()
    _spent(project, run, "1.00")
    other = RunCandidate.objects.filter(job__run=run, selected=False, passed=True).first()
    override_selection(candidate=other, user=user)
    item = PostprocessJob.objects.get(job=other.job)
    run_pass(item.pk)
    item.refresh_from_db()
    assert (item.status, item.error_code) == ("failed", "budget_exhausted")
    assert fake_openai.calls == []


# --- bulk post-process from the asset browser ---------------------------------------------------


def test_bulk_post_process_refuses_a_paid_step_up_front(picked_run, user, fake_openai):
    pick = RunCandidate.objects.get(job__run=picked_run, selected=True)
    with pytest.raises(UserError) as refused:
        postprocess_assets(
            project=picked_run.project,
            user=user,
            asset_ids=[pick.asset_id],
            steps=["bg_remove", "refine"],
        )
    assert refused.value.field == "steps"
    assert refused.value.message.startswith("Refine edges (OpenAI): a paid step")
    assert not PostprocessJob.objects.exists()


def test_bulk_post_process_counts_other_images_not_jobs(picked_run, user):
    """One image that is the pick of two jobs (runs again) and one that is no pick: two passes,
    and one other image left alone (counting jobs said none)."""
    pick = RunCandidate.objects.get(job__run=picked_run, selected=True)
    other = RunCandidate.objects.get(job__run=picked_run, selected=False)
    again = local_run(picked_run.project, user, panels=["harbor"], candidates=1)
    RunCandidate.objects.filter(job__run=again, selected=True).update(asset=pick.asset)
    message = postprocess_assets(
        project=picked_run.project,
        user=user,
        asset_ids=[pick.asset_id, other.asset_id],
        steps=["color"],
    )
    assert message == (
        "Queued 2 post-processing pass(es) (color). "
        "1 other image(s) are not a run's pick and were left alone."
    )


# --- used anyway --------------------------------------------------------------------------------


def test_a_new_pick_clears_used_anyway_from_the_previous_pick(picked_run, user):
    first, second = RunCandidate.objects.filter(job__run=picked_run).order_by("index")
    override_selection(candidate=second, user=user, reason="The fog is the point.")
    assert second.asset.__class__.objects.get(pk=second.asset_id).metadata["used_anyway"]
    override_selection(candidate=first, user=user)
    second.asset.refresh_from_db()
    assert "used_anyway" not in second.asset.metadata
    first.asset.refresh_from_db()
    assert "used_anyway" not in first.asset.metadata


# --- ids from input -----------------------------------------------------------------------------


def test_an_export_of_a_huge_page_id_is_a_400(artist_client, scene_project):
    from django.urls import reverse

    from projects.models import ProjectExport

    url = reverse("pipeline:export_new", args=[scene_project.slug])
    huge = "99999999999999999999"
    response = artist_client.post(url, {"kind": "pdf", "pages": [huge]}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "The pages must be given by their ids" in response.content.decode()
    assert not ProjectExport.objects.exists()


# --- structure ----------------------------------------------------------------------------------


def test_projects_imports_nothing_of_pipeline_or_copilot():
    """Imports point one way: copilot -> pipeline -> projects (ARCHITECTURE.md)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "projects"
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            found += [
                f"{path.relative_to(root)}: {name}"
                for name in names
                if name.split(".")[0] in ("pipeline", "copilot")
            ]
    assert found == []


def test_an_exports_step_rows_go_with_it(scene_project, user):
    from pipeline.engine import start_step
    from pipeline.models.work import EXPORT_JOB
    from projects.models import ProjectExport

    export = ProjectExport.objects.create(project=scene_project, kind="zip", requested_by=user)
    start_step(EXPORT_JOB, export, "build", project_id=scene_project.pk)
    assert StepRun.objects.filter(item_type="export", item_id=str(export.pk)).count() == 1
    assert ProjectExport.step_item_type == EXPORT_JOB == "export"
    export.delete()
    assert not StepRun.objects.filter(item_type="export").exists()
