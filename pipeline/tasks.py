"""django-q2 entry points: thin wrappers that take ids, fetch, and call a service."""

from __future__ import annotations

import socket

from django.utils import timezone

from pipeline.models import Run, WorkerHeartbeat
from pipeline.services.execute import execute_run, sweep_expired_leases


def heartbeat() -> None:
    """Scheduled every minute; /health reports how long ago a worker last ran it."""
    WorkerHeartbeat.objects.update_or_create(
        name=socket.gethostname(), defaults={"seen_at": timezone.now()}
    )


def execute_run_task(run_id: int) -> str:
    if not Run.objects.filter(pk=run_id).exists():
        return "run gone"
    return execute_run(run_id).status


def sweep_task() -> dict[str, int]:
    from pipeline.services.lab import sweep_stuck_lab_jobs

    return {**sweep_expired_leases(), "lab_failed": sweep_stuck_lab_jobs()}


def lab_task(job_id: str) -> str:
    from pipeline.services.lab import process_lab_job

    job = process_lab_job(job_id)
    return job.status if job else "already claimed"


def repostprocess_task(job_id: int) -> str:
    from pipeline.models import RunJob
    from pipeline.services.runs import repostprocess_job

    if not RunJob.objects.filter(pk=job_id).exists():
        return "job gone"
    return str(repostprocess_job(job_id).details.get("final_asset"))
