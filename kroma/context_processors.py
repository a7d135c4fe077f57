from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Q
from django.http import HttpRequest

from projects.models import Project


def kroma(request: HttpRequest) -> dict[str, object]:
    # A queryset is lazy: pages without the sidebar never run it.
    sidebar_projects = Project.objects.visible_to(request.user).annotate(
        run_count=Count("runs", filter=Q(runs__mode="run"))
    )
    return {
        "KROMA_VERSION": settings.VERSION,
        "SINGLE_USER": settings.SINGLE_USER,
        "sidebar_projects": sidebar_projects,
    }
