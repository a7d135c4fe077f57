"""Characters and their outfits, created and edited in the studio. Every change is audited."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from kroma.lib.errors import UserError
from projects.models import (
    Asset,
    Character,
    Outfit,
    Project,
    ReferenceSet,
    ReferenceSetItem,
)
from projects.services.records import audit
from projects.services.references import add_references

CHARACTER_LIMITS = {"name": 120, "description": 4000, "continuity_notes": 2000}
OUTFIT_LIMITS = {"name": 80, "description": 2000}


def _clean(fields: dict[str, Any], limits: dict[str, int]) -> dict[str, str]:
    unknown = set(fields) - set(limits)
    if unknown:
        raise UserError(f"Unknown field(s): {', '.join(sorted(unknown))}.", field="form")
    clean = {}
    for name, value in fields.items():
        value = str(value or "").strip()
        if len(value) > limits[name]:
            raise UserError(
                f"{len(value)} characters; at most {limits[name]}.", code="too_long", field=name
            )
        clean[name] = value
    if "name" in clean and not clean["name"]:
        raise UserError("Give it a name.", code="required", field="name")
    return clean


def _free_slug(project: Project, name: str) -> str:
    base = (slugify(name) or "character")[:56].strip("-_") or "character"
    taken = set(project.characters.filter(slug__startswith=base).values_list("slug", flat=True))
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def _refuse_taken_name(project: Project, name: str, exclude: Character | None = None) -> None:
    taken = project.characters.filter(name__iexact=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise UserError(f"There is already a character named {name}.", code="taken", field="name")


def _refuse_taken_outfit_name(
    character: Character, name: str, exclude: Outfit | None = None
) -> None:
    taken = character.outfits.filter(name__iexact=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise UserError(
            f"{character.name} already has an outfit named {name}.", code="taken", field="name"
        )


def create_character(
    *, project: Project, actor: AbstractBaseUser | None, name: str, **fields: Any
) -> Character:
    clean = _clean({"name": name, **fields}, CHARACTER_LIMITS)
    _refuse_taken_name(project, clean["name"])
    with transaction.atomic():
        character = Character.objects.create(
            project=project, slug=_free_slug(project, clean["name"]), **clean
        )
        audit(project, actor, "character.created", character.slug, character=character.pk)
    return character


def update_character(
    *, character: Character, actor: AbstractBaseUser | None, **fields: Any
) -> Character:
    clean = _clean(fields, CHARACTER_LIMITS)
    changed = {k: v for k, v in clean.items() if getattr(character, k) != v}
    if not changed:
        return character
    if "name" in changed:
        _refuse_taken_name(character.project, changed["name"], exclude=character)
    for name, value in changed.items():
        setattr(character, name, value)
    with transaction.atomic():
        character.save(update_fields=list(changed))
        audit(character.project, actor, "character.changed", character.slug, fields=sorted(changed))
    return character


def delete_character(*, character: Character, actor: AbstractBaseUser | None) -> None:
    """Delete a character: it leaves every cast; its reference images stay in the assets.

    Its reference sets (its own and its outfits') go with it: a set left without its character
    would be found again by slug when a character of the same name is made, and its sheets
    filed where planning never looks.
    """
    with transaction.atomic():
        panels = list(character.cast_entries.values_list("panel__key", flat=True))
        sets = ReferenceSet.objects.filter(project=character.project, character=character)
        assets = list(
            ReferenceSetItem.objects.filter(reference_set__in=sets).values_list(
                "asset_id", flat=True
            )
        )
        audit(
            character.project,
            actor,
            "character.deleted",
            character.slug,
            name=character.name,
            left_panels=panels,
            kept_assets=assets,
        )
        sets.delete()
        character.delete()


def create_character_with_sheets(
    *,
    project: Project,
    actor: AbstractBaseUser | None,
    name: str,
    files: list[tuple[str, bytes]],
) -> tuple[Character, list[Asset]]:
    """A new character and its first reference sheets from one upload (the universe page).

    A missing, too long or taken name raises UserError at `name` before any file is read.
    The character is created, then the files filed under it with add_references; if they are
    refused (ImageRejectedError naming the file, nothing stored) the character is removed
    again, audited, so a refused upload leaves no half-made character behind.
    """
    clean = _clean({"name": name}, CHARACTER_LIMITS)
    _refuse_taken_name(project, clean["name"])
    if not files:
        raise UserError("Choose at least one image.", code="required", field="images")
    character = create_character(project=project, actor=actor, name=clean["name"])
    try:
        assets = add_references(
            project=project, user=actor, kind="character", files=files, character=character
        )
    except Exception:
        with transaction.atomic():
            audit(
                project,
                actor,
                "character.deleted",
                character.slug,
                name=character.name,
                reason="its first reference upload was refused",
            )
            character.delete()
        raise
    return character, assets


def remove_reference(
    *,
    character: Character,
    actor: AbstractBaseUser | None,
    item_id: int,
    outfit: Outfit | None = None,
) -> ReferenceSetItem:
    """Take one sheet out of a character's own sheets (outfit None) or one outfit's sheets.

    The image stays in the project's assets. Raises UserError (not_found) for an item that is
    not one of those sheets.
    """
    with transaction.atomic():
        item = (
            ReferenceSetItem.objects.select_related("asset")
            .filter(
                pk=item_id,
                reference_set__project=character.project,
                reference_set__character=character,
                reference_set__outfit=outfit,
            )
            .first()
        )
        if item is None:
            whose = "this character's" if outfit is None else f"the {outfit.name} outfit's"
            raise UserError(
                f"That image is not one of {whose} sheets (already removed?).",
                code="not_found",
                field="images",
            )
        target = character.slug if outfit is None else f"{character.slug}/{outfit.name}"
        item.delete()
        audit(
            character.project,
            actor,
            "character.sheet_removed",
            target,
            asset=item.asset_id,
            sha256=item.asset.sha256,
        )
    return item


def add_outfit(
    *, character: Character, actor: AbstractBaseUser | None, name: str, description: str = ""
) -> Outfit:
    clean = _clean({"name": name, "description": description}, OUTFIT_LIMITS)
    _refuse_taken_outfit_name(character, clean["name"])
    try:
        with transaction.atomic():
            outfit = Outfit.objects.create(character=character, **clean)
            audit(character.project, actor, "outfit.created", f"{character.slug}/{outfit.name}")
    except IntegrityError:
        raise UserError(
            f"{character.name} already has an outfit named {clean['name']}.", field="name"
        ) from None
    return outfit


def update_outfit(*, outfit: Outfit, actor: AbstractBaseUser | None, **fields: Any) -> Outfit:
    clean = _clean(fields, OUTFIT_LIMITS)
    changed = {k: v for k, v in clean.items() if getattr(outfit, k) != v}
    if not changed:
        return outfit
    if "name" in changed:
        _refuse_taken_outfit_name(outfit.character, changed["name"], exclude=outfit)
    for name, value in changed.items():
        setattr(outfit, name, value)
    try:
        with transaction.atomic():
            outfit.save(update_fields=list(changed))
            audit(
                outfit.character.project,
                actor,
                "outfit.changed",
                f"{outfit.character.slug}/{outfit.name}",
                fields=sorted(changed),
            )
    except IntegrityError:
        raise UserError(
            f"{outfit.character.name} already has an outfit named {outfit.name}.", field="name"
        ) from None
    return outfit


def delete_outfit(*, outfit: Outfit, actor: AbstractBaseUser | None) -> None:
    """Delete an outfit; casts that wore it keep the character without an outfit."""
    with transaction.atomic():
        audit(
            outfit.character.project,
            actor,
            "outfit.deleted",
            f"{outfit.character.slug}/{outfit.name}",
        )
        outfit.delete()
