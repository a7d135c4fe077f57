"""A new post-processing step is one class plus one line in the chain, and then it is
validated, estimated, offered in the Lab, run, and logged like the others."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from pipeline.config import ConfigError, _int
from pipeline.forms import LabForm
from pipeline.postprocess import chain
from pipeline.postprocess.base import Artifact, ChainContext, ChainStep
from pipeline.postprocess.config import load_postprocess
from pipeline.postprocess.pixels import decode, encode
from pipeline.runlog import build_run_log
from pipeline.services.lab import create_lab_job, lab_results, process_lab_job
from pipeline.services.plan import plan_run
from projects.models import Asset
from tests.conftest import FAST_RETRIES, NO_POSTPROCESS, local_run

pytestmark = pytest.mark.django_db(transaction=True)


class Invert(ChainStep):
    """A paid-looking test step: inverts the image, 'costs' a cent per image."""

    name = "invert"
    label = "Invert colours"
    defaults = {"enabled": False, "strength": 1}
    rules = {"enabled": lambda v: v, "strength": _int(1, 3)}

    def estimate(self, params: dict[str, Any]) -> Decimal:
        return Decimal("0.01") * params["strength"]

    def run(self, artifact: Artifact, params: dict[str, Any], ctx: ChainContext) -> tuple:
        pixels = decode(artifact.data, "the input")
        return encode(pixels.with_float(1 - pixels.to_float())), {"strength": params["strength"]}


@pytest.fixture
def invert(monkeypatch):
    monkeypatch.setattr(chain, "CHAIN", [*chain.CHAIN, Invert()])  # the one line


def test_a_new_step_is_validated_estimated_offered_run_and_logged(
    invert, scene_project, user, settings, tmp_path
):
    # Validated: its rules apply to project overrides, errors name the path.
    scene_project.manifest_overrides = {"postprocess": {"invert": {"strength": 9}}}
    with pytest.raises(ConfigError, match=r"postprocess: invert\.strength: must be 1\.\.3"):
        load_postprocess(scene_project)

    # Estimated: a plan counts it per job.
    scene_project.manifest_overrides = {
        **FAST_RETRIES,
        "postprocess": {**NO_POSTPROCESS, "invert": {"enabled": True, "strength": 2}},
    }
    scene_project.save()
    plan = plan_run(project=scene_project, stage="style", provider="local")
    assert plan.estimate_usd == Decimal("0.06")  # 3 scenes x $0.02

    # Run and logged: the pick goes through it; its output is the final asset and a step row.
    run = local_run(scene_project, user, panels=["harbor"], candidates=1, confirm_spend=True)
    job = run.jobs.get()
    assert job.final_asset.metadata["step"] == "invert"
    entry = build_run_log(run)["jobs"][0]
    assert [e["step"] for e in entry["postprocess"]] == ["invert"]
    assert any(s["step"] == "invert" and s["status"] == "done" for s in entry["steps"])

    # Offered in the Lab, and it runs there.
    assert ("invert", "Invert colours") in LabForm().fields["operation"].choices
    settings.SCRATCH_ROOT = tmp_path / "scratch"
    source = Asset.objects.filter(project=scene_project, kind="scene_ref").first()
    data = (settings.PROJECTS_ROOT / scene_project.slug / source.path).read_bytes()
    lab_job = create_lab_job(user=user, operation="invert", params={}, files=[("a.png", data)])
    process_lab_job(str(lab_job.pk))
    lab_job.refresh_from_db()
    assert lab_job.status == "done" and lab_results(lab_job)[0]["log"][0]["step"] == "invert"


def test_the_lab_page_offers_the_new_step(invert, artist_client):
    page = artist_client.get(reverse("pipeline:lab")).content.decode()
    assert 'value="invert"' in page and "Invert colours" in page
