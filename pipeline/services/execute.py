"""Running a confirmed run: jobs are claimed with a lease, processed step by step, finalised.

The RunJob rows are the truth. A job is claimed with one conditional UPDATE that also counts the
attempt; every step boundary renews the lease and checks for cancellation; a sweeper returns
expired leases to the queue (or fails them after max_attempts). django-q2 only delivers
`execute_run` and may deliver it twice: a second delivery finds nothing to claim and returns.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from pipeline.config import worst_job_seconds
from pipeline.errors import JobCanceled, LeaseLost, PipelineError
from pipeline.models import CostEvent, Run, RunJob
from pipeline.runlog import write_run_log
from pipeline.services.steps import STEPS, JobContext

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def lease_seconds() -> int:
    return settings.JOB_LEASE_SECONDS


def enqueue_run(run: Run) -> None:
    """Hand a queued run to the workers once the transaction that created it commits."""
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task("pipeline.tasks.execute_run_task", run.pk, task_name=f"run {run.uid}")
    )


def _claimable(now) -> Q:
    return Q(status=RunJob.Status.QUEUED) | Q(
        status=RunJob.Status.RUNNING, lease_expires_at__lt=now
    )


def claim_next_job(run_id: int, worker: str) -> RunJob | None:
    now = timezone.now()
    ids = list(
        RunJob.objects.filter(_claimable(now), run_id=run_id, attempts__lt=F("max_attempts"))
        .order_by("index")
        .values_list("pk", flat=True)[:8]
    )
    for pk in ids:
        claimed = RunJob.objects.filter(
            _claimable(now), pk=pk, attempts__lt=F("max_attempts")
        ).update(
            status=RunJob.Status.RUNNING,
            locked_by=worker,
            lease_expires_at=now + timedelta(seconds=lease_seconds()),
            attempts=F("attempts") + 1,
            started_at=Coalesce(F("started_at"), now),
        )
        if claimed:
            return RunJob.objects.select_related("run__project__storage").get(pk=pk)
    return None


def _renew(job: RunJob, worker: str, step: str) -> None:
    """A step boundary: keep the lease, or stop if it was lost or the run was canceled."""
    if Run.objects.filter(pk=job.run_id, status=Run.Status.CANCELED).exists():
        raise JobCanceled("run canceled")
    renewed = RunJob.objects.filter(
        pk=job.pk, locked_by=worker, status=RunJob.Status.RUNNING
    ).update(
        lease_expires_at=timezone.now() + timedelta(seconds=lease_seconds()),
        step=step,
        details=job.details,
    )
    if not renewed:
        raise LeaseLost(f"lease on job {job.pk} lost before {step}")
    job.step = step


@contextmanager
def keep_lease(job: RunJob, worker: str) -> Iterator[None]:
    """Renew the lease every third of its length while a long step (a provider call) runs."""
    stop = threading.Event()

    def renew() -> None:
        try:
            while not stop.wait(lease_seconds() / 3):
                try:
                    RunJob.objects.filter(pk=job.pk, locked_by=worker).update(
                        lease_expires_at=timezone.now() + timedelta(seconds=lease_seconds())
                    )
                except Exception:  # a busy database must not end the renewals
                    log.exception("job %s: lease renewal failed; retrying", job.pk)
        finally:
            connection.close()

    keeper = threading.Thread(target=renew, name=f"lease-{job.pk}", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join()


def _finish(job: RunJob, worker: str, status: str, error: str = "") -> None:
    RunJob.objects.filter(pk=job.pk, locked_by=worker).update(
        status=status,
        error=error,
        details=job.details,
        locked_by="",
        lease_expires_at=None,
        finished_at=timezone.now(),
    )


def process_job(job: RunJob, worker: str) -> None:
    """Run the job's steps in order; record how it ended on the job row."""
    ctx = JobContext(run=job.run, job=job)
    timings = job.details.setdefault("timings", {})
    step = "claim"
    try:
        for step, run_step in STEPS:
            _renew(job, worker, step)
            started = timezone.now()
            with keep_lease(job, worker):
                run_step(ctx)
            timings[step] = round((timezone.now() - started).total_seconds(), 3)
        _renew(job, worker, "done")
        _finish(job, worker, RunJob.Status.DONE)
    except LeaseLost:
        log.warning("job %s: lease lost at %s; another worker owns it", job.pk, step)
    except JobCanceled:
        _finish(job, worker, RunJob.Status.CANCELED, "canceled")
    except PipelineError as exc:
        job.details.setdefault("errors", []).append({"step": step, "error": str(exc)})
        _finish(job, worker, RunJob.Status.FAILED, f"{step}: {exc}")
    except Exception as exc:  # a bug: keep the traceback on the job, and in the log
        log.exception("job %s crashed at step %s", job.pk, step)
        job.details.setdefault("errors", []).append(
            {"step": step, "error": repr(exc), "traceback": traceback.format_exc()}
        )
        _finish(
            job,
            worker,
            RunJob.Status.FAILED,
            f"{step}: internal error ({type(exc).__name__}: {exc})",
        )


