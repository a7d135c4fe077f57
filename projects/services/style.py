"""Setting up style guides: their text and their reference images, every change audited.

A locked guide is refused here (StyleLocked) before anything is read or stored, and again by
the models inside the write, so a lock that lands in between still wins. Locking and
unlocking are projects.services.security.lock_style_guide / unlock_style_guide.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from django.utils.text import slugify

from kroma.lib.errors import UserError
from kroma.lib.images import clean_image
from projects.errors import StyleLocked
from projects.models import Asset, AuditEvent, Project, StyleGuide, StyleReference
from projects.services.assets import store_clean_image

MAX_FILES = 30
NAME_MAX = StyleGuide._meta.get_field("name").max_length


def create_style_guide(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    name: str,
    description: str = "",
    rules: str = "",
) -> StyleGuide:
    """A new draft guide; its slug comes from the name, made unique within the project."""
    name = _clean_name(name)
    slug = _free_slug(project, name)
    with transaction.atomic():
        guide = StyleGuide.objects.create(
            project=project,
            slug=slug,
            name=name,
            description=_lf(description),
            rules=_lf(rules),
        )
        AuditEvent.objects.create(
            project=project,
            actor=user,
            action="style_guide.created",
            target=guide.slug,
            data={"content_sha256": guide.content_sha256},
        )
    return guide


def update_style_guide(
    *,
    guide: StyleGuide,
    user: AbstractBaseUser | None,
    name: str | None = None,
    description: str | None = None,
    rules: str | None = None,
) -> StyleGuide:
    """Change a draft guide's name, description or rules (None: keep it).

    Raises StyleLocked for a locked guide. Saving the same text again changes nothing and
    writes no audit event; line endings are stored as LF, whatever the browser sent.
    """
    wanted = {
        "name": None if name is None else _clean_name(name),
        "description": None if description is None else _lf(description),
        "rules": None if rules is None else _lf(rules),
    }
    with transaction.atomic():
        current = _locked_row(guide)
        if current.is_locked:
            raise StyleLocked(current.name)
        changed = [
            field
            for field, value in wanted.items()
            if value is not None and getattr(current, field) != value
        ]
        if not changed:
            return current
        for field in changed:
            setattr(current, field, wanted[field])
        current.save()
        AuditEvent.objects.create(
            project=current.project,
            actor=user,
            action="style_guide.updated",
            target=current.slug,
            data={"fields": changed, "content_sha256": current.content_sha256},
        )
    return current


def add_style_references(
    *, guide: StyleGuide, user: AbstractBaseUser | None, files: list[tuple[str, bytes]]
) -> list[Asset]:
    """Add images (name, bytes) at the end of a draft guide's references.

    Every file is validated first: one bad file raises ImageRejectedError naming it and
    nothing is stored. Raises StyleLocked for a locked guide before reading any file. An image
    the guide already has is not added twice.
    """
    if StyleGuide.objects.filter(pk=guide.pk, status=StyleGuide.Status.LOCKED).exists():
        raise StyleLocked(guide.name, field="images")
    if not files:
        raise UserError("Choose at least one image.", field="images")
    if len(files) > MAX_FILES:
        raise UserError(f"{len(files)} files; add up to {MAX_FILES} at once.", field="images")
    cleaned = [
        (name, clean_image(data, name=name, max_pixels=settings.MAX_IMAGE_PIXELS))
        for name, data in files
    ]
    assets = [
        store_clean_image(
            project=guide.project,
            image=image,
            kind=Asset.Kind.STYLE_REF,
            title=name,
            metadata={"original_name": name},
        )
        for name, image in cleaned
    ]
    with transaction.atomic():
        current = _locked_row(guide)
        if current.is_locked:
            raise StyleLocked(current.name, field="images")
        file_style_references(current, assets)
        AuditEvent.objects.create(
            project=current.project,
            actor=user,
            action="style_guide.references_added",
            target=current.slug,
            data={
                "assets": [asset.pk for asset in assets],
                "content_sha256": current.content_sha256,
            },
        )
    return assets


def file_style_references(guide: StyleGuide, assets: list[Asset]) -> None:
    """Append assets to a guide's references (inside the caller's transaction)."""
    top = guide.references.aggregate(top=Max("position"))["top"] or 0
    for asset in assets:
        _, created = StyleReference.objects.get_or_create(
            style_guide=guide, asset=asset, defaults={"position": top + 1}
        )
        top += int(created)


def remove_style_reference(
    *, guide: StyleGuide, user: AbstractBaseUser | None, reference_id: int
) -> None:
    """Take one image out of a draft guide; the asset itself stays in the project's assets."""
    with transaction.atomic():
        current = _locked_row(guide)
        if current.is_locked:
            raise StyleLocked(current.name)
        reference = (
            StyleReference.objects.select_related("asset")
            .filter(style_guide=current, pk=reference_id)
            .first()
        )
        if reference is None:
            raise UserError(
                "That image is not one of this guide's references (already removed?).",
                code="not_found",
            )
        asset = reference.asset
        reference.delete()
        AuditEvent.objects.create(
            project=current.project,
            actor=user,
            action="style_guide.reference_removed",
            target=current.slug,
            data={
                "asset": asset.pk,
                "sha256": asset.sha256,
                "content_sha256": current.content_sha256,
            },
        )


def _locked_row(guide: StyleGuide) -> StyleGuide:
    """The guide as stored, its row held until the transaction ends (PostgreSQL)."""
    return (
        StyleGuide.objects.select_for_update(of=("self",))
        .select_related("project")
        .get(pk=guide.pk)
    )


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise UserError("Give the style guide a name.", field="name")
    if len(name) > NAME_MAX:
        raise UserError(f"Keep the name under {NAME_MAX} characters.", field="name")
    return name


def _free_slug(project: Project, name: str) -> str:
    base = slugify(name)[:56].strip("-_") or "style"
    taken = set(
        StyleGuide.objects.filter(project=project, slug__startswith=base).values_list(
            "slug", flat=True
        )
    )
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug


def _lf(text: str) -> str:
    return (text or "").replace("\r\n", "\n").replace("\r", "\n")
