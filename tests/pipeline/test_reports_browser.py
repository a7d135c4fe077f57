"""Reports and budgets in a real browser (Debian chromium): keyboard, htmx swaps, 390 px wide."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from pipeline.models import CostEvent
from tests import test_browser

browser_page = test_browser.browser_page  # the suite's chromium fixture


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_budgets_are_set_from_the_keyboard_and_the_reports_follow(
    live_server, browser_page, project, user
):
    CostEvent.objects.create(
        project=project,
        provider="openai",
        model="gpt-image-1",
        operation="images.edit",
        usd=Decimal("1.50"),
        idempotency_key="spent",
    )
    page = browser_page
    test_browser._login(page, live_server)
    page.goto(f"{live_server.url}/projects/noir_city/settings/#budgets")
    budget = page.get_by_label("Monthly budget (USD)")
    budget.focus()
    page.keyboard.type("6")
    page.keyboard.press("Tab")
    page.keyboard.type("-1")  # the cap per run: refused at its field
    page.keyboard.press("Enter")
    expect(page.locator("#budgets .field-error")).to_contain_text("greater than or equal to 0")
    page.get_by_label("Cap per run (USD)").fill("2")
    page.get_by_role("button", name="Save budgets").press("Enter")
    expect(page.locator("#budgets .saved-note")).to_have_text("Budgets saved.")
    expect(page.locator("#budgets")).to_contain_text("$4.50 left")
    project.refresh_from_db()
    assert (project.monthly_budget_usd, project.run_cap_usd) == (Decimal("6"), Decimal("2"))

    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"{live_server.url}/projects/noir_city/reports/")
    expect(page.locator(".budget-card")).to_contain_text("$4.50 left")
    expect(page.locator("#qa")).to_contain_text("No QA reports yet")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # The span of the spend per day changes from the keyboard; only that region is swapped.
    page.get_by_label("Spend over").select_option("7")
    expect(page.locator("#spend-day-title")).to_have_text("Spend per day, last 7 days (UTC)")
    expect(page.locator("#costs")).to_contain_text("$1.50 in the last 7 days.")
    assert page.url.endswith("/reports/?days=7")
    expect(page.locator(".budget-card")).to_be_visible()  # the rest of the page stayed
    chart = page.locator(".chart-scroll").first
    chart.focus()
    expect(chart).to_be_focused()  # a chart wider than the screen scrolls from the keyboard
