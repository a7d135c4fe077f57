"""Command services for runs: confirm_plan, cancel_run, override_selection, postprocess_run."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from kroma.lib.errors import Conflict, NotAllowed, UserError
from pipeline.errors import GuardError
from pipeline.models import Run, RunCandidate, RunJob
from pipeline.services.runs import (
    cancel_run,
    confirm_plan,
    override_selection,
    postprocess_run,
    submit_run,
)
from projects.models import Asset, AuditEvent
from projects.storage import storage_for
from tests.conftest import local_run

pytestmark = pytest.mark.django_db


def _plan(project, user) -> Run:
    return submit_run(project=project, user=user, stage="style", provider="local", mode="dry")


def test_a_failed_confirm_leaves_the_plan_confirmable_and_a_plan_runs_once(scene_project, user):
    plan = _plan(scene_project, user)
    scene = Asset.objects.filter(project=scene_project, kind="style_ref").first()
    data = storage_for(scene_project).open(scene.path).read()
    storage_for(scene_project).delete(scene.path)
    with pytest.raises(GuardError, match="does not exist"):
        confirm_plan(plan=plan, user=user)
    plan.refresh_from_db()
    assert plan.confirmed_as == "" and not Run.objects.filter(mode="run").exists()

    storage_for(scene_project).save(scene.path, ContentFile(data))
    run = confirm_plan(plan=plan, user=user)
    again = confirm_plan(plan=plan, user=user)
    assert again.pk == run.pk and run.mode == "run"
    assert Run.objects.filter(mode="run").count() == 1
    plan.refresh_from_db()
    assert plan.confirmed_as == run.uid


def test_confirming_a_run_is_refused_with_a_code(scene_project, user):
    run = local_run(scene_project, user, panels=["harbor"], candidates=1)
    with pytest.raises(NotAllowed) as refused:
        confirm_plan(plan=run, user=user)
    assert refused.value.code == "not_a_plan"


def test_a_pick_on_a_running_job_is_refused_and_changes_nothing(scene_project, user):
    run = local_run(scene_project, user, panels=["harbor"], candidates=2)
    job = run.jobs.get()
    other = RunCandidate.objects.get(job=job, selected=False)
    RunJob.objects.filter(pk=job.pk).update(status="running")
    with pytest.raises(Conflict) as refused:
        override_selection(candidate=other, user=user)
    assert refused.value.code == "job_active"
    assert not RunCandidate.objects.get(pk=other.pk).selected


def test_cancel_is_audited(scene_project, user):
    run = local_run(scene_project, user, dispatch="none")
    cancel_run(run=run, user=user)
    assert Run.objects.get(pk=run.pk).status == "canceled"
    assert AuditEvent.objects.filter(action="run.canceled", target=run.uid, actor=user).exists()


def test_postprocess_run_refuses_plans_and_running_runs(scene_project, user):
    with pytest.raises(NotAllowed):
        postprocess_run(run=_plan(scene_project, user), user=user)
    run = local_run(scene_project, user, dispatch="none")
    with pytest.raises(Conflict):
        postprocess_run(run=run, user=user)


def test_every_user_error_has_a_code_message_and_field():
    error = UserError("Name is taken.", code="slug_taken", field="slug")
    assert error.as_dict() == {"code": "slug_taken", "message": "Name is taken.", "field": "slug"}
    assert GuardError("x").code == "guard"


def test_a_plan_saved_before_a_new_setting_existed_is_still_confirmable(scene_project, user):
    from pipeline.services.runs import confirm_plan, submit_run

    plan = submit_run(project=scene_project, user=user, stage="style", provider="local")
    snapshot = plan.manifest_snapshot
    del snapshot["output_guard"]["warn_only"]  # a setting this plan's Kroma did not have
    plan.manifest_snapshot = snapshot
    plan.save(update_fields=["manifest_snapshot"])
    run = confirm_plan(plan=plan, user=user)
    assert run.mode == "run" and run.manifest_snapshot["output_guard"]["warn_only"] == []
