"""Edits the JSON API needed that no studio page had a service for, each audited.

Chapters and pages (retitle, re-layout, delete when empty), deleting a style guide, and
reference sets with their items (an item is an existing asset of the project). Story panels,
characters, outfits, locks and secrets have their services in story.py, characters.py,
style.py and security.py.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from kroma.lib.errors import Conflict, UserError
from projects.errors import StyleLocked
from projects.models import (
    Asset,
    Chapter,
    Character,
    Layout,
    Outfit,
    Page,
    Project,
    ReferenceSet,
    ReferenceSetItem,
    StyleGuide,
    slug_validator,
)
from projects.services.records import audit, next_position

REFERENCE_SET_LIMITS = {"name": 120, "description": 4000}


def _text(value: str | None, field: str, size: int) -> str:
    value = (value or "").strip()
    if len(value) > size:
        raise UserError(f"{len(value)} characters; at most {size}.", code="too_long", field=field)
    return value


# --- chapters and pages ---------------------------------------------------------------------


def update_chapter(*, chapter: Chapter, actor: AbstractBaseUser | None, title: str) -> Chapter:
    title = _text(title, "title", 120)
    if title != chapter.title:
        with transaction.atomic():
            old, chapter.title = chapter.title, title
            chapter.save(update_fields=["title"])
            audit(chapter.project, actor, "story.chapter_changed", str(chapter), was=old)
    return chapter


def delete_chapter(*, chapter: Chapter, actor: AbstractBaseUser | None) -> None:
    """Delete a chapter and its empty pages; one with panels is refused (Conflict)."""
    if chapter.pages.filter(panels__isnull=False).exists():
        raise Conflict(
            "This chapter has panels: move or delete them first.", code="not_empty", field="chapter"
        )
    with transaction.atomic():
        audit(chapter.project, actor, "story.chapter_deleted", str(chapter), chapter=chapter.pk)
        chapter.delete()


def update_page(
    *,
    page: Page,
    actor: AbstractBaseUser | None,
    title: str | None = None,
    layout: str | None = None,
    chapter: Chapter | None = None,
) -> Page:
    """Retitle a page, choose its layout preset, or move it to the end of another chapter."""
    changed: dict[str, Any] = {}
    if title is not None and (title := _text(title, "title", 120)) != page.title:
        changed["title"] = title
    if layout is not None and layout != page.layout:
        if layout not in Layout.values:
            raise UserError(f"Choose a layout: {', '.join(Layout.values)}.", field="layout")
        changed["layout"] = layout
    if chapter is not None and chapter.pk != page.chapter_id:
        if chapter.project_id != page.project_id:
            raise UserError("Choose a chapter of this project.", field="chapter")
        changed["chapter"] = chapter
        changed["position"] = next_position(chapter.pages.all())
    if not changed:
        return page
    with transaction.atomic():
        for name, value in changed.items():
            setattr(page, name, value)
        page.save(update_fields=list(changed))
        audit(page.project, actor, "story.page_changed", f"page {page.pk}", fields=sorted(changed))
    return page


def delete_page(*, page: Page, actor: AbstractBaseUser | None) -> None:
    """Delete an empty page; one with panels is refused (Conflict)."""
    if page.panels.exists():
        raise Conflict(
            "This page has panels: move or delete them first.", code="not_empty", field="page"
        )
    with transaction.atomic():
        audit(page.project, actor, "story.page_deleted", f"page {page.pk}", chapter=page.chapter_id)
        page.delete()


# --- style guides ---------------------------------------------------------------------------


def delete_style_guide(*, guide: StyleGuide, user: AbstractBaseUser | None) -> None:
    """Delete a draft guide (its reference images stay in the assets); a locked one is refused."""
    with transaction.atomic():
        if StyleGuide.objects.filter(pk=guide.pk, status=StyleGuide.Status.LOCKED).exists():
            raise StyleLocked(guide.name)
        audit(
            guide.project,
            user,
            "style_guide.deleted",
            guide.slug,
            content_sha256=guide.content_sha256,
        )
        guide.delete()


# --- reference sets -------------------------------------------------------------------------


def _set_owner(
    project: Project, kind: str, character: Character | None, outfit: Outfit | None
) -> None:
    if kind not in ReferenceSet.Kind.values:
        known = ", ".join(ReferenceSet.Kind.values)
        raise UserError(f"Unknown kind {kind!r}; use {known}.", field="kind")
    if character is not None and character.project_id != project.pk:
        raise UserError("Choose one of this project's characters.", field="character")
    if kind == ReferenceSet.Kind.CHARACTER and character is None:
        raise UserError("A character set needs its character.", field="character")
    if outfit is not None and (character is None or outfit.character_id != character.pk):
        raise UserError("Choose one of this character's outfits.", field="outfit")


def create_reference_set(
    *,
    project: Project,
    actor: AbstractBaseUser | None,
    slug: str,
    name: str,
    kind: str,
    description: str = "",
    character: Character | None = None,
    outfit: Outfit | None = None,
) -> ReferenceSet:
    try:
        slug_validator(slug)
    except ValidationError as exc:
        raise UserError(" ".join(exc.messages), code="bad_slug", field="slug") from None
    name = _text(name, "name", REFERENCE_SET_LIMITS["name"])
    if not name:
        raise UserError("Give the set a name.", code="required", field="name")
    _set_owner(project, kind, character, outfit)
    if ReferenceSet.objects.filter(project=project, slug=slug).exists():
        raise Conflict(f"A reference set {slug!r} exists already.", code="taken", field="slug")
    try:
        with transaction.atomic():
            ref_set = ReferenceSet.objects.create(
                project=project,
                slug=slug,
                name=name,
                kind=kind,
                description=_text(description, "description", 4000),
                character=character,
                outfit=outfit,
            )
            audit(project, actor, "reference_set.created", slug, reference_set=ref_set.pk)
    except IntegrityError:
        raise Conflict(f"A reference set {slug!r} exists already.", field="slug") from None
    return ref_set


def update_reference_set(
    *,
    ref_set: ReferenceSet,
    actor: AbstractBaseUser | None,
    name: str | None = None,
    description: str | None = None,
) -> ReferenceSet:
    changed = {}
    if name is not None:
        if not (name := _text(name, "name", REFERENCE_SET_LIMITS["name"])):
            raise UserError("Give the set a name.", code="required", field="name")
        changed["name"] = name
    if description is not None:
        changed["description"] = _text(description, "description", 4000)
    changed = {k: v for k, v in changed.items() if getattr(ref_set, k) != v}
    if changed:
        with transaction.atomic():
            for field, value in changed.items():
                setattr(ref_set, field, value)
            ref_set.save(update_fields=list(changed))
            audit(
                ref_set.project,
                actor,
                "reference_set.changed",
                ref_set.slug,
                fields=sorted(changed),
            )
    return ref_set


def delete_reference_set(*, ref_set: ReferenceSet, actor: AbstractBaseUser | None) -> None:
    """Delete a set and its items; the images stay in the project's assets."""
    with transaction.atomic():
        kept = list(ref_set.items.values_list("asset_id", flat=True))
        audit(ref_set.project, actor, "reference_set.deleted", ref_set.slug, kept_assets=kept)
        ref_set.delete()


