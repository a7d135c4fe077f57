"""submit_run: the one entry point that views, the API, commands and the copilot call."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from pipeline.config import Manifest
from pipeline.models import Run
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
    dispatch: str = "worker",
) -> Run:
    """Plan (all guards), record and either stop (dry) or hand the run to the workers.

    Raises GuardError or ConfigError, with the reason for the user, before anything is written.
    `inline=True` processes the run in this process instead of a worker (batch commands).
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
        run = execute_run(run.pk)
    elif dispatch == "worker":
        enqueue_run(run)
    return run
