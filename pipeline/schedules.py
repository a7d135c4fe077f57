"""Recurring django-q2 schedules, created idempotently by kroma_seed."""

from __future__ import annotations

from django_q.models import Schedule

SCHEDULES = [
    {"name": "kroma-heartbeat", "func": "pipeline.tasks.heartbeat", "minutes": 1},
    {"name": "kroma-sweep-leases", "func": "pipeline.tasks.sweep_task", "minutes": 1},
]


def ensure_schedules() -> None:
    for spec in SCHEDULES:
        Schedule.objects.update_or_create(
            name=spec["name"],
            defaults={
                "func": spec["func"],
                "schedule_type": Schedule.MINUTES,
                "minutes": spec["minutes"],
                "repeats": -1,
            },
        )
