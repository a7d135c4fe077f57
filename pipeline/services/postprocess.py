"""postprocess_asset: one project image through the chain; called by runs, commands and the Lab."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.config import deep_merge
from pipeline.models import Run, RunJob
from pipeline.postprocess.base import Artifact, ChainContext
from pipeline.postprocess.chain import run_chain
from pipeline.postprocess.config import load_postprocess, validate_postprocess
from pipeline.postprocess.outputs import ProjectOutputs
from pipeline.services.costs import record_cost_event
from pipeline.services.credentials import credentials
from projects.models import Asset, Project
from projects.storage import read_file


def chain_config(
    project: Project | None, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The project's chain settings with per-call overrides (e.g. {'upscale': {'scale': 4}})."""
    config = load_postprocess(project)
    if overrides:
        config = validate_postprocess(deep_merge(config, overrides), "post-processing options")
    return config


def postprocess_asset(
    *,
    project: Project,
    asset: Asset,
    config: dict[str, Any],
    steps: list[str] | None = None,
    confirm_spend: bool = False,
    record_cost: Callable[..., None] | None = None,
) -> tuple[Artifact, list[dict[str, Any]]]:
    """Run the chain on `asset`; every output is a derived asset linked to its input.

    Returns the last output and the chain's log (one entry per step: parameters, key, timing,
    output, or why it was skipped). Raises PipelineError subclasses with a user message.
    """
    ctx = ChainContext(
        outputs=ProjectOutputs(project),
        project=project,
        credentials=lambda provider: credentials(project, provider),
        confirm_spend=confirm_spend,
        record_cost=record_cost,
    )
    try:
        final = run_chain(
            data=read_file(project, asset.path), source=asset, config=config, ctx=ctx, only=steps
        )
    except Exception as exc:
        exc.chain_log = ctx.log  # type: ignore[attr-defined]
        raise
    return final, ctx.log


def cost_recorder(
    *, project: Project, run: Run | None = None, job: RunJob | None = None, prefix: str = ""
) -> Callable[..., None]:
    """A `record_cost` for the chain: each paid step becomes a CostEvent of the project."""

    def record(*, key: str, **cost: Any) -> None:
        record_cost_event(project=project, run=run, job=job, key=f"{prefix}{key}", **cost)

    return record
