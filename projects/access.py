"""Every project lookup from a request goes through here: other users' projects are 404."""

from __future__ import annotations

from django.http import Http404

from projects.models import Project


def get_project_for_user(user: object, slug: str) -> Project:
    project = Project.objects.visible_to(user).select_related("storage").filter(slug=slug).first()
    if project is None:
        raise Http404("No such project.")
    return project
