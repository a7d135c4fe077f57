"""Queued work that django-q2 no longer holds is delivered again (by the one sweeper).

The engine's sweeper takes back *running* items whose worker died. An item can also be left
*queued* with no task to deliver it: its task failed before it could claim the item (a locked
database), the process died between the commit and the enqueue, or the row was made queued by
a data migration (ProjectExport's old `pending`, projects 0008). Such an item would wait
forever. So, for each work type that names its task, the sweeper looks for items queued longer
than a lease that no waiting task in the broker names, and enqueues them again. A duplicate
delivery is harmless: the claim is one conditional UPDATE, so the second task finds nothing.

Only django-q2's ORM broker (the default) can be read this way; with another broker nothing is
re-delivered here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from pipeline.models import WorkStatus

if TYPE_CHECKING:
    from pipeline.engine import WorkType


def waiting_tasks() -> set[tuple[str, str]] | None:
    """(function, first argument) of every task the ORM broker holds (waiting or being run);
    None when the broker is not the ORM."""
    from django_q.conf import Conf
    from django_q.models import OrmQ

    if not Conf.ORM:
        return None
    held = set()
    for row in OrmQ.objects.using(Conf.ORM).only("payload"):
        task = row.task
        args = task.get("args") or ()
        func = task.get("func")
        if isinstance(func, str) and args:
            held.add((func, str(args[0])))
    return held


def redeliver(types: Iterable[WorkType]) -> dict[str, int]:
    """Enqueue again the queued items no task delivers; {type name: how many}."""
    before = timezone.now() - timedelta(seconds=settings.JOB_LEASE_SECONDS)
    stale = {}
    for work in types:
        if not work.task:
            continue
        items = list(
            work.model.objects.filter(
                status=WorkStatus.QUEUED,
                attempts__lt=F("max_attempts"),
                created_at__lt=before,
            ).order_by("pk")[:500]
        )
        if items:
            stale[work.name] = (work, items)
    if not stale:
        return {}
    held = waiting_tasks()
    if held is None:
        return {}
    counts = {}
    for name, (work, items) in stale.items():
        lost = [item for item in items if (work.task, str(item.pk)) not in held]
        if lost:
            work.requeue(lost)
            counts[name] = len(lost)
    return counts
