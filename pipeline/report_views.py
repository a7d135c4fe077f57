"""QA and cost reports: a project's reports page and one run's QA report.

The figures come from the services (pipeline.services.stats for QA, pipeline.services.costs for
spend, pipeline.services.budgets for the budgets); this module only shapes them into tables and
SVG charts (pipeline.charts).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from pipeline.charts import Chart, Series, bar_chart, line_chart
from pipeline.models import Run
from pipeline.services.budgets import budget_status
from pipeline.services.costs import (
    DaySpend,
    ModelSpend,
    RunSpend,
    spend_by_day,
    spend_by_model,
    spend_by_run,
)
from pipeline.services.stats import RunQA, qa_by_run, run_qa_report
from projects.access import get_project_for_user

RUNS_SHOWN = 20


class ReportFilterForm(forms.Form):
    days = forms.TypedChoiceField(
        label="Spend over",
        choices=[(7, "the last 7 days"), (30, "the last 30 days"), (90, "the last 90 days")],
        coerce=int,
        required=False,
        empty_value=30,
        initial=30,
    )

    def days_or_default(self) -> int:
        if not self.is_valid():
            return 30
        return self.cleaned_data["days"] or 30


def _run_name(run: Run) -> str:
    return run.name or run.uid


def qa_chart(rows: list[RunQA]) -> Chart:
    """Runs are labelled #1, #2, ... (oldest first) on the chart, as in the table beside it."""
    labels = [f"#{i}" for i in range(1, len(rows) + 1)]
    rates = [None if r.counts.pass_rate is None else r.counts.pass_rate * 100 for r in rows]
    shown = ", ".join(
        f"{label} {rate:.0f}%"
        for label, rate in zip(labels, rates, strict=True)
        if rate is not None
    )
    return line_chart(
        key="qa-rate",
        title="QA pass rate per run",
        desc=f"Share of candidates that passed QA, oldest run first: {shown}. "
        + "; ".join(f"#{i}: {_run_name(r.run)}" for i, r in enumerate(rows, start=1)),
        labels=labels,
        values=rates,
    )


def day_chart(days: list[DaySpend]) -> Chart:
    total = sum(d.usd for d in days)
    return bar_chart(
        key="spend-day",
        title=f"Spend per day, last {len(days)} days (UTC)",
        desc=f"${total:.2f} in all from {days[0].day:%d %b} to {days[-1].day:%d %b}; "
        + ", ".join(f"{d.day:%d %b} ${d.usd:.2f}" for d in days if d.usd),
        labels=[f"{d.day:%d %b}" for d in days],
        series=[Series("Spend", [d.usd for d in days])],
    )


def run_chart(runs: list[RunSpend]) -> Chart:
    return bar_chart(
        key="spend-run",
        title="Estimate and actual cost per run",
        desc="Oldest run first. "
        + "; ".join(
            f"#{i} {_run_name(r.run)}: estimate ${r.estimate_usd:.2f}, actual ${r.actual_usd:.2f}"
            for i, r in enumerate(runs, start=1)
        ),
        labels=[f"#{i}" for i in range(1, len(runs) + 1)],
        series=[
            Series("Estimate", [r.estimate_usd for r in runs], "s2"),
            Series("Actual", [r.actual_usd for r in runs], "s1"),
        ],
    )


def model_chart(models: list[ModelSpend], days: int) -> Chart:
    return bar_chart(
        key="spend-model",
        title=f"Spend per model, last {days} days (UTC)",
        desc="; ".join(
            f"{m.provider} {m.model}: ${m.usd:.2f} ({m.calls} call{'s' if m.calls != 1 else ''})"
            for m in models
        ),
        labels=[m.model or m.provider for m in models],
        series=[Series("Spend", [m.usd for m in models])],
    )


def _costs_context(project: Any, form: ReportFilterForm) -> dict[str, Any]:
    days = spend_by_day(project=project, days=form.days_or_default())
    since = datetime.combine(days[0].day, datetime.min.time(), tzinfo=UTC)
    models = spend_by_model(project=project, since=since)
    return {
        "filter_form": form,
        "days": days,
        "days_total": sum(d.usd for d in days),
        "day_chart": day_chart(days),
        "models": models,
        "model_chart": model_chart(models, len(days)),
    }


@login_required
def reports(request: HttpRequest, slug: str) -> HttpResponse:
    """The project's reports: QA per run, spend per day, run and model, the budgets.

    `?days=7|30|90` sets the span of the spend per day; an htmx request gets that region.
    """
    project = get_project_for_user(request.user, slug)
    form = ReportFilterForm(request.GET or None)
    costs = _costs_context(project, form)
    if request.htmx:
        return render(request, "pipeline/reports.html#costs", {"project": project, **costs})
    qa_rows = qa_by_run(project=project, limit=RUNS_SHOWN)
    runs = spend_by_run(project=project, limit=RUNS_SHOWN)
    context = {
        "project": project,
        "budget": budget_status(project=project),
        "qa_rows": qa_rows,
        "qa_chart": qa_chart(qa_rows),
        "runs": runs,
        "run_chart": run_chart(runs),
        "runs_shown": RUNS_SHOWN,
        **costs,
    }
    return render(request, "pipeline/reports.html", context)


@login_required
def run_report(request: HttpRequest, slug: str, uid: str) -> HttpResponse:
    """One run's QA report: pass / warn / fail counts, and each failure with its image and
    reasons. An htmx request gets the report region alone."""
    project = get_project_for_user(request.user, slug)
    run = get_object_or_404(Run, project=project, uid=uid)
    run.project = project
    context = {"project": project, "run": run, "report": run_qa_report(run=run)}
    template = "pipeline/report_run.html#report" if request.htmx else "pipeline/report_run.html"
    return render(request, template, context)
