"""URLs under /projects/<slug>/ for the export pages (included by pipeline.urls)."""

from __future__ import annotations

from django.urls import path

from pipeline import export_views

urlpatterns = [
    path("pages/", export_views.pages, name="pages"),
    path("pages/settings/", export_views.layout_settings, name="layout_settings"),
    path("pages/<int:page_id>/layout/", export_views.page_layout, name="page_layout"),
    path("exports/", export_views.export_list, name="exports"),
    path("exports/new/", export_views.export_new, name="export_new"),
    path(
        "exports/<int:export_id>/download/",
        export_views.export_download,
        name="export_download",
    ),
]