def _work(run_id: int, deadline: float) -> int:
    """Claim and process jobs of one run until none is left or the task's time is half gone."""
    worker = worker_name()
    done = 0
    try:
        while time.monotonic() < deadline and (job := claim_next_job(run_id, worker)) is not None:
            process_job(job, worker)
            done += 1
    finally:
        if threading.current_thread() is not threading.main_thread():
            connection.close()
    return done


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
    cost = CostEvent.objects.filter(run=run).aggregate(total=Sum("usd"))["total"] or 0
    Run.objects.filter(pk=run.pk).update(
        status=final, actual_cost_usd=cost, finished_at=Coalesce(F("finished_at"), timezone.now())
    )
    run.refresh_from_db()
    write_run_log(run)
    return run


def cancel_run(*, run: Run) -> Run:
    """Queued jobs never start; running ones stop at their next step boundary."""
    with transaction.atomic():
        Run.objects.filter(pk=run.pk).exclude(status__in=Run.FINAL_STATUSES).update(
            status=Run.Status.CANCELED
        )
        run.jobs.filter(status__in=[RunJob.Status.QUEUED, RunJob.Status.PLANNED]).update(
            status=RunJob.Status.CANCELED, error="canceled before it started"
        )
    return finalize_run(run.pk)


def sweep_expired_leases() -> dict[str, int]:
    """Requeue jobs whose worker died (lease expired); fail those out of attempts."""
    now = timezone.now()
    expired = RunJob.objects.filter(status=RunJob.Status.RUNNING, lease_expires_at__lt=now)
    expired.filter(run__status=Run.Status.CANCELED).update(
        status=RunJob.Status.CANCELED,
        locked_by="",
        lease_expires_at=None,
        finished_at=now,
        error="canceled",
    )
    failed = expired.filter(attempts__gte=F("max_attempts")).update(
        status=RunJob.Status.FAILED,
        locked_by="",
        lease_expires_at=None,
        finished_at=now,
        error="the worker stopped during every attempt; giving up after max_attempts",
    )
    requeued_runs = set(expired.values_list("run_id", flat=True))
    requeued = expired.update(status=RunJob.Status.QUEUED, locked_by="", lease_expires_at=None)
    for run in Run.objects.filter(pk__in=requeued_runs).exclude(status__in=Run.FINAL_STATUSES):
        enqueue_run(run)
    stuck = Run.objects.filter(
        mode=Run.Mode.RUN, status__in=[Run.Status.RUNNING, Run.Status.CANCELED], finished_at=None
    ).exclude(jobs__status__in=[RunJob.Status.QUEUED, RunJob.Status.RUNNING])
    for run in stuck:
        finalize_run(run.pk)
    return {"requeued": requeued, "failed": failed, "finalized": len(stuck)}
