"""Money: estimates come from plan_run; here, what a provider call actually cost."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pipeline.config import load_prices
from pipeline.models import CostEvent, Run, RunJob
from projects.models import Project


def usd_for_call(
    model: str, usage: dict[str, Any] | None, n: int, quality: str, size: str
) -> tuple[Decimal, dict[str, Any]]:
    """Cost from the response's usage tokens; without usage, the per-image price (flagged)."""
    prices = load_prices(model)
    if usage:
        details = usage.get("input_tokens_details") or {}
        text = int(details.get("text_tokens", usage.get("input_tokens", 0)) or 0)
        image_in = int(details.get("image_tokens", 0) or 0)
        out = int(usage.get("output_tokens", 0) or 0)
        usd = (
            text * prices.text_input + image_in * prices.image_input + out * prices.image_output
        ) / 1e6
        units = {
            "text_input_tokens": text,
            "image_input_tokens": image_in,
            "image_output_tokens": out,
        }
    else:
        quality = quality if quality != "auto" else "high"
        size = size if size != "auto" else "1024x1024"
        usd = prices.per_image.get(quality, {}).get(size, 0) * n
        units = {"images": n, "estimated_from_per_image_price": True}
    return Decimal(str(usd)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP), units


def record_cost_event(
    *,
    job: RunJob | None,
    run: Run | None,
    key: str,
    provider: str,
    model: str,
    operation: str,
    usd: Decimal,
    units: dict[str, Any],
    project: Project | None = None,
) -> CostEvent:
    """One event per billed call; the key makes a second recording of the same call a no-op.

    Without a run (post-processing a project's files by hand), pass `project`.
    """
    event, _ = CostEvent.objects.get_or_create(
        idempotency_key=key,
        defaults={
            "project_id": project.pk if project is not None else run.project_id,
            "run": run,
            "job": job,
            "provider": provider,
            "model": model,
            "operation": operation,
            "usd": usd,
            "units": units,
        },
    )
    return event
