"""Budgets: set in Settings, refused at planning, and a run that stops at its cap (fake OpenAI)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from pipeline.errors import GuardError
from pipeline.models import RUN_JOB, CostEvent, Run, RunJob, StepRun
from pipeline.services.budgets import (
    BudgetExhausted,
    OverBudget,
    budget_status,
    reserve_paid_call,
    set_budgets,
)
from pipeline.services.costs import month_start
from pipeline.services.execute import execute_run
from pipeline.services.plan import plan_run
from pipeline.services.runs import confirm_plan, submit_run
from projects.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)
HX = {"HTTP_HX_REQUEST": "true"}


def _event(project, usd: str, *, run=None, key: str, days_ago: int = 0, **fields) -> CostEvent:
    event = CostEvent.objects.create(
        project=project,
        run=run,
        provider="openai",
        model="gpt-image-1",
        operation="images.edit",
        usd=Decimal(usd),
        idempotency_key=key,
        **fields,
    )
    if days_ago:
        CostEvent.objects.filter(pk=event.pk).update(
            created_at=timezone.now() - timedelta(days=days_ago)
        )
    return event


def _openai_run(project, user, **options) -> Run:
    defaults = {
        "stage": "style",
        "candidates": 1,
        "provider": "openai",
        "mode": "run",
        "confirm_spend": True,
        "dispatch": "none",
    }
    return submit_run(project=project, user=user, **{**defaults, **options})


# --- the service --------------------------------------------------------------------------------


def test_set_budgets_saves_and_audits_the_change(project, user):
    set_budgets(
        project=project, user=user, monthly_budget_usd=Decimal("50"), run_cap_usd=Decimal("5.5")
    )
    project.refresh_from_db()
    assert (project.monthly_budget_usd, project.run_cap_usd) == (Decimal("50"), Decimal("5.5"))
    event = AuditEvent.objects.get(project=project, action="project.budgets_updated")
    assert event.actor == user
    assert event.data == {
        "monthly_budget_usd": "50",
        "run_cap_usd": "5.5",
        "before": {"monthly_budget_usd": None, "run_cap_usd": None},
    }


def test_set_budgets_without_a_change_writes_no_audit_event(project, user):
    set_budgets(project=project, user=user, monthly_budget_usd=None, run_cap_usd=None)
    assert not AuditEvent.objects.filter(action="project.budgets_updated").exists()


def test_a_negative_budget_is_refused_at_its_field(project, user):
    with pytest.raises(GuardError) as caught:
        set_budgets(project=project, user=user, monthly_budget_usd=None, run_cap_usd=Decimal(-1))
    assert caught.value.field == "run_cap_usd"
    project.refresh_from_db()
    assert project.run_cap_usd is None


def test_budget_status_counts_this_month_only_unconfirmed_included(project):
    _event(project, "2.00", key="a")
    _event(project, "0.50", key="b", unconfirmed=True)
    old = _event(project, "9.00", key="c")
    CostEvent.objects.filter(pk=old.pk).update(created_at=month_start() - timedelta(seconds=1))
    project.monthly_budget_usd = Decimal("10")
    status = budget_status(project=project)
    assert status.month_spent_usd == Decimal("2.5")
    assert status.month_unconfirmed_usd == Decimal("0.5")
    assert status.month_left_usd == Decimal("7.5")
    assert status.month_used_percent == 25
    assert not status.over


def test_month_start_is_midnight_utc_on_the_first():
    start = month_start(timezone.datetime(2026, 3, 17, 15, 4, tzinfo=timezone.UTC))
    assert start == timezone.datetime(2026, 3, 1, tzinfo=timezone.UTC)


# --- planning -----------------------------------------------------------------------------------


def test_planning_refuses_a_run_over_the_cap_per_run(scene_project, fake_openai):
    free = plan_run(project=scene_project, stage="style", provider="openai", candidates=1)
    scene_project.run_cap_usd = free.estimate_usd - Decimal("0.01")
    scene_project.save()
    with pytest.raises(OverBudget) as caught:
        plan_run(project=scene_project, stage="style", provider="openai", candidates=1)
    assert caught.value.code == "over_budget"
    assert caught.value.field == "run_cap_usd"
    assert f"about ${free.estimate_usd:.2f}" in caught.value.message
    assert "cap per run" in caught.value.message
    assert fake_openai.calls == []


def test_planning_refuses_a_run_over_what_is_left_of_the_month(scene_project, fake_openai):
    estimate = plan_run(
        project=scene_project, stage="style", provider="openai", candidates=1
    ).estimate_usd
    scene_project.monthly_budget_usd = Decimal("10")
    scene_project.save()
    _event(scene_project, str(Decimal("10") - estimate + Decimal("0.01")), key="spent")
    with pytest.raises(OverBudget) as caught:
        plan_run(project=scene_project, stage="style", provider="openai", candidates=1)
    assert caught.value.field == "monthly_budget_usd"
    assert "budget is left" in caught.value.message
    # One panel fits in what is left.
    plan = plan_run(
        project=scene_project, stage="style", provider="openai", candidates=1, panels=["harbor"]
    )
    assert plan.estimate_usd < estimate


def test_a_free_run_is_never_refused_by_a_budget(scene_project):
    scene_project.run_cap_usd = Decimal("0")
    scene_project.monthly_budget_usd = Decimal("0")
    scene_project.save()
    plan = plan_run(project=scene_project, stage="style", provider="local")
    assert plan.estimate_usd == 0


def test_new_run_form_shows_the_budget_refusal(artist_client, scene_project, fake_openai):
    scene_project.run_cap_usd = Decimal("0.01")
    scene_project.save()
    response = artist_client.post(
        reverse("pipeline:run_new", args=["noir_city"]),
        {"stage": "style", "candidates": 1, "provider": "openai"},
    )
    assert response.status_code == 400
    assert "more than the project&#x27;s cap per run ($0.01)" in response.content.decode()
    assert Run.objects.count() == 0


def test_confirming_a_plan_after_the_cap_was_lowered_is_refused(scene_project, user):
    dry = submit_run(project=scene_project, user=user, stage="style", provider="openai")
    scene_project.run_cap_usd = Decimal("0.01")
    scene_project.save()
    with pytest.raises(OverBudget):
        confirm_plan(plan=dry, user=user)
    assert Run.objects.filter(mode="run").count() == 0


# --- the runner ---------------------------------------------------------------------------------


def test_a_run_stops_at_its_cap_with_no_call_after_it(scene_project, fake_openai, user):
    run = _openai_run(scene_project, user)
    jobs = list(run.jobs.order_by("index"))
    assert len(jobs) == 3
    # Room for one call: after it, what is spent plus the next call's estimate passes the cap.
    scene_project.run_cap_usd = jobs[0].estimate_usd + Decimal("0.01")
    scene_project.save()
    run = execute_run(run.pk, inline=True)

    assert len(fake_openai.calls) == 1 and fake_openai.billed_calls == 1
    statuses = list(run.jobs.order_by("index").values_list("status", "error_code"))
    assert statuses == [
        ("done", ""),
        ("failed", "budget_exhausted"),
        ("failed", "budget_exhausted"),
    ]
    stopped = run.jobs.get(index=1)
    assert "cap of $" in stopped.error and "No further provider call was made" in stopped.error
    # Nothing charged twice, and a refused call left no intent row behind.
    assert CostEvent.objects.filter(run=run).count() == 1
    assert abs(run.actual_cost_usd - CostEvent.objects.get(run=run).usd) < Decimal("0.0001")
    calls = StepRun.objects.filter(item_type=RUN_JOB, step="provider_call")
    assert list(calls.values_list("item_id", "status")) == [(str(jobs[0].pk), "done")]
    assert run.status == "partial"
    # Delivered again (django-q2 is at least once): no new call, no new charge.
    execute_run(run.pk, inline=True)
    assert len(fake_openai.calls) == 1 and CostEvent.objects.filter(run=run).count() == 1


def test_the_monthly_budget_stops_a_run_too(scene_project, fake_openai, user):
    run = _openai_run(scene_project, user)
    estimate = run.jobs.first().estimate_usd
    _event(scene_project, "1.00", key="earlier")
    scene_project.monthly_budget_usd = Decimal("1.00") + estimate + Decimal("0.01")
    scene_project.save()
    run = execute_run(run.pk, inline=True)
    # One call fits; after it, what this month spent plus the next estimate passes the budget.
    assert len(fake_openai.calls) == 1
    stopped = run.jobs.get(index=1)
    assert stopped.error_code == "budget_exhausted" and "This month's budget" in stopped.error


def test_racing_workers_make_one_call_for_the_last_dollars(scene_project, fake_openai, user):
    scene_project.manifest_overrides = {
        **scene_project.manifest_overrides,
        "generation": {"retry_base_s": 0.01, "timeout_s": 5, "concurrency": 3},
    }
    scene_project.save()
    run = _openai_run(scene_project, user)
    scene_project.run_cap_usd = run.jobs.first().estimate_usd + Decimal("0.01")
    scene_project.save()
    fake_openai.latency_s = 0.5  # the first call is still under way when the others check
    run = execute_run(run.pk, inline=True)
    assert len(fake_openai.calls) == 1
    assert sorted(run.jobs.values_list("status", flat=True)) == ["done", "failed", "failed"]


def test_a_call_under_way_counts_at_its_estimate(scene_project, fake_openai, user):
    run = Run.objects.select_related("project").get(pk=_openai_run(scene_project, user).pk)
    job = run.jobs.get(index=0)
    StepRun.objects.create(
        project=scene_project,
        item_type=RUN_JOB,
        item_id=str(job.pk),
        step="provider_call",
        paid=True,
        notes={"estimate_usd": "0.40"},
    )
    scene_project.run_cap_usd = Decimal("0.50")
    scene_project.save()
    assert run.project.run_cap_usd is None  # stale: the cap is read from the locked row
    rows = StepRun.objects.count()
    with pytest.raises(BudgetExhausted) as caught:
        reserve_paid_call(
            run=run, estimate_usd=Decimal("0.20"), paid=True, start=lambda: pytest.fail("called")
        )
    assert "$0.40 more is under way" in caught.value.message
    assert StepRun.objects.count() == rows  # nothing written
    row = reserve_paid_call(
        run=run,
        estimate_usd=Decimal("0.10"),
        paid=True,
        start=lambda: StepRun.objects.create(item_type=RUN_JOB, item_id="x", step="provider_call"),
    )
    assert row.pk and StepRun.objects.count() == rows + 1


def test_a_free_call_is_never_refused(scene_project, fake_openai, user):
    run = _openai_run(scene_project, user)
    scene_project.run_cap_usd = Decimal("0")
    scene_project.save()
    sentinel = StepRun(step="provider_call")
    assert reserve_paid_call(run=run, estimate_usd=Decimal(1), paid=False, start=lambda: sentinel)
    assert RunJob.objects.filter(run=run).count() == 3


# --- the Settings section -------------------------------------------------------------------------


def test_settings_page_shows_the_budgets_section(artist_client, project):
    body = artist_client.get(reverse("pipeline:settings", args=["noir_city"])).content.decode()
    assert 'id="budgets"' in body and "Monthly budget (USD)" in body and "Cap per run" in body


def test_saving_budgets_through_htmx_answers_the_section(artist_client, project):
    url = reverse("pipeline:settings_budgets_save", args=["noir_city"])
    response = artist_client.post(url, {"monthly_budget_usd": "25.00", "run_cap_usd": ""}, **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section class="card settings-section" id="budgets">')
    assert "Budgets saved." in body and 'value="25.00"' in body
    project.refresh_from_db()
    assert (project.monthly_budget_usd, project.run_cap_usd) == (Decimal("25"), None)


def test_an_invalid_budget_is_shown_at_its_field(artist_client, project):
    url = reverse("pipeline:settings_budgets_save", args=["noir_city"])
    response = artist_client.post(url, {"monthly_budget_usd": "-3", "run_cap_usd": "x"}, **HX)
    assert response.status_code == 400
    body = response.content.decode()
    assert "greater than or equal to 0" in body and "Enter a number." in body
    page = artist_client.post(url, {"monthly_budget_usd": "-3"})
    assert page.status_code == 400 and "<nav" in page.content.decode()
    project.refresh_from_db()
    assert project.monthly_budget_usd is None


def test_a_plain_post_redirects_to_the_section(artist_client, project):
    url = reverse("pipeline:settings_budgets_save", args=["noir_city"])
    response = artist_client.post(url, {"monthly_budget_usd": "", "run_cap_usd": "3"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/settings/#budgets")


def test_budgets_of_another_users_project_are_404(artist_client, other_project):
    url = reverse("pipeline:settings_budgets_save", args=[other_project.slug])
    assert artist_client.post(url, {"run_cap_usd": "1"}).status_code == 404
    assert artist_client.post(url, {"run_cap_usd": "1"}, **HX).status_code == 404
    other_project.refresh_from_db()
    assert other_project.run_cap_usd is None


def test_dashboard_shows_spend_against_the_budget(artist_client, project):
    _event(project, "3.00", key="spent")
    project.monthly_budget_usd = Decimal("12")
    project.save()
    body = artist_client.get(reverse("pipeline:dashboard", args=["noir_city"])).content.decode()
    assert "Spent this month" in body and "$3.00" in body and "$9.00 left" in body
    assert 'value="25"' in body  # the meter: 25% spent
    partial = artist_client.get(reverse("pipeline:dashboard", args=["noir_city"]), **HX)
    assert "$9.00 left" in partial.content.decode()


def test_the_plan_page_shows_why_confirming_was_refused(artist_client, scene_project, user):
    dry = submit_run(project=scene_project, user=user, stage="style", provider="openai")
    scene_project.monthly_budget_usd = Decimal("0.05")
    scene_project.save()
    response = artist_client.post(reverse("pipeline:run_confirm", args=["noir_city", dry.uid]))
    body = response.content.decode()
    assert response.status_code == 400
    assert "only $0.05 of this month" in body and "raise the monthly budget in Settings" in body
    assert Run.objects.filter(mode="run").count() == 0
