"""Command services for runs: what views, the API, commands and the copilot call.

Keyword arguments, the acting user passed in; user errors are UserError subclasses with a stable
code (kroma.lib.errors); every change writes an AuditEvent.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from kroma.lib.errors import Conflict, NotAllowed, UserError
from pipeline.config import Manifest, snapshot_manifest
from pipeline.engine import end_step, start_step
from pipeline.errors import GuardError, QAFailed
from pipeline.models import (
    ACTIVE_STATUSES,
    RUN_JOB,
    PostprocessJob,
    Run,
    RunCandidate,
    RunJob,
    StepRun,
)
from pipeline.runlog import write_run_log
from pipeline.services.execute import enqueue_run, execute_run, finalize_run
from pipeline.services.plan import Plan, RunRequest, create_run, plan_run
from pipeline.services.postprocess import chain_config, enqueue_pass, run_pass
from pipeline.services.refs import BuildOn
from projects.models import Asset, AuditEvent, Project


def submit_run(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    stage: str,
    panels: list[str] | None = None,
    candidates: int | None = None,
    mode: str = "dry",
    confirm_spend: bool = False,
    variation: str | None = None,
    provider: str | None = None,
    model: str | None = None,
    quality: str | None = None,
    size: str | None = None,
    build_on: BuildOn | None = None,
    prompt: str | None = None,
    manifest: Manifest | None = None,
    max_estimate_usd: Decimal | None = None,
    dispatch: str = "worker",
) -> Run:
    """Plan (all guards), record and either stop (dry) or hand the run to the workers.

    Raises GuardError or ConfigError, with the reason for the user, before anything is written.
    `panels`: keys or ids (None: every panel); `size` None: each panel's aspect; `build_on`:
    what each job starts from (default: the panel's current pick of the previous stage).
    `manifest` replaces the project's (a replay or a confirmed plan uses its snapshot);
    `max_estimate_usd` refuses a run that now costs more than the user saw.
    `dispatch`: "worker" queues it for django-q2, "inline" processes it here before returning,
    "none" leaves a queued run to the caller (a command that shows progress while it works).
    """
    request = RunRequest(
        stage=stage,
        panels=[str(p) for p in panels] if panels else None,
        candidates=candidates,
        provider=provider,
        model=model or None,
        quality=quality or None,
        size=size or None,
        variation=variation,
        build_on=build_on or BuildOn(),
        prompt=(prompt or "").strip() or None,
    )
    plan = plan_run(
        project=project,
        request=request,
        mode=mode,
        confirm_spend=confirm_spend,
        manifest=manifest,
    )
    _check_estimate(plan, max_estimate_usd)
    run = _record(plan=plan, user=user)
    if mode == "dry":
        write_run_log(run)
    elif dispatch == "inline":
        run = execute_run(run.pk, inline=True)
    elif dispatch == "worker":
        enqueue_run(run)
    return run


def _check_estimate(plan: Plan, max_estimate_usd: Decimal | None) -> None:
    if max_estimate_usd is not None and plan.estimate_usd > max_estimate_usd:
        raise GuardError(
            f"This run now costs about ${plan.estimate_usd:.2f}, more than the "
            f"${max_estimate_usd:.2f} you confirmed (prices or templates changed): plan it again.",
            code="estimate_rose",
        )


def _record(*, plan: Plan, user: AbstractBaseUser | None) -> Run:
    with transaction.atomic():
        run = create_run(plan=plan, user=user)
        AuditEvent.objects.create(
            project=plan.project,
            actor=user,
            action=f"run.{'planned' if plan.mode == 'dry' else 'submitted'}",
            target=run.uid,
            data={"stage": plan.stage, "estimate_usd": str(plan.estimate_usd)},
        )
    return run


def confirm_plan(*, plan: Run, user: AbstractBaseUser | None) -> Run:
    """Run a planned (dry) run for real, with the spend confirmed by the user.

    A plan becomes at most one run: the claim and the submit happen in one transaction, so an
    error of any kind leaves the plan confirmable, and a second confirm returns the run the
    plan became. The run uses the plan's manifest snapshot and is refused if it would now cost
    more than the estimate the user saw.
    """
    if plan.mode != Run.Mode.DRY:
        raise NotAllowed(f"{plan.uid} is a run, not a plan.", code="not_a_plan")
    if plan.confirmed_as:
        return Run.objects.get(uid=plan.confirmed_as)
    # Planned outside the lock (it reads the reference files); claimed and recorded inside it.
    planned = plan_run(
        project=plan.project,
        request=_request_of(plan),
        mode="run",
        confirm_spend=True,
        manifest=snapshot_manifest(plan.manifest_snapshot, f"plan {plan.uid}"),
    )
    _check_estimate(planned, plan.estimated_cost_usd)
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=plan.pk)
        if locked.confirmed_as:
            return Run.objects.get(uid=locked.confirmed_as)
        run = _record(plan=planned, user=user)
        Run.objects.filter(pk=plan.pk).update(confirmed_as=run.uid)
        enqueue_run(run)
    return run


def _request_of(plan: Run) -> RunRequest:
    """The request a plan was made from (plans older than requests: from their summary)."""
    if plan.plan.get("request"):
        return RunRequest.from_dict(plan.plan["request"])
    return RunRequest(
        stage=plan.stage,
        panels=plan.plan.get("scenes"),
        candidates=plan.candidates_per_job,
        provider=plan.provider,
        variation=plan.plan.get("variation"),
    )


def rename_run(*, run: Run, user: AbstractBaseUser | None, name: str) -> Run:
    """Give a run (or a plan) a name of the artist's; empty clears it. Audited."""
    name = " ".join((name or "").split())
    if len(name) > 120:
        raise UserError(f"{len(name)} characters; at most 120.", code="too_long", field="name")
    with transaction.atomic():
        Run.objects.filter(pk=run.pk).update(name=name)
        AuditEvent.objects.create(
            project=run.project,
            actor=user,
            action="run.renamed",
            target=run.uid,
            data={"from": run.name, "to": name},
        )
    run.name = name
    return run


def cancel_run(*, run: Run, user: AbstractBaseUser | None) -> Run:
    """Queued jobs never start; running ones stop at their next step boundary."""
    with transaction.atomic():
        changed = (
            Run.objects.filter(pk=run.pk)
            .exclude(status__in=Run.FINAL_STATUSES)
            .update(status=Run.Status.CANCELED)
        )
        run.jobs.filter(status__in=[RunJob.Status.QUEUED, RunJob.Status.PLANNED]).update(
            status=RunJob.Status.CANCELED, error_code="canceled", error="canceled before it started"
        )
        if changed:
            AuditEvent.objects.create(
                project=run.project, actor=user, action="run.canceled", target=run.uid
            )
    return finalize_run(run.pk)


OVERRIDE_REASON_MAX = 300


def override_selection(
    *, candidate: RunCandidate, user: AbstractBaseUser | None, reason: str = ""
) -> RunCandidate:
    """The user picks another candidate of a finished job; it is post-processed again.

    A candidate that failed QA can be picked too ("use anyway") when the user says why: the
    reason is kept on the candidate, in the audit trail and in the run log. A job that failed
    only because every candidate failed QA is done once one of them is used anyway.
    """
    job = RunJob.objects.select_related("run__project").get(pk=candidate.job_id)
    if not job.is_final:
        raise Conflict(
            f"Scene {job.scene_key} is still {job.status}: pick once it has finished.",
            code="job_active",
        )
    reason = _override_reason(candidate, reason)
    config = job.run.plan.get("postprocess") or {}
    with transaction.atomic():
        previous = RunCandidate.objects.filter(job=job, selected=True).first()
        RunCandidate.objects.filter(job=job).update(
            selected=False, override_reason="", overridden_by=None, overridden_at=None
        )
        RunCandidate.objects.filter(pk=candidate.pk).update(
            selected=True,
            override_reason=reason,
            overridden_by=user if reason else None,
            overridden_at=timezone.now() if reason else None,
        )
        _mark_used_anyway(previous, candidate, reason)
        # The old final output belonged to the old pick; the new one is made by a new pass.
        RunJob.objects.filter(pk=job.pk).update(final_asset=None)
        revived = RunJob.objects.filter(
            pk=job.pk, status=RunJob.Status.FAILED, error_code=QAFailed.code
        ).update(status=RunJob.Status.DONE, error="", error_code="")
        override = {
            "by": user.get_username() if user else None,
            "from": previous.index if previous else None,
            "to": candidate.index,
        }
        if reason:
            override |= {"reason": reason, "failed_qa": candidate.passed is False}
        row = start_step(RUN_JOB, job, "override", project_id=job.project_id, notes=override)
        end_step(row, StepRun.Status.DONE)
        if any(step.get("enabled") for step in config.values()):
            new_pass(job=job, config=config, only=None, confirm_spend=True, user=user)
        AuditEvent.objects.create(
            project=job.project,
            actor=user,
            action="run.selection_overridden",
            target=f"{job.run.uid}#{job.index}",
            data=override,
        )
    # A revived job may settle its run (failed -> partial or done); finalize writes the log.
    write_run_log(finalize_run(job.run_id) if revived else job.run)
    candidate.refresh_from_db()
    return candidate


def _override_reason(candidate: RunCandidate, reason: str) -> str:
    """The user's reason, required for a candidate that failed QA."""
    reason = (reason or "").strip()
    if len(reason) > OVERRIDE_REASON_MAX:
        raise UserError(
            f"Keep the reason under {OVERRIDE_REASON_MAX} characters (it has {len(reason)}).",
            code="reason_too_long",
            field="reason",
        )
    if (candidate.passed is False or candidate.archived) and not reason:
        failures = "; ".join((candidate.qa_summary or {}).get("hard_failures") or [])
        raise UserError(
            f"Candidate c{candidate.index} failed QA"
            + (f" ({failures})" if failures else "")
            + ": say why you use it anyway.",
            code="reason_required",
            field="reason",
        )
    return reason


def _mark_used_anyway(previous: RunCandidate | None, candidate: RunCandidate, reason: str) -> None:
    """The asset browser shows a used-anyway image: the flag follows the pick."""
    if previous is not None and previous.asset_id and previous.asset_id != candidate.asset_id:
        old = Asset.objects.filter(pk=previous.asset_id).first()
        if old is not None and "used_anyway" in old.metadata:
            old.metadata = {k: v for k, v in old.metadata.items() if k != "used_anyway"}
            old.save(update_fields=["metadata"])
    if candidate.asset_id:
        asset = Asset.objects.get(pk=candidate.asset_id)
        metadata = {k: v for k, v in asset.metadata.items() if k != "used_anyway"}
        if reason:
            metadata["used_anyway"] = reason
        if metadata != asset.metadata:
            asset.metadata = metadata
            asset.save(update_fields=["metadata"])


def new_pass(
    *,
    job: RunJob,
    config: dict[str, Any],
    only: list[str] | None,
    confirm_spend: bool,
    user: AbstractBaseUser | None,
    enqueue: bool = True,
) -> PostprocessJob:
    """One more post-processing pass of a finished job's pick (a work item; enqueued at commit
    unless `enqueue` is False). Callers check the job and audit the change."""
    item = PostprocessJob.objects.create(
        project=job.project,
        run=job.run,
        job=job,
        config=config,
        only=only,
        confirm_spend=confirm_spend,
        requested_by=user,
    )
    if enqueue:
        enqueue_pass(item)
    return item


def postprocess_run(
    *,
    run: Run,
    user: AbstractBaseUser | None,
    config: dict[str, Any] | None = None,
    only: list[str] | None = None,
    confirm_spend: bool = False,
    dispatch: str = "worker",
    progress: Callable[[int, int], None] | None = None,
) -> list[PostprocessJob]:
    """Post-process every pick of a finished run again (other steps or settings).

    One PostprocessJob per job with a pick, run by the engine: in the workers, or here before
    returning (`dispatch="inline"`, a batch command). Each pass sets its job's final asset and
    the run log says what was done.
    """
    if run.mode != Run.Mode.RUN:
        raise NotAllowed(f"{run.uid} is a plan: confirm it first.", code="not_a_run")
    if run.jobs.filter(status__in=ACTIVE_STATUSES).exists():
        raise Conflict(f"{run.uid} is still running: post-process it once it has finished.")
    jobs = list(run.jobs.filter(candidates__selected=True).order_by("index"))
    if not jobs:
        raise UserError(f"Run {run.uid} has no selected outputs to post-process.", code="no_picks")
    config = config or run.plan.get("postprocess") or chain_config(run.project)
    with transaction.atomic():
        items = [
            new_pass(
                job=job,
                config=config,
                only=only,
                confirm_spend=confirm_spend,
                user=user,
                enqueue=dispatch == "worker",
            )
            for job in jobs
        ]
        AuditEvent.objects.create(
            project=run.project,
            actor=user,
            action="run.postprocessed",
            target=run.uid,
            data={"steps": only, "jobs": [job.index for job in jobs]},
        )
    if dispatch == "inline":
        for done, item in enumerate(items):
            if progress is not None:
                progress(done, len(items))
            run_pass(item.pk)
            item.refresh_from_db()
        if progress is not None:
            progress(len(items), len(items))
    return items