def add_reference_item(
    *,
    ref_set: ReferenceSet,
    actor: AbstractBaseUser | None,
    asset: Asset,
    notes: str = "",
) -> ReferenceSetItem:
    """File an asset of the project at the end of a set (once per set: Conflict on a repeat)."""
    if asset.project_id != ref_set.project_id:
        raise UserError("Choose an image of this project.", field="asset")
    notes = _text(notes, "notes", 300)
    if ref_set.items.filter(asset=asset).exists():
        raise Conflict("That image is in this set already.", code="taken", field="asset")
    with transaction.atomic():
        item = ReferenceSetItem.objects.create(
            reference_set=ref_set,
            asset=asset,
            notes=notes,
            position=next_position(ref_set.items.all()),
        )
        audit(ref_set.project, actor, "reference_set.item_added", ref_set.slug, asset=asset.pk)
    return item


def update_reference_item(
    *,
    item: ReferenceSetItem,
    actor: AbstractBaseUser | None,
    notes: str | None = None,
    position: int | None = None,
) -> ReferenceSetItem:
    changed: dict[str, Any] = {}
    if notes is not None and (notes := _text(notes, "notes", 300)) != item.notes:
        changed["notes"] = notes
    if position is not None and position != item.position:
        changed["position"] = position
    if changed:
        with transaction.atomic():
            for field, value in changed.items():
                setattr(item, field, value)
            item.save(update_fields=list(changed))
            audit(
                item.reference_set.project,
                actor,
                "reference_set.item_changed",
                item.reference_set.slug,
                asset=item.asset_id,
                fields=sorted(changed),
            )
    return item


def remove_reference_item(*, item: ReferenceSetItem, actor: AbstractBaseUser | None) -> None:
    """Take an image out of a set; it stays in the project's assets."""
    with transaction.atomic():
        audit(
            item.reference_set.project,
            actor,
            "reference_set.item_removed",
            item.reference_set.slug,
            asset=item.asset_id,
        )
        item.delete()
