"""django-q2 entry points: thin wrappers that take ids and hand the item to the work engine."""

from __future__ import annotations

import socket
from typing import Any

from django.utils import timezone

from pipeline.models import Run, WorkerHeartbeat


def heartbeat() -> None:
    """Scheduled every minute; /health reports how long ago a worker last ran it."""
    WorkerHeartbeat.objects.update_or_create(
        name=socket.gethostname(), defaults={"seen_at": timezone.now()}
    )


def execute_run_task(run_id: int) -> str:
    from pipeline.services.execute import execute_run

    if not Run.objects.filter(pk=run_id).exists():
        return "run gone"
    return execute_run(run_id).status


def sweep_task() -> dict[str, Any]:
    from pipeline.work import sweep_all

    return sweep_all()


def lab_task(job_id: str) -> str:
    from pipeline.services.lab import process_lab_job

    job = process_lab_job(job_id)
    return job.status if job else "nothing to claim"


def repostprocess_task(job_id: int) -> str:
    """Tasks queued before the work engine (a new pick): a pass of the job's pick now."""
    from pipeline.models import PostprocessJob, RunJob
    from pipeline.services.postprocess import run_pass

    job = RunJob.objects.select_related("run").filter(pk=job_id).first()
    if job is None:
        return "job gone"
    item = PostprocessJob.objects.create(
        project_id=job.project_id,
        run=job.run,
        job=job,
        config=job.run.plan.get("postprocess") or {},
        confirm_spend=True,
    )
    done = run_pass(item.pk)
    return done.status if done else "nothing to claim"


def postprocess_task(item_id: int) -> str:
    from pipeline.services.postprocess import run_pass

    item = run_pass(item_id)
    return item.status if item else "nothing to claim"


def export_task(export_id: int) -> str:
    from pipeline.services.exports import run_export

    export = run_export(export_id)
    return export.status if export else "nothing to claim"
