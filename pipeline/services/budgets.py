"""Budgets: a project's monthly budget and its cap per run, both in USD, both optional.

Two checks, one for each side of the spend:

- Planning (`check_plan_budget`, called by plan_run) refuses a run whose estimate is more than
  the cap per run, or more than what is left of this month's budget. "Spent" is every CostEvent
  of the project this calendar month (UTC), unconfirmed ones included.
- The runner (`reserve_paid_call`, called right before each paid provider call: the generate
  step's and every paid post-processing step's, such as refine) refuses the call when what is
  spent, plus the calls already under way, plus the estimate of this call, passes the run's cap
  or the month's budget. The job (or pass) then ends `failed` with error code
  `budget_exhausted`; what was already generated and paid is kept.

Two workers racing on the last dollars: the check and the call's intent row (the paid step row
written before every call) are one short transaction that first locks the project's row
(`SELECT ... FOR UPDATE` on PostgreSQL; SQLite's IMMEDIATE transactions serialise writers), and
the check counts the intent rows of calls under way at their estimate. So a second worker sees
the first one's call and the cap holds, as long as a call costs no more than its estimate. A
refused check writes nothing: no half-written intent row is left behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q

from pipeline.errors import GuardError, PipelineError
from pipeline.models import POSTPROCESS_JOB, RUN_JOB, CostEvent, Run, StepRun
from pipeline.services.costs import month_start, project_events, spend
from projects.models import Project
from projects.services.records import audit


class OverBudget(GuardError):
    """Planning refused a run: its estimate passes the cap per run or the month's budget."""

    code = "over_budget"


class BudgetExhausted(PipelineError):
    """The runner refused a paid call: the run's cap or the month's budget is reached."""

    code = "budget_exhausted"


@dataclass(frozen=True)
class BudgetStatus:
    """The project's budgets and this month's spend, as the dashboard and Settings show them."""

    monthly_budget_usd: Decimal | None
    run_cap_usd: Decimal | None
    month_spent_usd: Decimal
    month_unconfirmed_usd: Decimal
    month_started: datetime

    @property
    def month_left_usd(self) -> Decimal | None:
        if self.monthly_budget_usd is None:
            return None
        return max(self.monthly_budget_usd - self.month_spent_usd, Decimal(0))

    @property
    def month_used_percent(self) -> int | None:
        """Spent as a share of the budget (capped at 100), for the meter."""
        if not self.monthly_budget_usd:
            return None
        return min(100, int(self.month_spent_usd * 100 / self.monthly_budget_usd))

    @property
    def over(self) -> bool:
        budget = self.monthly_budget_usd
        return budget is not None and self.month_spent_usd >= budget


def has_budget(project: Project) -> bool:
    return project.monthly_budget_usd is not None or project.run_cap_usd is not None


def budget_status(*, project: Project, now: datetime | None = None) -> BudgetStatus:
    """The budgets and this calendar month's (UTC) spend, in one query."""
    started = month_start(now)
    month = spend(project_events(project, started))
    return BudgetStatus(
        monthly_budget_usd=project.monthly_budget_usd,
        run_cap_usd=project.run_cap_usd,
        month_spent_usd=month.usd,
        month_unconfirmed_usd=month.unconfirmed_usd,
        month_started=started,
    )


def check_plan_budget(*, project: Project, estimate_usd: Decimal) -> None:
    """Refuse a plan whose estimate passes the cap per run or what is left of the month."""
    if estimate_usd <= 0:
        return
    cap = project.run_cap_usd
    if cap is not None and estimate_usd > cap:
        raise OverBudget(
            f"This run would cost about ${estimate_usd:.2f}, more than the project's cap per run "
            f"(${cap:.2f}): choose fewer panels or candidates, or raise the cap in Settings.",
            field="run_cap_usd",
        )
    if project.monthly_budget_usd is None:
        return
    status = budget_status(project=project)
    left = status.month_left_usd
    if estimate_usd > left:
        raise OverBudget(
            f"This run would cost about ${estimate_usd:.2f}, but only ${left:.2f} of this "
            f"month's ${status.monthly_budget_usd:.2f} budget is left "
            f"(${status.month_spent_usd:.2f} spent since {status.month_started:%d %B}): choose "
            "fewer panels or candidates, or raise the monthly budget in Settings.",
            field="monthly_budget_usd",
        )


