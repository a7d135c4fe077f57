"""kroma_sweep: requeue jobs whose worker died (the workers also run this every minute)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from pipeline.services.execute import sweep_expired_leases


class Command(BaseCommand):
    help = "Requeue jobs with expired leases; fail those out of attempts; settle finished runs."

    def handle(self, *args: Any, **options: Any) -> None:
        result = sweep_expired_leases()
        self.stdout.write(
            f"{result['requeued']} requeued, {result['failed']} failed, "
            f"{result['finalized']} runs finalised."
        )
