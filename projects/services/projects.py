"""Creating and editing projects: the rules live here, forms and the API only call them."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from kroma.lib.errors import Conflict, UserError
from projects.models import AuditEvent, Project, ProjectStorage, slug_validator

# First path segments Kroma's own URLs use under /projects/ and at the root.
RESERVED_SLUGS = {"new", "admin", "api", "lab", "static", "soon"}


def slug_from_name(name: str) -> str:
    return slugify(name).replace("-", "_")[:64].strip("_-")


def new_project_slug(*, name: str, slug: str = "") -> str:
    """The slug a new project gets (given, or derived from the name), or a UserError saying why
    not; the error's field is `slug` when one was given, else `name`."""
    field = "slug" if slug else "name"
    name = (name or "").strip()
    if not name:
        raise UserError("Give the project a name.", code="name_missing", field="name")
    if len(name) > Project._meta.get_field("name").max_length:
        raise UserError("The name is longer than 120 characters.", code="too_long", field="name")
    slug = slug or slug_from_name(name)
    if not slug:
        raise UserError(
            "The name needs at least one letter or digit.", code="slug_empty", field="name"
        )
    try:
        slug_validator(slug)
    except ValidationError as exc:
        raise UserError(" ".join(exc.messages), code="slug_invalid", field=field) from None
    if slug in RESERVED_SLUGS:
        raise UserError(
            f"“{slug}” is reserved by Kroma's own pages; choose another slug.",
            code="slug_reserved",
            field=field,
        )
    if Project.objects.filter(slug=slug).exists():
        raise Conflict(
            f"A project with the slug “{slug}” already exists; choose another.",
            code="slug_taken",
            field=field,
        )
    return slug


@transaction.atomic
def create_project(*, owner: AbstractBaseUser, name: str, slug: str = "", **story: str) -> Project:
    """Create a project with local storage; raises UserError (with its field) for bad input."""
    slug = new_project_slug(name=name, slug=slug)
    project = Project.objects.create(owner=owner, name=name.strip(), slug=slug, **story)
    ProjectStorage.objects.create(project=project)
    AuditEvent.objects.create(
        project=project, actor=owner, action="project.created", target=project.slug
    )
    return project


def update_story(*, project: Project, actor: AbstractBaseUser, **fields: str) -> Project:
    allowed = {"name", "logline", "setting", "tone", "notes"}
    unknown = set(fields) - allowed
    if unknown:
        raise UserError(f"Cannot edit {', '.join(sorted(unknown))} through update_story.")
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
