"""Running a confirmed run: its jobs go through the work engine; the run is settled after.

The RunJob rows are the truth (pipeline.engine claims, runs and ends them; pipeline.work says
which steps). django-q2 only delivers `execute_run` and may deliver it twice: a second delivery
finds nothing to claim and returns.
"""

from __future__ import annotations

import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import DecimalField, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from pipeline.config import worst_job_seconds
from pipeline.models import ACTIVE_STATUSES, CostEvent, PostprocessJob, Run, RunJob, StepRun
from pipeline.runlog import write_run_log

log = logging.getLogger(__name__)


def enqueue_run(run: Run) -> None:
    """Hand a queued run to the workers once the transaction that created it commits."""
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task("pipeline.tasks.execute_run_task", run.pk, task_name=f"run {run.uid}")
    )


def requeue_jobs(jobs: list[RunJob]) -> None:
    """The sweeper put these jobs back in the queue: deliver their runs again."""
    run_ids = {job.run_id for job in jobs}
    for run in Run.objects.filter(pk__in=run_ids).exclude(status__in=Run.FINAL_STATUSES):
        enqueue_run(run)


def record_unconfirmed_call(row: StepRun) -> None:
    """A provider call started by a worker that died before its answer was saved.

    The provider may have billed it: it is recorded at its estimate and marked unconfirmed. If
    its answer turns up after all, the real cost replaces it (steps._settle_answer).
    """
    from pipeline.services.steps import unconfirmed_key

    if row.item_type == "postprocess_job":
        job = PostprocessJob.objects.select_related("job__run").get(pk=int(row.item_id)).job
    else:
        job = RunJob.objects.select_related("run").get(pk=int(row.item_id))
    event, _ = CostEvent.objects.get_or_create(
        idempotency_key=unconfirmed_key(row),
        defaults={
            "project_id": job.project_id,
            "run": job.run,
            "job": job,
            "provider": row.notes.get("provider", ""),
            "model": job.run.model,
            "operation": row.notes.get("operation", "images.edit"),
            "usd": Decimal(row.notes.get("estimate_usd") or 0),
            "units": {"images": row.notes.get("request", {}).get("n", 0)},
            "unconfirmed": True,
        },
    )
    StepRun.objects.filter(pk=row.pk).update(cost_event=event)


def _work(run_id: int, deadline: float) -> int:
    from pipeline.engine import work_through
    from pipeline.work import RUN_JOBS

    return work_through(
        RUN_JOBS,
        RunJob.objects.filter(run_id=run_id),
        until=0 if deadline == math.inf else deadline,
    )


def execute_run(run_id: int, *, inline: bool = False) -> Run:
    """Process a queued run with `generation.concurrency` jobs in flight, then finalise it.

    In a worker, it stops claiming new jobs while a whole job still fits in django-q2's task
    timeout and continues in a fresh task, so a long run is never killed in the middle of a
    (billed) provider call. Inline (a batch command) it works until the run is done.
    """
    run = Run.objects.select_related("project").get(pk=run_id)
    if run.mode != Run.Mode.RUN or run.status in Run.FINAL_STATUSES:
        return run
    Run.objects.filter(pk=run.pk, status=Run.Status.QUEUED).update(
        status=Run.Status.RUNNING, started_at=timezone.now()
    )
    pending = run.jobs.filter(status__in=[RunJob.Status.QUEUED, RunJob.Status.RUNNING]).count()
    slots = max(1, min(run.plan["generation"]["concurrency"], pending))
    budget = settings.Q_CLUSTER["timeout"] - worst_job_seconds(run.plan["generation"])
    deadline = math.inf if inline else time.monotonic() + max(budget, 0)
    if slots == 1:
        _work(run.pk, deadline)
    else:
        with ThreadPoolExecutor(max_workers=slots, thread_name_prefix=f"run-{run.pk}") as pool:
            for future in [pool.submit(_work, run.pk, deadline) for _ in range(slots)]:
                future.result()
    if run.jobs.filter(status=RunJob.Status.QUEUED, attempts__lt=F("max_attempts")).exists():
        enqueue_run(run)
    return finalize_run(run.pk)


def finalize_run(run_id: int) -> Run:
    """Settle a run's status and cost once no job is left in flight; write its run log."""
    run = Run.objects.select_related("project").get(pk=run_id)
    if run.mode != Run.Mode.RUN:
        return run
    statuses = list(run.jobs.values_list("status", flat=True))
    if any(s in (RunJob.Status.QUEUED, RunJob.Status.RUNNING) for s in statuses):
        return run  # a job is still leased elsewhere; whoever finishes last finalises
    if run.status == Run.Status.CANCELED:
        final = Run.Status.CANCELED
    elif statuses and all(s == RunJob.Status.DONE for s in statuses):
        final = Run.Status.DONE
    elif RunJob.Status.DONE in statuses:
        final = Run.Status.PARTIAL
    else:
        final = Run.Status.FAILED
    Run.objects.filter(pk=run.pk).update(
        status=final,
        actual_cost_usd=_cost_of(run.pk),
        finished_at=Coalesce(F("finished_at"), timezone.now()),
    )
    run.refresh_from_db()
    write_run_log(run)
    return run


def _cost_of(run_id: int) -> Any:
    """The run's total as a subquery: summed by the UPDATE itself, so a cost event committed
    between a read and a write can never be left out."""
    total = (
        CostEvent.objects.filter(run_id=OuterRef("pk"))
        .values("run_id")
        .annotate(total=Sum("usd"))
        .values("total")
    )
    return Coalesce(Subquery(total), Value(Decimal(0)), output_field=DecimalField())


def settle_cost(run_id: int) -> Run:
    """Recount a run's cost from its events (after a pass of post-processing) and log it."""
    Run.objects.filter(pk=run_id).update(actual_cost_usd=_cost_of(run_id))
    run = Run.objects.select_related("project").get(pk=run_id)
    write_run_log(run)
    return run


def settle_stuck_runs() -> int:
    """Runs whose jobs have all ended but that were never settled (their worker died)."""
    stuck = Run.objects.filter(
        mode=Run.Mode.RUN, status__in=[Run.Status.RUNNING, Run.Status.CANCELED], finished_at=None
    ).exclude(jobs__status__in=ACTIVE_STATUSES)
    for run in stuck:
        finalize_run(run.pk)
    return len(stuck)
