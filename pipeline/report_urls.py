"""URLs under /projects/<slug>/ for the report pages (included by pipeline.urls)."""

from __future__ import annotations

urlpatterns: list = []
