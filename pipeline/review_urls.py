"""URLs under /projects/<slug>/ for the review pages (included by pipeline.urls)."""

from __future__ import annotations

urlpatterns: list = []
