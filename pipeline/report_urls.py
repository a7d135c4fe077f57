"""URLs under /projects/<slug>/ for the report pages (included by pipeline.urls)."""

from __future__ import annotations

from django.urls import path

from pipeline import report_views, settings_views

urlpatterns = [
    path("reports/", report_views.reports, name="reports"),
    path("runs/<slug:uid>/report/", report_views.run_report, name="run_report"),
    # The budgets live on the Settings page; their form posts here.
    path("settings/budgets/", settings_views.settings_budgets_save, name="settings_budgets_save"),
]
