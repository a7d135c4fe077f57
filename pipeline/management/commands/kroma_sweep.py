"""kroma_sweep: requeue work whose worker died (the workers also run this every minute)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from pipeline.work import sweep_all


class Command(BaseCommand):
    help = (
        "Requeue work items whose worker died; fail those out of attempts; deliver again "
        "queued items no task holds; settle runs."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = sweep_all()
        self.stdout.write(
            f"{result['requeued']} requeued, {result['failed']} failed, "
            f"{result['redelivered']} delivered again, {result['finalized']} runs finalised."
        )
