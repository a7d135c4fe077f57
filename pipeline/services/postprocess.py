"""Post-processing in a project: one image through the chain, and a run job's pick.

`postprocess_pick` is the one implementation behind a run job's postprocess step, a new pick,
`kroma_postprocess --run` and the run page: it writes a step row per chain step and sets the
job's final asset.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Exists

from pipeline.config import deep_merge
from pipeline.models import (
    POSTPROCESS_JOB,
    RUN_JOB,
    PostprocessJob,
    Run,
    RunCandidate,
    RunJob,
    StepRun,
)
from pipeline.postprocess.base import Artifact, ChainContext
from pipeline.postprocess.chain import run_chain
from pipeline.postprocess.config import load_postprocess, validate_postprocess
from pipeline.postprocess.outputs import ProjectOutputs
from pipeline.services.budgets import reserve_paid_call
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
    begin_paid: Callable[..., Callable[[BaseException | None], None]] | None = None,
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
        begin_paid=begin_paid,
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


def postprocess_pick(
    *,
    job: RunJob,
    config: dict[str, Any],
    only: list[str] | None = None,
    confirm_spend: bool = False,
    item: tuple[str, Any] | None = None,
) -> Asset | None:
    """Run the chain on the job's selected candidate; its last output is the job's final asset.

    Each chain step becomes a step row of the job, grouped under one pass label; the newest pass
    is the one the run page and run log show. Returns the final asset (None without a pick).
    """
    selected = RunCandidate.objects.filter(job=job, selected=True).select_related("asset").first()
    if selected is None or selected.asset is None:
        return None
    run, project = job.run, job.run.project
    label = f"pass {uuid.uuid4().hex[:8]}"
    charge = cost_recorder(project=project, run=run, job=job, prefix=f"{run.uid}/job{job.index}/")
    try:
        final, log = postprocess_asset(
            project=project,
            asset=selected.asset,
            config=config,
            steps=only,
            confirm_spend=confirm_spend,
            record_cost=charge,
            begin_paid=_intent_rows(item or (RUN_JOB, job), project.pk, run),
        )
    except Exception as exc:
        _chain_rows(job, label, getattr(exc, "chain_log", []), exc)
        raise
    _chain_rows(job, label, log)
    final_asset = final.ref if isinstance(final.ref, Asset) else None
    # A slow pass of an older pick must not overwrite the newer pick's output.
    still_picked = RunCandidate.objects.filter(pk=selected.pk, selected=True)
    updated = (
        RunJob.objects.filter(pk=job.pk)
        .filter(Exists(still_picked))
        .update(final_asset=final_asset)
    )
    if updated:
        job.final_asset = final_asset
    return final_asset


def _intent_rows(
    item: tuple[str, Any], project_id: int, run: Run | None = None
) -> Callable[[str, Decimal], Callable[[BaseException | None], None]]:
    """A paid chain step writes its intent row (on the running work item) before it runs, so a
    worker that dies during it leaves a lost paid row: an unconfirmed cost after recovery. The
    row goes through the budgets like a generate call: past the run's cap or the month's budget
    the step is refused (BudgetExhausted) and nothing is written or called."""
    from pipeline.engine import end_step, start_step

    work_name, work_item = item

    def begin(step: str, estimate: Decimal) -> Callable[[BaseException | None], None]:
        row = reserve_paid_call(
            run=run,
            project_id=project_id,
            estimate_usd=estimate,
            paid=True,
            start=lambda: start_step(
                work_name,
                work_item,
                f"{step}_call",
                project_id=project_id,
                paid=True,
                notes={"provider": step, "operation": step, "estimate_usd": str(estimate)},
            ),
        )

        def end(error: BaseException | None) -> None:
            if error is None:
                end_step(row, StepRun.Status.DONE)
            else:
                code = getattr(error, "code", "internal")
                end_step(row, StepRun.Status.FAILED, error_code=code, error=str(error))

        return end

    return begin


def _chain_rows(
    job: RunJob, label: str, log: list[dict[str, Any]], error: Exception | None = None
) -> None:
    rows = []
    for entry in log:
        if "error" in entry:
            status = StepRun.Status.FAILED if hasattr(error, "code") else StepRun.Status.ERRORED
        elif entry.get("skipped") or entry.get("stopped"):
            status = StepRun.Status.SKIPPED
        else:
            status = StepRun.Status.DONE
        rows.append(
            StepRun(
                project_id=job.project_id,
                item_type=RUN_JOB,
                item_id=str(job.pk),
                attempt=job.attempts,
                step=entry["step"],
                subject=label,
                status=status,
                input_sha256=entry.get("input_sha256", ""),
                param_key=entry.get("key", ""),
                output_asset_id=entry.get("output_asset_id"),
                notes=entry,
                error=entry.get("error", ""),
                error_code=getattr(error, "code", "internal") if "error" in entry else "",
                duration_s=entry.get("duration_s"),
            )
        )
    with transaction.atomic():
        StepRun.objects.bulk_create(rows)


# --- a pass of post-processing as its own work item (a new pick, kroma_postprocess --run) ------


@dataclass
class PassContext:
    item: PostprocessJob
    row: StepRun | None = None


def run_pass_step(ctx: PassContext) -> None:
    item = ctx.item
    final = postprocess_pick(
        job=item.job,
        config=item.config,
        only=item.only,
        confirm_spend=item.confirm_spend,
        item=(POSTPROCESS_JOB, item),
    )
    ctx.row.notes["final_asset"] = final.pk if final else None


def run_pass(item_id: int) -> PostprocessJob | None:
    """Claim and run one pass in this process (what the worker's task does)."""
    from pipeline.engine import work_through
    from pipeline.work import POSTPROCESS_JOBS

    if not work_through(POSTPROCESS_JOBS, PostprocessJob.objects.filter(pk=item_id)):
        return None
    return PostprocessJob.objects.get(pk=item_id)


def enqueue_pass(item: PostprocessJob) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task(
            "pipeline.tasks.postprocess_task", item.pk, task_name=f"postprocess {item.pk}"
        )
    )


def pass_finished(item: PostprocessJob) -> None:
    """The run's cost and run log follow every pass."""
    from pipeline.services.execute import settle_cost

    settle_cost(item.run_id)
