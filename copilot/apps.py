from __future__ import annotations

from django.apps import AppConfig


class CopilotConfig(AppConfig):
    name = "copilot"
