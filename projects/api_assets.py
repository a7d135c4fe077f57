"""API routes of the universe: assets (registered in kroma/api.py)."""

from __future__ import annotations

from ninja import Router

from projects.api_common import AUTH

router = Router(auth=AUTH, tags=["assets"])
