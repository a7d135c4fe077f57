"""Small pieces every universe service shares: the audit event and the next list position."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Max, QuerySet

from projects.models import AuditEvent, Project


def audit(
    project: Project, actor: AbstractBaseUser | None, action: str, target: str, **data: Any
) -> AuditEvent:
    """Record one change (who, what, on which row) in the project's audit trail."""
    return AuditEvent.objects.create(
        project=project, actor=actor, action=action, target=str(target)[:200], data=data
    )


def next_position(queryset: QuerySet) -> int:
    """One past the highest `position` in `queryset` (1 for an empty list)."""
    return (queryset.aggregate(top=Max("position"))["top"] or 0) + 1
