"""submit_run: the one entry point that views, the API, commands and the copilot call."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from pipeline.config import Manifest
from pipeline.errors import GuardError, PipelineError
from pipeline.models import Run, RunCandidate, RunJob
from pipeline.runlog import write_run_log
from pipeline.services.execute import enqueue_run, execute_run
from pipeline.services.plan import create_run, plan_run
from projects.models import AuditEvent, Project


def submit_run(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    stage: str,
    scenes: list[str] | None = None,
    candidates: int | None = None,
    mode: str = "dry",
    confirm_spend: bool = False,
    variation: str | None = None,
    provider: str | None = None,
    manifest: Manifest | None = None,
    max_estimate_usd: Decimal | None = None,
    dispatch: str = "worker",
) -> Run:
    """Plan (all guards), record and either stop (dry) or hand the run to the workers.

    Raises GuardError or ConfigError, with the reason for the user, before anything is written.
    `manifest` replaces the project's (a replay or a confirmed plan uses its snapshot);
    `max_estimate_usd` refuses a run that now costs more than the user saw.
    `dispatch`: "worker" queues it for django-q2, "inline" processes it here before returning,
    "none" leaves a queued run to the caller (a command that shows progress while it works).
    """
    plan = plan_run(
        project=project,
        stage=stage,
        scenes=scenes,
        candidates=candidates,
        mode=mode,
        confirm_spend=confirm_spend,
        variation=variation,
        provider=provider,
        manifest=manifest,
    )
    if max_estimate_usd is not None and plan.estimate_usd > max_estimate_usd:
        raise GuardError(
            f"This run now costs about ${plan.estimate_usd:.2f}, more than the "
            f"${max_estimate_usd:.2f} you confirmed (prices or templates changed): plan it again."
        )
    run = create_run(plan=plan, user=user)
    AuditEvent.objects.create(
        project=project,
        actor=user,
        action=f"run.{'planned' if mode == 'dry' else 'submitted'}",
        target=run.uid,
        data={"stage": stage, "estimate_usd": str(plan.estimate_usd)},
    )
    if mode == "dry":
        write_run_log(run)
    elif dispatch == "inline":
        run = execute_run(run.pk, inline=True)
    elif dispatch == "worker":
        enqueue_run(run)
    return run


def override_selection(*, candidate: RunCandidate, user: AbstractBaseUser | None) -> RunCandidate:
    """The user picks another candidate of a job; the run log is rewritten to say so."""
    if candidate.archived:
        raise GuardError(f"Candidate c{candidate.index} failed QA and is archived; pick another.")
    job = candidate.job
    with transaction.atomic():
        previous = RunCandidate.objects.filter(job=job, selected=True).first()
        RunCandidate.objects.filter(job=job).update(selected=False)
        RunCandidate.objects.filter(pk=candidate.pk).update(selected=True)
        job.details["selection_override"] = {
            "by": user.get_username() if user else None,
            "from": previous.index if previous else None,
            "to": candidate.index,
        }
        # The old final output belonged to the old pick; the new one is made in the worker.
        job.details.pop("final_asset", None)
        job.details["postprocess"] = []
        job.save(update_fields=["details"])
        config = job.run.plan.get("postprocess") or {}
        if any(step.get("enabled") for step in config.values()):
            transaction.on_commit(lambda: _enqueue_repostprocess(job.pk))
        AuditEvent.objects.create(
            project=job.project,
            actor=user,
            action="run.selection_overridden",
            target=f"{job.run.uid}#{job.index}",
            data=job.details["selection_override"],
        )
    write_run_log(job.run)
    candidate.refresh_from_db()
    return candidate


def _enqueue_repostprocess(job_id: int) -> None:
    from django_q.tasks import async_task

    async_task("pipeline.tasks.repostprocess_task", job_id, task_name=f"postprocess job {job_id}")


def repostprocess_job(job_id: int) -> RunJob:
    """Post-process a job's (newly) selected candidate again and rewrite the run log."""
    from pipeline.services.steps import JobContext, postprocess

    job = RunJob.objects.select_related("run__project").get(pk=job_id)
    try:
        postprocess(JobContext(run=job.run, job=job))
    except PipelineError as exc:
        job.details.setdefault("errors", []).append({"step": "postprocess", "error": str(exc)})
    job.save(update_fields=["details"])
    write_run_log(job.run)
    return job
