"""Creating and editing projects."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.text import slugify

from projects.models import AuditEvent, Project, ProjectStorage


def slug_from_name(name: str) -> str:
    return slugify(name).replace("-", "_")[:64].strip("_-")


@transaction.atomic
def create_project(*, owner: AbstractBaseUser, name: str, slug: str = "", **story: str) -> Project:
    """Create a project with local storage. Callers validate input first (forms/schemas)."""
    project = Project.objects.create(
        owner=owner, name=name.strip(), slug=slug or slug_from_name(name), **story
    )
    ProjectStorage.objects.create(project=project)
    AuditEvent.objects.create(
        project=project, actor=owner, action="project.created", target=project.slug
    )
    return project


def update_story(*, project: Project, actor: AbstractBaseUser, **fields: str) -> Project:
    allowed = {"name", "logline", "setting", "tone", "notes"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"Cannot edit {', '.join(sorted(unknown))} through update_story.")
    for key, value in fields.items():
        setattr(project, key, value)
    with transaction.atomic():
        project.save(update_fields=[*fields, "updated_at"])
        AuditEvent.objects.create(
            project=project,
            actor=actor,
            action="project.story_updated",
            target=project.slug,
            data={"fields": sorted(fields)},
        )
    return project
