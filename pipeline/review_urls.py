"""URLs under /projects/<slug>/ for the review pages (included by pipeline.urls)."""

from __future__ import annotations

from django.urls import path

from pipeline import review_views

urlpatterns = [
    path("runs/<slug:uid>/review/", review_views.review_run, name="review_run"),
    path("story/panels/<int:panel_id>/review/", review_views.review_panel, name="review_panel"),
    path(
        "review/candidates/<int:candidate_id>/rate/",
        review_views.review_rate,
        name="review_rate",
    ),
    path(
        "review/candidates/<int:candidate_id>/pick/",
        review_views.review_pick,
        name="review_pick",
    ),
]
