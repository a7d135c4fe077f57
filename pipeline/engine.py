"""The work engine: one runner and one sweeper for every kind of work item.

A work type (pipeline.work) names its model, its explicit ordered list of steps and how it is
delivered. The runner claims an item with one conditional UPDATE (the attempt is counted at
claim), runs the steps in order, writes a step row for each, renews the lease at every step
boundary and by a heartbeat thread while a step runs, checks cancellation, and ends the item:
`done`; `failed` (a UserError: its code and message); `errored` (a bug: its traceback);
`canceled`. The sweeper returns items whose lease expired, or whose worker process on this host
is gone, to the queue (or fails them after max_attempts). A starting worker sweeps at once and
keeps a watchdog thread that sweeps every KROMA_SWEEP_S seconds.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from kroma.lib.errors import UserError
from kroma.lib.redact import redact
from pipeline.errors import JobCanceled, LeaseLost
from pipeline.models import StepRun, WorkItem, WorkStatus
from pipeline.postprocess.base import step_key
from pipeline.postprocess.sessions import report_waits

log = logging.getLogger(__name__)

StepFn = Callable[[Any], None]


@dataclass(frozen=True)
class FnStep:
    """A step that is only its work (Lab, passes); job steps are full JobStep objects."""

    name: str
    fn: StepFn

    def able_to_run(self, ctx: Any) -> bool:
        return True

    def key_params(self, ctx: Any) -> dict[str, Any]:
        return {}

    def run(self, ctx: Any) -> None:
        self.fn(ctx)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def lease_seconds() -> int:
    return settings.JOB_LEASE_SECONDS


@dataclass
class WorkType:
    """What the engine needs to know about one kind of work."""

    name: str  # the step rows' item_type
    model: type[WorkItem]
    steps: Callable[[], list[Any]]  # the type's ordered steps (name, able_to_run, key_params, run)
    context: Callable[[Any], Any] = lambda item: item
    canceled: Callable[[Any], bool] = lambda item: False
    # Called with the items the sweeper put back in the queue, to hand them to the workers.
    requeue: Callable[[list[Any]], None] = lambda items: None
    # Called after an item ended (any final status), e.g. to settle its run.
    finished: Callable[[Any], None] = lambda item: None
    # A paid step row left running by a dead worker: record what it may have cost.
    lost_paid_call: Callable[[StepRun], None] = lambda row: None
    project_id: Callable[[Any], int | None] = lambda item: getattr(item, "project_id", None)
    select_related: tuple[str, ...] = ()
    # The django-q2 task that delivers one item by its id: queued items that no waiting task
    # names are delivered again by the sweeper (pipeline.delivery). Empty: delivered otherwise.
    task: str = ""


# --- claiming and ending ---------------------------------------------------------------------


def claim(work: WorkType, worker: str, queryset: QuerySet | None = None) -> Any | None:
    """Take the first queued item of `queryset` (all items of the type by default).

    Only queued items: a running item whose worker died is taken back by the sweeper, which
    also settles what the dead attempt left (lost step rows, unconfirmed paid calls).
    """
    now = timezone.now()
    base = queryset if queryset is not None else work.model.objects.all()
    ids = list(
        base.filter(status=WorkStatus.QUEUED, attempts__lt=F("max_attempts"))
        .order_by("pk")
        .values_list("pk", flat=True)[:8]
    )
    for pk in ids:
        claimed = work.model.objects.filter(
            pk=pk, status=WorkStatus.QUEUED, attempts__lt=F("max_attempts")
        ).update(
            status=WorkStatus.RUNNING,
            locked_by=worker,
            lease_expires_at=now + timedelta(seconds=lease_seconds()),
            attempts=F("attempts") + 1,
            started_at=Coalesce(F("started_at"), now),
            step="",
        )
        if claimed:
            found = work.model.objects.filter(pk=pk)
            if work.select_related:
                found = found.select_related(*work.select_related)
            return found.get()
    return None


def _end(work: WorkType, item: Any, worker: str, status: str, **fields: Any) -> bool:
    ended = work.model.objects.filter(pk=item.pk, locked_by=worker).update(
        status=status,
        locked_by="",
        lease_expires_at=None,
        finished_at=timezone.now(),
        **fields,
    )
    item.status = status
    return bool(ended)


def _boundary(work: WorkType, item: Any, worker: str, step: str) -> None:
    """A step boundary: stop if canceled or if another worker owns the item; renew the lease."""
    if work.canceled(item):
        raise JobCanceled(f"{work.name} {item.pk} canceled")
    renewed = work.model.objects.filter(
        pk=item.pk, locked_by=worker, status=WorkStatus.RUNNING
    ).update(lease_expires_at=timezone.now() + timedelta(seconds=lease_seconds()), step=step)
    if not renewed:
        raise LeaseLost(f"lease on {work.name} {item.pk} lost before {step}")
    item.step = step


def _waiting_shown(work: WorkType, item: Any, worker: str) -> Callable[[str | None], None]:
    """What a running step waits for (a status key such as 'model:upscale', see
    pipeline.postprocess.sessions) shows as the item's step until the wait ends (None)."""

    def show(status: str | None) -> None:
        try:
            work.model.objects.filter(
                pk=item.pk, locked_by=worker, status=WorkStatus.RUNNING
            ).update(step=status or item.step)
        except Exception:  # what the page shows must not end the work
            log.exception("%s %s: could not show %r", work.name, item.pk, status)

    return show


