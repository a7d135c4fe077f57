"""A new image provider is one class plus one registry line, and then it is everywhere."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from kroma.lib.providers import ProviderSpec, register, unregister
from pipeline.config import ConfigError, load_manifest, validate_manifest
from pipeline.forms import RunForm
from pipeline.models import CostEvent, StepRun
from pipeline.providers.base import GenerationRequest, GenerationResult
from pipeline.providers.local import LocalProvider
from pipeline.services.plan import plan_run
from projects.models import ProviderAccount
from tests.conftest import local_run

pytestmark = pytest.mark.django_db


class PaintboxProvider:
    """A paid provider that answers with the local stylisation (test double of a vendor)."""

    name = "paintbox"
    label = "Paintbox"
    paid = True

    def __init__(self, *, api_key: str | None, base_url: str | None) -> None:
        self.api_key = api_key

    def generate(self, request: GenerationRequest) -> GenerationResult:
        result = LocalProvider().generate(request)
        return GenerationResult(images=result.images, model="paintbox-v1", usage=None)

    @classmethod
    def model_for(cls, generation: dict[str, Any]) -> str:
        return "paintbox-v1"

    @classmethod
    def estimate(cls, *, candidates: int, **_: Any) -> Decimal:
        return Decimal("0.0500") * candidates

    @classmethod
    def cost(cls, *, n: int, **_: Any) -> tuple[Decimal, dict[str, Any]]:
        return Decimal("0.05") * n, {"images": n}


@pytest.fixture
def paintbox():
    register(ProviderSpec("paintbox", "Paintbox", True, "image", f"{__name__}.PaintboxProvider"))
    yield
    unregister("paintbox")


def test_a_registered_provider_is_offered_planned_run_priced_and_labelled(
    paintbox, scene_project, user, artist_client
):
    form = RunForm(project=scene_project)
    assert ("paintbox", "Paintbox (paid)") in form.fields["provider"].choices
    manifest = load_manifest(scene_project).data
    validate_manifest(
        {**manifest, "generation": {**manifest["generation"], "provider": "paintbox"}}, "t"
    )

    plan = plan_run(project=scene_project, stage="style", provider="paintbox", candidates=2)
    assert plan.model == "paintbox-v1"
    assert plan.estimate_usd == Decimal("0.3000")  # 3 scenes x 2 candidates x $0.05

    run = local_run(
        scene_project,
        user,
        provider="paintbox",
        candidates=2,
        panels=["harbor"],
        confirm_spend=True,
    )
    assert run.status == "done"
    assert CostEvent.objects.get(run=run).usd == Decimal("0.10")
    assert StepRun.objects.get(step="provider_call").paid
    page = artist_client.get(f"/projects/noir_city/runs/{run.uid}/").content.decode()
    assert "Paintbox paintbox-v1" in page

    ProviderAccount(project=scene_project, provider="paintbox").full_clean()
    out = StringIO()
    call_command(
        "kroma_run",
        "--project",
        "noir_city",
        "--stage",
        "style",
        "--provider",
        "paintbox",
        stdout=out,
    )
    assert "paintbox" in out.getvalue()


def test_an_unknown_provider_is_refused_everywhere_with_the_known_ones(scene_project):
    manifest = load_manifest(scene_project).data
    with pytest.raises(ConfigError, match=r"generation\.provider: must be one of openai, local"):
        validate_manifest(
            {**manifest, "generation": {**manifest["generation"], "provider": "x"}}, "t"
        )
    with pytest.raises(ValidationError, match="Unknown provider 'x'"):
        ProviderAccount(project=scene_project, provider="x").full_clean()
    form = RunForm({"stage": "style", "candidates": 1, "provider": "x"}, project=scene_project)
    assert "provider" in form.errors
