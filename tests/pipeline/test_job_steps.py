"""A run job's steps follow one contract too: a new one is one class plus one line."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pipeline.config import ConfigError, _int, load_manifest
from pipeline.runlog import build_run_log
from pipeline.services import steps
from pipeline.services.plan import plan_run
from tests.conftest import local_run

pytestmark = pytest.mark.django_db


class CountCheck(steps.JobStep):
    """After QA: notes how many candidates passed; owns one manifest setting."""

    name = "count_check"
    rules = {"safe_batch_limit": _int(1, 50)}

    def key_params(self, ctx: Any) -> dict[str, Any]:
        return {"limit": ctx.run.manifest_snapshot["safe_batch_limit"]}

    def estimate(self, job: steps.JobEstimate) -> Decimal:
        return Decimal("0.001") * job.candidates

    def run(self, ctx: Any) -> None:
        ctx.note("passed", sum(1 for r in ctx.results.values() if r.passed))


@pytest.fixture
def count_check(monkeypatch):
    new = [*steps.JOB_STEPS[:2], CountCheck(), *steps.JOB_STEPS[2:]]
    monkeypatch.setattr(steps, "JOB_STEPS", new)  # the one line


def test_a_new_job_step_is_validated_estimated_run_and_logged(count_check, scene_project, user):
    scene_project.manifest_overrides = {**scene_project.manifest_overrides, "safe_batch_limit": 99}
    with pytest.raises(ConfigError, match=r"safe_batch_limit: must be 1\.\.50"):
        load_manifest(scene_project)
    scene_project.manifest_overrides = {**scene_project.manifest_overrides, "safe_batch_limit": 9}
    plan = plan_run(project=scene_project, stage="style", provider="local", candidates=2)
    assert plan.estimate_usd == Decimal("0.006")  # 3 jobs x 2 candidates x $0.001
    scene_project.save()
    run = local_run(scene_project, user, panels=["harbor"], candidates=2, confirm_spend=True)
    entry = build_run_log(run)["jobs"][0]
    step = next(s for s in entry["steps"] if s["step"] == "count_check")
    assert step["status"] == "done" and len(step["param_key"]) == 64
    assert "count_check" in entry["timings_s"]


def test_a_step_that_does_not_apply_is_a_skipped_row(scene_project, user):
    run = local_run(scene_project, user, panels=["harbor"], candidates=1)  # no post-processing
    statuses = {s["step"]: s["status"] for s in build_run_log(run)["jobs"][0]["steps"]}
    assert statuses["postprocess"] == "skipped" and statuses["generate"] == "done"
