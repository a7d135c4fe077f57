from __future__ import annotations

from django.apps import AppConfig


class KromaConfig(AppConfig):
    name = "kroma"
    verbose_name = "Kroma"

    def ready(self) -> None:
        from kroma import checks  # noqa: F401  (registers system checks)