@contextmanager
def heartbeat(work: WorkType, item: Any, worker: str) -> Iterator[None]:
    """Renew the lease every third of its length while the item is being worked on."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(lease_seconds() / 3):
                try:
                    work.model.objects.filter(pk=item.pk, locked_by=worker).update(
                        lease_expires_at=timezone.now() + timedelta(seconds=lease_seconds())
                    )
                except Exception:  # a busy database must not end the renewals
                    log.exception("%s %s: lease renewal failed; retrying", work.name, item.pk)
        finally:
            connection.close()

    keeper = threading.Thread(target=beat, name=f"lease-{work.name}-{item.pk}", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join()


# --- step rows -------------------------------------------------------------------------------


def start_step(
    work_name: str, item: Any, step: str, *, project_id: int | None, **fields: Any
) -> StepRun:
    fields.setdefault("worker", worker_name())
    return StepRun.objects.create(
        project_id=project_id,
        item_type=work_name,
        item_id=str(item.pk),
        attempt=getattr(item, "attempts", 0),
        step=step,
        **fields,
    )


def end_step(row: StepRun, status: str, **fields: Any) -> StepRun:
    now = timezone.now()
    row.status, row.finished_at = status, now
    row.duration_s = round((now - row.started_at).total_seconds(), 3)
    for name, value in fields.items():
        setattr(row, name, value)
    row.save(update_fields=sorted({"status", "finished_at", "duration_s", "notes", *fields}))
    return row


def step_rows(work_name: str, item_id: Any) -> QuerySet[StepRun]:
    return StepRun.objects.filter(item_type=work_name, item_id=str(item_id))


# --- running ---------------------------------------------------------------------------------


def run_item(work: WorkType, item: Any, worker: str) -> str:
    """Run a claimed item's steps in order and end it; returns its final status."""
    ctx = work.context(item)
    project_id = work.project_id(item)
    step = "claim"
    row: StepRun | None = None
    try:
        with heartbeat(work, item, worker), report_waits(_waiting_shown(work, item, worker)):
            for current in work.steps():
                step = current.name
                _boundary(work, item, worker, step)
                row = start_step(work.name, item, step, project_id=project_id)
                if hasattr(ctx, "row"):
                    ctx.row = row
                if not current.able_to_run(ctx):
                    end_step(row, StepRun.Status.SKIPPED)
                    row = None
                    continue
                params = current.key_params(ctx)
                if params:
                    row.param_key = step_key(step, "", params)
                current.run(ctx)
                end_step(row, StepRun.Status.DONE, param_key=row.param_key)
                row = None
        _boundary(work, item, worker, "done")
        _end(work, item, worker, WorkStatus.DONE, error="", error_code="")
    except LeaseLost:
        log.warning("%s %s: lease lost at %s; another worker owns it", work.name, item.pk, step)
        if row is not None:
            end_step(row, StepRun.Status.LOST, error="lease lost")
        return item.status
    except JobCanceled:
        if row is not None:
            end_step(row, StepRun.Status.FAILED, error_code="canceled", error="canceled")
        _end(work, item, worker, WorkStatus.CANCELED, error_code="canceled", error="canceled")
    except UserError as exc:
        if row is not None:
            end_step(row, StepRun.Status.FAILED, error_code=exc.code, error=exc.message)
        _end(work, item, worker, WorkStatus.FAILED, error_code=exc.code, error=f"{step}: {exc}")
    except Exception as exc:  # a bug: keep the traceback on the item (staff only) and in the log
        log.exception("%s %s crashed at step %s", work.name, item.pk, step)
        message = redact(f"{step}: internal error ({type(exc).__name__}: {exc})")
        if row is not None:
            end_step(row, StepRun.Status.ERRORED, error_code="internal", error=message)
        _end(
            work,
            item,
            worker,
            WorkStatus.ERRORED,
            error_code="internal",
            error=message,
            traceback=redact(traceback.format_exc()),
        )
    work.finished(item)
    return item.status


