"""django-q2 entry points: thin wrappers that take ids, fetch, and call a service."""

from __future__ import annotations

import socket

from django.utils import timezone

from pipeline.models import WorkerHeartbeat


def heartbeat() -> None:
    """Scheduled every minute; /health reports how long ago a worker last ran it."""
    WorkerHeartbeat.objects.update_or_create(
        name=socket.gethostname(), defaults={"seen_at": timezone.now()}
    )
