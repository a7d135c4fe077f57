"""Adding reference images from the browser: scenes, style anchors, character sheets."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from kroma.lib.errors import UserError
from kroma.lib.images import clean_image
from projects.errors import StyleLocked
from projects.models import (
    Asset,
    AuditEvent,
    Character,
    Outfit,
    Project,
    ReferenceSet,
    ReferenceSetItem,
    StyleGuide,
)
from projects.services.assets import store_clean_image
from projects.services.records import next_position
from projects.services.story import panels_from_uploads
from projects.services.style import file_style_references

KINDS = {
    "scene": Asset.Kind.SCENE_REF,
    "style": Asset.Kind.STYLE_REF,
    "character": Asset.Kind.CHARACTER_REF,
}
MAX_FILES = 30


def add_references(
    *,
    project: Project,
    user: AbstractBaseUser,
    kind: str,
    files: list[tuple[str, bytes]],
    character: Character | None = None,
    outfit: Outfit | None = None,
) -> list[Asset]:
    """Validate every file first (nothing is stored if one is bad), then store and file them:
    scenes become panels (one per image, the image as base), style images join its style guide
    (created as a draft if there is none), character images join that character's (or its
    outfit's) reference set.

    Raises ImageRejectedError naming the bad file, or UserError for a wrong kind/character.
    Every image is decoded, re-encoded and hashed first, outside any transaction; then each
    asset row, and then the filing and the audit event in one short transaction.
    """
    if kind not in KINDS:
        raise UserError(f"Unknown kind {kind!r}; use scene, style or character.", field="kind")
    if kind == "character" and (character is None or character.project_id != project.pk):
        raise UserError(
            "Choose one of this project's characters for character references.", field="character"
        )
    if outfit is not None and (character is None or outfit.character_id != character.pk):
        raise UserError("Choose one of this character's outfits.", field="outfit")
    if not files:
        raise UserError("Choose at least one image.", field="images")
    if len(files) > MAX_FILES:
        raise UserError(f"{len(files)} files; add up to {MAX_FILES} at once.", field="images")
    style_guide = _style_target(project) if kind == "style" else None
    cleaned = [
        (name, clean_image(data, name=name, max_pixels=settings.MAX_IMAGE_PIXELS))
        for name, data in files
    ]
    assets = [
        store_clean_image(
            project=project,
            image=image,
            kind=KINDS[kind],
            title=name,
            metadata={"original_name": name},
        )
        for name, image in cleaned
    ]
    with transaction.atomic():
        if kind == "style":
            _file_as_style(project, style_guide, assets)
        elif kind == "scene":
            panels_from_uploads(project=project, actor=user, assets=assets)
        else:
            _file_in_reference_set(project, assets, character, outfit)
        AuditEvent.objects.create(
            project=project,
            actor=user,
            action="references.added",
            target=kind,
            data={"assets": [a.pk for a in assets]},
        )
    return assets


def _style_target(project: Project) -> StyleGuide | None:
    """The guide style images join: the locked one first, and a locked guide is refused
    (StyleLocked) before any file is read; None when there is none yet."""
    guide = StyleGuide.objects.filter(project=project).order_by("-status", "name").first()
    if guide is not None and guide.is_locked:
        raise StyleLocked(guide.name, field="images")
    return guide


def _file_as_style(project: Project, guide: StyleGuide | None, assets: list[Asset]) -> None:
    """Style images join the guide (a draft "Main style" is made if the project has none)."""
    if guide is None:
        guide = StyleGuide.objects.create(project=project, slug="main-style", name="Main style")
    file_style_references(guide, assets)


def _file_in_reference_set(
    project: Project, assets: list[Asset], character: Character, outfit: Outfit | None
) -> None:
    """Character sheets join that character's set, or the set of one of its outfits."""
    if outfit is None:
        slug, name = f"{character.slug}-refs", f"{character.name} references"
    else:
        slug, name = f"{character.slug}-outfit-{outfit.pk}", f"{character.name}: {outfit.name}"
    ref_set, _ = ReferenceSet.objects.get_or_create(
        project=project,
        slug=slug,
        defaults={
            "name": name,
            "kind": ReferenceSet.Kind.CHARACTER,
            "character": character,
            "outfit": outfit,
        },
    )
    for asset in assets:
        ReferenceSetItem.objects.get_or_create(
            reference_set=ref_set,
            asset=asset,
            defaults={"position": next_position(ref_set.items.all())},
        )