def _under_way_usd(rows: list[dict]) -> Decimal:
    return sum((Decimal(r["notes"].get("estimate_usd") or 0) for r in rows), Decimal(0))


def _refusal(project: Project, run: Run | None, estimate_usd: Decimal) -> str | None:
    """Why a paid call of `estimate_usd` may not be made now (None: it may)."""
    running = StepRun.objects.filter(project=project, paid=True, status=StepRun.Status.RUNNING)
    cap = project.run_cap_usd if run is not None else None
    if cap is not None:
        # The run's calls under way: its jobs' own and those of its post-processing passes.
        job_ids = [str(pk) for pk in run.jobs.values_list("pk", flat=True)]
        pass_ids = [str(pk) for pk in run.postprocess_jobs.values_list("pk", flat=True)]
        of_run = Q(item_type=RUN_JOB, item_id__in=job_ids) | Q(
            item_type=POSTPROCESS_JOB, item_id__in=pass_ids
        )
        spent = spend(CostEvent.objects.filter(run=run)).usd
        under_way = _under_way_usd(list(running.filter(of_run).values("notes")))
        if spent + under_way + estimate_usd > cap:
            return (
                f"The run's cap of ${cap:.2f} is reached: it has spent ${spent:.2f}"
                + (f", ${under_way:.2f} more is under way" if under_way else "")
                + f", and this panel's next call may cost about ${estimate_usd:.2f}. "
                "No further provider call was made. Raise the cap per run in Settings, then run "
                "the remaining panels again."
            )
    budget = project.monthly_budget_usd
    if budget is not None:
        spent = spend(project_events(project, month_start())).usd
        under_way = _under_way_usd(list(running.values("notes")))
        if spent + under_way + estimate_usd > budget:
            return (
                f"This month's budget of ${budget:.2f} is reached: the project has spent "
                f"${spent:.2f}"
                + (f", ${under_way:.2f} more is under way" if under_way else "")
                + f", and this panel's next call may cost about ${estimate_usd:.2f}. "
                "No further provider call was made. Raise the monthly budget in Settings, then "
                "run the remaining panels again."
            )
    return None


def reserve_paid_call(
    *,
    run: Run | None,
    estimate_usd: Decimal,
    paid: bool,
    start: Callable[[], StepRun],
    project_id: int | None = None,
) -> StepRun:
    """Check the budgets, then write the call's intent row (`start()`), in one transaction.

    Raises BudgetExhausted (and writes nothing) when the call may pass a cap. A free call only
    writes the row. The caps are read from the locked row, so a budget set while a run is under
    way applies from its next call. Without a run (`project_id` given) only the month's budget
    applies.
    """
    if not paid:
        return start()
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=run.project_id if run else project_id)
        reason = _refusal(locked, run, estimate_usd) if has_budget(locked) else None
        if reason is not None:
            raise BudgetExhausted(reason)
        return start()


def set_budgets(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    monthly_budget_usd: Decimal | None,
    run_cap_usd: Decimal | None,
) -> Project:
    """Set (None: clear) the monthly budget and the cap per run; audited when they change."""
    for name, value in (("monthly_budget_usd", monthly_budget_usd), ("run_cap_usd", run_cap_usd)):
        if value is not None and value < 0:
            raise GuardError("A budget cannot be negative.", code="invalid", field=name)
    before = {"monthly_budget_usd": project.monthly_budget_usd, "run_cap_usd": project.run_cap_usd}
    after = {"monthly_budget_usd": monthly_budget_usd, "run_cap_usd": run_cap_usd}
    if before == after:
        return project
    with transaction.atomic():
        project.monthly_budget_usd, project.run_cap_usd = monthly_budget_usd, run_cap_usd
        project.save(update_fields=["monthly_budget_usd", "run_cap_usd", "updated_at"])
        audit(
            project,
            user,
            "project.budgets_updated",
            project.slug,
            **{k: None if v is None else str(v) for k, v in after.items()},
            before={k: None if v is None else str(v) for k, v in before.items()},
        )
    return project
