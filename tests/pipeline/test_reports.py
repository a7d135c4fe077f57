"""QA and cost reports: the services, the SVG charts, and the two report pages."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from pipeline.charts import Series, bar_chart, line_chart, nice_ceiling
from pipeline.models import CostEvent, QualityReport, Run, RunCandidate, RunJob
from pipeline.services.budgets import budget_status
from pipeline.services.costs import (
    month_start,
    spend_by_day,
    spend_by_model,
    spend_by_run,
)
from pipeline.services.stats import project_stats, qa_by_run, run_qa_report
from tests.conftest import local_run

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _run(project, index: int, *, estimate: str = "0.30", qa: tuple = (), name: str = "") -> Run:
    """A finished run with one job, its candidates (`qa`: (passed, soft warnings) each), their
    QA reports and one cost event; rows written directly, as ingesting a run log does."""
    run = Run.objects.create(
        project=project,
        uid=f"run_2026120{index % 10}_{index:06d}",
        name=name,
        stage="style",
        mode=Run.Mode.RUN,
        status=Run.Status.DONE,
        provider="openai",
        model="gpt-image-1",
        estimated_cost_usd=Decimal(estimate),
    )
    job = RunJob.objects.create(project=project, run=run, index=0, scene_key="harbor")
    for k, (passed, warnings) in enumerate(qa):
        hard = [] if passed else [f"chroma {k} over the hard threshold"]
        soft = [f"soft warning {w}" for w in range(warnings)]
        candidate = RunCandidate.objects.create(
            project=project,
            job=job,
            index=k,
            passed=passed,
            qa_summary={"passed": passed, "hard_failures": hard, "soft_warnings": soft},
        )
        QualityReport.objects.create(
            project=project,
            run=run,
            candidate=candidate,
            passed=passed,
            hard_failures=len(hard),
            soft_warnings=warnings,
        )
    return run


def _event(project, usd: str, *, key: str, run=None, model="gpt-image-1", when=None, **fields):
    event = CostEvent.objects.create(
        project=project,
        run=run,
        provider="openai",
        model=model,
        operation="images.edit",
        usd=Decimal(usd),
        idempotency_key=key,
        **fields,
    )
    if when is not None:
        CostEvent.objects.filter(pk=event.pk).update(created_at=when)
    return event


# --- services -----------------------------------------------------------------------------------


def test_qa_counts_pass_warn_and_fail_per_run_oldest_first(project):
    first = _run(project, 1, qa=[(True, 0), (True, 2), (False, 0)])
    second = _run(project, 2, qa=[(True, 0), (True, 0)])
    _run(project, 3)  # no QA reports: not listed
    rows = qa_by_run(project=project)
    assert [r.run for r in rows] == [first, second]
    counts = rows[0].counts
    assert (counts.passed, counts.warned, counts.failed, counts.total) == (1, 1, 1, 3)
    assert counts.pass_rate == pytest.approx(2 / 3)
    assert rows[1].counts.pass_rate == 1.0


def test_qa_by_run_keeps_the_newest_runs(project):
    runs = [_run(project, i, qa=[(True, 0)]) for i in range(1, 5)]
    assert [r.run for r in qa_by_run(project=project, limit=2)] == runs[2:]


def test_run_qa_report_lists_failures_and_warnings_with_their_reasons(project):
    run = _run(project, 1, qa=[(True, 0), (True, 1), (False, 0), (False, 1)])
    report = run_qa_report(run=run)
    assert (report.counts.passed, report.counts.warned, report.counts.failed) == (1, 1, 2)
    assert [c.index for c in report.failures] == [2, 3]
    assert [c.index for c in report.warnings] == [1]
    assert report.failures[0].qa_summary["hard_failures"] == ["chroma 2 over the hard threshold"]


def test_spend_by_day_fills_empty_days_and_counts_utc_days(project):
    today = date(2026, 12, 2)
    _event(project, "1.00", key="a", when=datetime(2026, 12, 2, 0, 30, tzinfo=UTC))
    _event(project, "0.50", key="b", when=datetime(2026, 12, 2, 23, 30, tzinfo=UTC))
    _event(project, "0.25", key="c", when=datetime(2026, 11, 30, 12, tzinfo=UTC))
    _event(project, "9.00", key="old", when=datetime(2026, 11, 1, tzinfo=UTC))
    days = spend_by_day(project=project, days=3, today=today)
    assert [(d.day, d.usd, d.calls) for d in days] == [
        (date(2026, 11, 30), Decimal("0.25"), 1),
        (date(2026, 12, 1), Decimal(0), 0),
        (date(2026, 12, 2), Decimal("1.5"), 2),
    ]


def test_spend_by_model_puts_the_most_expensive_first(project):
    _event(project, "0.10", key="a", model="gpt-image-1-mini")
    _event(project, "0.40", key="b")
    _event(project, "0.20", key="c")
    rows = spend_by_model(project=project)
    assert [(m.model, m.usd, m.calls) for m in rows] == [
        ("gpt-image-1", Decimal("0.6"), 2),
        ("gpt-image-1-mini", Decimal("0.1"), 1),
    ]


def test_spend_by_run_sets_the_estimate_against_the_actual(project):
    run = _run(project, 1, estimate="0.30")
    _event(project, "0.20", key="a", run=run)
    _event(project, "0.15", key="b", run=run, unconfirmed=True)
    idle = _run(project, 2, estimate="0.10")
    rows = spend_by_run(project=project)
    assert [r.run for r in rows] == [run, idle]
    assert (rows[0].actual_usd, rows[0].unconfirmed_usd, rows[0].calls) == (
        Decimal("0.35"),
        Decimal("0.15"),
        2,
    )
    assert rows[0].difference_usd == Decimal("0.05")
    assert (rows[1].actual_usd, rows[1].difference_usd) == (Decimal(0), Decimal("-0.10"))


def test_dashboard_figures_and_reports_share_one_sum(project, other_project):
    _event(project, "1.25", key="a")
    _event(project, "2.00", key="b", when=month_start() - timedelta(seconds=1))
    _event(project, "0.50", key="d", unconfirmed=True)
    _event(other_project, "5.00", key="c")
    assert project_stats(project).cost_usd == Decimal("3.75")
    month = budget_status(project=project)
    assert (month.month_spent_usd, month.month_unconfirmed_usd) == (Decimal("1.75"), Decimal("0.5"))
    by_model = spend_by_model(project=project)
    assert sum(m.usd for m in by_model) == Decimal("3.75")


# --- charts -------------------------------------------------------------------------------------


def test_nice_ceiling_rounds_up_to_a_readable_top():
    assert [nice_ceiling(v) for v in (0, 0.07, 0.3, 1, 1.2, 4.1, 7, 230)] == [
        1.0,
        0.1,
        0.5,
        1,
        2,
        5,
        10,
        500,
    ]


def test_bar_chart_heights_follow_the_values_and_every_bar_has_a_title():
    chart = bar_chart(
        key="k",
        title="Spend",
        desc="d",
        labels=["a", "b"],
        series=[Series("Spend", [Decimal("1"), Decimal("0.5")])],
    )
    tall, short = chart.marks
    assert tall.height == pytest.approx(2 * short.height)
    assert tall.y + tall.height == chart.baseline
    assert [m.text for m in chart.marks] == ["a: $1.00", "b: $0.50"]
    assert [t.text for t in chart.y_ticks] == ["$0.00", "$0.25", "$0.50", "$0.75", "$1.00"]
    five = bar_chart(key="k", title="t", desc="d", labels=["a"], series=[Series("s", [4.2])])
    assert [t.text for t in five.y_ticks] == ["$0.00", "$1.00", "$2.00", "$3.00", "$4.00", "$5.00"]


def test_bar_chart_thins_its_labels_and_names_each_series():
    labels = [str(i) for i in range(30)]
    chart = bar_chart(
        key="k",
        title="t",
        desc="d",
        labels=labels,
        series=[Series("Estimate", [1] * 30, "s2"), Series("Actual", [2] * 30)],
    )
    assert len(chart.marks) == 60 and len(chart.x_labels) == 10
    assert chart.marks[0].text == "0: Estimate $1.00" and chart.legend


def test_line_chart_skips_missing_values():
    chart = line_chart(key="k", title="t", desc="d", labels=["a", "b", "c"], values=[50, None, 100])
    assert [m.text for m in chart.marks] == ["a: 50%", "c: 100%"]
    assert chart.line.count(",") == 2 and not chart.empty
    assert line_chart(key="k", title="t", desc="d", labels=[], values=[]).empty


# --- the reports page ---------------------------------------------------------------------------


def test_reports_page_shows_qa_and_cost_charts_and_tables(artist_client, project):
    run = _run(project, 1, qa=[(True, 0), (False, 0)], name="Page one")
    _event(project, "0.42", key="a", run=run)
    response = artist_client.get(reverse("pipeline:reports", args=["noir_city"]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "<nav" in body and "kroma/reports.css" in body
    for title in (
        "QA pass rate per run",
        "Spend per day, last 30 days (UTC)",
        "Spend per model, last 30 days (UTC)",
    ):
        assert f">{title}</title>" in body
    assert "Estimate and actual cost per run</title>" in body
    assert "oldest run first: #1 50%. #1: Page one" in body  # the QA chart's description
    assert "#1 Page one: estimate $0.30, actual $0.42" in body
    assert reverse("pipeline:run_report", args=["noir_city", run.uid]) in body
    assert re.search(r'<svg class="chart[^>]*role="img"', body)


def test_reports_partial_answers_the_costs_region_for_the_chosen_days(artist_client, project):
    _event(project, "0.42", key="a")
    url = reverse("pipeline:reports", args=["noir_city"])
    response = artist_client.get(url, {"days": "7"}, **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section class="card report-section" id="costs"')
    assert "Spend per day, last 7 days (UTC)" in body and "<nav" not in body
    assert "$0.42 in the last 7 days." in body


def test_reports_page_refuses_an_unknown_span_and_keeps_the_default(artist_client, project):
    response = artist_client.get(reverse("pipeline:reports", args=["noir_city"]), {"days": "5"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "last 30 days" in body and "Select a valid choice" in body


def test_reports_page_without_runs_says_so(artist_client, project):
    body = artist_client.get(reverse("pipeline:reports", args=["noir_city"])).content.decode()
    assert "No QA reports yet" in body and "No runs yet" in body


def test_reports_of_another_users_project_are_404(artist_client, other_project):
    url = reverse("pipeline:reports", args=[other_project.slug])
    assert artist_client.get(url).status_code == 404
    assert artist_client.get(url, **HX).status_code == 404


def test_reports_need_a_login(client, project):
    response = client.get(reverse("pipeline:reports", args=["noir_city"]))
    assert response.status_code == 302


# --- a run's QA report --------------------------------------------------------------------------


def test_run_report_shows_counts_and_each_failure_with_its_image_and_reason(
    artist_client, scene_project, user
):
    scene_project.manifest_overrides = {
        **scene_project.manifest_overrides,
        "output_guard": {"min_std": 128},  # every gradient fails as too flat
    }
    scene_project.save()
    run = local_run(scene_project, user, panels=["harbor"], candidates=2)
    url = reverse("pipeline:run_report", args=["noir_city", run.uid])
    body = artist_client.get(url).content.decode()
    report = run_qa_report(run=run)
    assert report.counts.failed == 2 and len(report.failures) == 2
    for candidate in report.failures:
        assert candidate.asset.thumbnail_url() in body
        for reason in candidate.qa_summary["hard_failures"]:
            assert escape(reason) in body
    assert "<nav" in body and "No candidate failed QA" not in body


def test_run_report_partial_answers_the_report_region(artist_client, scene_project, user):
    run = local_run(scene_project, user, panels=["harbor"], candidates=1)
    url = reverse("pipeline:run_report", args=["noir_city", run.uid])
    response = artist_client.get(url, **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="run-report">') and "<nav" not in body
    assert "No candidate failed QA." in body


def test_run_report_of_a_plan_says_nothing_was_checked(artist_client, scene_project, user):
    from pipeline.services.runs import submit_run

    dry = submit_run(project=scene_project, user=user, stage="style", provider="local")
    url = reverse("pipeline:run_report", args=["noir_city", dry.uid])
    assert "this is a plan, nothing was generated" in artist_client.get(url).content.decode()


def test_run_report_of_another_users_project_is_404(artist_client, project, other_project):
    run = _run(other_project, 1, qa=[(False, 0)])
    for slug in (other_project.slug, "noir_city"):
        url = reverse("pipeline:run_report", args=[slug, run.uid])
        assert artist_client.get(url).status_code == 404
        assert artist_client.get(url, **HX).status_code == 404


# --- query counts -------------------------------------------------------------------------------


def _queries(client, url: str, **headers) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **headers)
    assert response.status_code == 200
    return len(captured)


def _runs_with_spend(project, first: int, last: int) -> Run:
    run = None
    for i in range(first, last + 1):
        run = _run(project, i, qa=[(True, 0), (True, 1), (False, 0)])
        _event(project, "0.10", key=f"e{i}", run=run)
        _event(project, "0.05", key=f"u{i}", run=run, model="gpt-image-1-mini", unconfirmed=True)
    return run


def test_report_pages_run_the_same_queries_at_1_and_20_runs(artist_client, project):
    reports = reverse("pipeline:reports", args=["noir_city"])
    one = _runs_with_spend(project, 1, 1)
    counts_one = [_queries(artist_client, reports, **h) for h in ({}, HX)]
    run_one = [
        _queries(artist_client, reverse("pipeline:run_report", args=["noir_city", one.uid]), **h)
        for h in ({}, HX)
    ]
    last = _runs_with_spend(project, 2, 20)
    assert Run.objects.count() == 20
    counts_many = [_queries(artist_client, reports, **h) for h in ({}, HX)]
    run_many = [
        _queries(artist_client, reverse("pipeline:run_report", args=["noir_city", last.uid]), **h)
        for h in ({}, HX)
    ]
    assert counts_one == counts_many, (counts_one, counts_many)
    assert run_one == run_many, (run_one, run_many)


def test_spend_per_model_follows_the_chosen_days(artist_client, project):
    _event(project, "0.40", key="new", model="gpt-image-1")
    _event(
        project,
        "0.70",
        key="old",
        model="gpt-image-1-mini",
        when=timezone.now() - timedelta(days=10),
    )
    url = reverse("pipeline:reports", args=["noir_city"])
    week = artist_client.get(url, {"days": "7"}, **HX).content.decode()
    month = artist_client.get(url, {"days": "30"}, **HX).content.decode()
    assert "gpt-image-1-mini" not in week and "gpt-image-1: $0.40" in week
    assert "gpt-image-1-mini: $0.70 (1 call)" in month
