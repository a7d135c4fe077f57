"""URLs under /projects/<slug>/assets/ (included by projects.urls)."""

from __future__ import annotations

from django.urls import path

from projects import views

urlpatterns = [
    path("", views.asset_list, name="asset_list"),
    path("<int:asset_id>/file", views.asset_file, name="asset_file"),
    path("<int:asset_id>/thumb", views.asset_thumb, name="asset_thumb"),
]
