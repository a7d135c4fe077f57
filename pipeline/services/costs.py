"""Money: estimates come from plan_run; here, what a provider call actually cost, and what the
project spent (by day, run and model). Every figure of spend (the dashboard, the reports, the
budgets) is summed here from CostEvents, unconfirmed ones included."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

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


# --- spend: the one place CostEvents are summed (dashboard, reports, budgets) ----------------


@dataclass(frozen=True)
class Spend:
    usd: Decimal
    unconfirmed_usd: Decimal
    calls: int


@dataclass(frozen=True)
class DaySpend:
    day: date
    usd: Decimal
    calls: int


@dataclass(frozen=True)
class ModelSpend:
    provider: str
    model: str
    usd: Decimal
    calls: int


@dataclass(frozen=True)
class RunSpend:
    run: Run
    estimate_usd: Decimal
    actual_usd: Decimal
    unconfirmed_usd: Decimal
    calls: int

    @property
    def difference_usd(self) -> Decimal:
        """Actual minus estimate: positive when the run cost more than planned."""
        return self.actual_usd - self.estimate_usd


def _usd_sum(condition: Q | None = None) -> Coalesce:
    return Coalesce(Sum("usd", filter=condition), Value(Decimal(0)), output_field=DecimalField())


# Named apart from the model's fields (an aggregate may not shadow `usd`).
_TOTALS = {
    "total_usd": _usd_sum(),
    "total_unconfirmed_usd": _usd_sum(Q(unconfirmed=True)),
    "total_calls": Count("id"),
}


def _spend(row: dict) -> Spend:
    return Spend(row["total_usd"], row["total_unconfirmed_usd"], row["total_calls"])


def project_events(project: Project, since: datetime | None = None) -> QuerySet[CostEvent]:
    """The project's cost events (unconfirmed ones included: they may have been billed)."""
    events = CostEvent.objects.filter(project=project)
    return events.filter(created_at__gte=since) if since is not None else events


def spend(events: QuerySet[CostEvent]) -> Spend:
    """What `events` add up to, in one query."""
    return _spend(events.aggregate(**_TOTALS))


def total_usd(events: QuerySet[CostEvent]) -> Decimal:
    """What `events` add up to; a plain sum, read from the (project, usd) index alone."""
    return events.aggregate(total=_usd_sum())["total"]


def month_start(now: datetime | None = None) -> datetime:
    """Midnight UTC on the first day of `now`'s month: budgets are per calendar month (UTC)."""
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def spend_by_day(*, project: Project, days: int = 30, today: date | None = None) -> list[DaySpend]:
    """Spend of each of the last `days` days (UTC), oldest first, days without spend as 0."""
    today = today or timezone.now().astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    rows = {
        row["day"]: row
        for row in project_events(project, since)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day")
        .annotate(**_TOTALS)
    }
    out = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = rows.get(day)
        out.append(
            DaySpend(day, row["total_usd"], row["total_calls"])
            if row
            else DaySpend(day, Decimal(0), 0)
        )
    return out


def spend_by_model(*, project: Project, since: datetime | None = None) -> list[ModelSpend]:
    """Spend per provider and model, the most expensive first."""
    rows = (
        project_events(project, since)
        .values("provider", "model")
        .annotate(**_TOTALS)
        .order_by("-total_usd", "provider", "model")
    )
    return [ModelSpend(r["provider"], r["model"], r["total_usd"], r["total_calls"]) for r in rows]


def spend_by_run(*, project: Project, limit: int = 20) -> list[RunSpend]:
    """The newest real runs, oldest first, each with its estimate and what it actually cost
    (summed from its events, so a run still in flight shows its spend so far)."""
    runs = list(
        Run.objects.filter(project=project, mode=Run.Mode.RUN).order_by("-created_at", "-pk")[
            :limit
        ]
    )
    totals = {
        row["run_id"]: _spend(row)
        for row in CostEvent.objects.filter(project=project, run__in=[r.pk for r in runs])
        .values("run_id")
        .annotate(**_TOTALS)
    }
    empty = Spend(Decimal(0), Decimal(0), 0)
    return [
        RunSpend(
            run,
            run.estimated_cost_usd,
            totals.get(run.pk, empty).usd,
            totals.get(run.pk, empty).unconfirmed_usd,
            totals.get(run.pk, empty).calls,
        )
        for run in reversed(runs)
    ]
