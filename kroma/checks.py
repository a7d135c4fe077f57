"""System checks for settings that would make Kroma lose work or fail at run time."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import checks

SQLITE_WAL_FIX = (3, 51, 3)


@checks.register(checks.Tags.compatibility)
def check_q_cluster(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    conf = settings.Q_CLUSTER
    if conf.get("retry", 0) <= conf.get("timeout", 0):
        return [
            checks.Warning(
                f"Q_CLUSTER retry ({conf.get('retry')}) must be greater than timeout "
                f"({conf.get('timeout')}), or a task that is still running is delivered again.",
                hint="Raise KROMA_TASK_RETRY above KROMA_TASK_TIMEOUT.",
                id="kroma.W001",
            )
        ]
    return []


@checks.register(checks.Tags.compatibility)
def check_models_dir(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if not Path(settings.MODELS_DIR).is_dir():
        return [
            checks.Warning(
                f"The models directory {settings.MODELS_DIR} does not exist; only the small "
                f"defaults in {settings.BUNDLED_WEIGHTS_DIR} can be used.",
                hint="Create it and put larger models there, or set KROMA_MODELS_DIR.",
                id="kroma.W002",
            )
        ]
    return []


def sqlite_version_info() -> tuple[int, ...]:
    return sqlite3.sqlite_version_info


@checks.register(checks.Tags.database)
def check_sqlite_workers(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    engine = settings.DATABASES["default"]["ENGINE"]
    workers = settings.Q_CLUSTER.get("workers", 1)
    version = sqlite_version_info()
    if engine.endswith("sqlite3") and workers > 1 and version < SQLITE_WAL_FIX:
        found = ".".join(map(str, version))
        return [
            checks.Warning(
                f"SQLite {found} has the WAL-reset corruption bug (fixed in 3.51.3) and "
                f"{workers} workers are configured to write at once.",
                hint="Use KROMA_WORKERS=1 with SQLite, or PostgreSQL via DATABASE_URL "
                "(docs/configuration.md).",
                id="kroma.W003",
            )
        ]
    return []


@checks.register(checks.Tags.security)
def check_single_user(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.SINGLE_USER_REQUESTED and not settings.SINGLE_USER:
        return [
            checks.Warning(
                f"KROMA_SINGLE_USER=1 is ignored because Kroma is bound to {settings.BIND}, "
                "not to loopback; everyone must log in.",
                id="kroma.W004",
            )
        ]
    return []
