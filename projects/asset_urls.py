"""URLs under /projects/<slug>/assets/ (included by projects.urls)."""

from __future__ import annotations

from django.urls import path

from projects import asset_views

urlpatterns = [
    path("", asset_views.asset_list, name="asset_list"),
    path("upload", asset_views.asset_upload, name="asset_upload"),
    path("bulk", asset_views.asset_bulk, name="asset_bulk"),
    path("<int:asset_id>/", asset_views.asset_detail, name="asset_detail"),
    path("<int:asset_id>/file", asset_views.asset_file, name="asset_file"),
    path("<int:asset_id>/thumb", asset_views.asset_thumb, name="asset_thumb"),
]