def work_through(work: WorkType, queryset: QuerySet | None = None, *, until: float = 0) -> int:
    """Claim and run items until none is left (or the monotonic deadline `until` passed)."""
    worker = worker_name()
    done = 0
    try:
        while not until or time.monotonic() < until:
            item = claim(work, worker, queryset)
            if item is None:
                break
            run_item(work, item, worker)
            done += 1
    finally:
        if threading.current_thread() is not threading.main_thread():
            connection.close()
    return done


# --- sweeping --------------------------------------------------------------------------------


def _process_gone(locked_by: str, host: str) -> bool:
    """Whether `locked_by` (host:pid:thread) names a process of this host that no longer runs."""
    try:
        lock_host, pid_text, thread_text = locked_by.rsplit(":", 2)
        pid, thread_id = int(pid_text), int(thread_text)
    except ValueError:
        return False
    if lock_host != host:
        return False  # another host: only its lease can tell
    if pid == os.getpid():
        return thread_id not in {t.ident for t in threading.enumerate()}
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        return state in ("Z", "X")  # a zombie is dead, only not yet reaped
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


def _stranded(work: WorkType, now) -> list[Any]:
    """Running items whose lease expired or whose worker process on this host is gone."""
    host = socket.gethostname()
    running = work.model.objects.filter(status=WorkStatus.RUNNING)
    # No lease at all: left running by a version before leases (or a crash mid-claim).
    expired = list(running.filter(lease_expires_at__lt=now)) + list(
        running.filter(lease_expires_at__isnull=True)
    )
    local = running.filter(locked_by__startswith=f"{host}:", lease_expires_at__gte=now)
    gone = [item for item in local if _process_gone(item.locked_by, host)]
    return expired + gone


def sweep(work: WorkType) -> dict[str, int]:
    """Put stranded items of one type back in the queue (canceled or failed when they must)."""
    now = timezone.now()
    counts = {"requeued": 0, "failed": 0, "canceled": 0}
    requeued = []
    for item in _stranded(work, now):
        if work.canceled(item):
            status, fields = WorkStatus.CANCELED, {"error_code": "canceled", "error": "canceled"}
        elif item.attempts >= item.max_attempts:
            status, fields = (
                WorkStatus.FAILED,
                {
                    "error_code": "worker_lost",
                    "error": "the worker stopped during every attempt; giving up after "
                    f"{item.max_attempts} attempts",
                },
            )
        else:
            status, fields = WorkStatus.QUEUED, {}
        with transaction.atomic():
            taken = work.model.objects.filter(
                pk=item.pk, status=WorkStatus.RUNNING, locked_by=item.locked_by
            ).update(
                status=status,
                locked_by="",
                lease_expires_at=None,
                **({"finished_at": now} if status != WorkStatus.QUEUED else {}),
                **fields,
            )
            if not taken:
                continue
            for row in step_rows(work.name, item.pk).filter(status=StepRun.Status.RUNNING):
                end_step(row, StepRun.Status.LOST, error="the worker stopped during this step")
                if row.paid:
                    work.lost_paid_call(row)
        item.status = status
        if status == WorkStatus.QUEUED:
            counts["requeued"] += 1
            requeued.append(item)
        else:
            counts["failed" if status == WorkStatus.FAILED else "canceled"] += 1
            work.finished(item)
    if requeued:
        work.requeue(requeued)
    return counts


def _sweep_once() -> dict[str, Any]:
    from pipeline.work import sweep_all

    try:
        return sweep_all()
    except Exception:  # a busy database must not end the watchdog (or keep a worker down)
        log.exception("sweeping stranded work failed; trying again")
        return {}
    finally:
        connection.close()


_watchdog: threading.Thread | None = None


def start_watchdog(**_: Any) -> None:
    """In each worker process: take back at once what dead processes of this host held, then
    keep sweeping every KROMA_SWEEP_S seconds, so a dead worker's items are taken over within
    a lease (the one-minute schedule only backs this up)."""
    global _watchdog
    counts = _sweep_once()
    if counts.get("requeued") or counts.get("failed") or counts.get("redelivered"):
        log.info("worker start: took back stranded work %s", counts)
    if _watchdog is not None and _watchdog.is_alive():
        return

    def watch() -> None:
        while True:
            time.sleep(settings.SWEEP_SECONDS)
            _sweep_once()

    _watchdog = threading.Thread(target=watch, name="kroma-watchdog", daemon=True)
    _watchdog.start()
