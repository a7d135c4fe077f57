"""Directing the story: chapters, pages, panels and their casts. Every change is audited.

Panels are created one by one, from uploads (one per image, the image as base) or by pasting a
script: one panel per `PANEL n:` line, or per paragraph when there are none; `PAGE n` and
`CHAPTER n` lines start a new page or chapter. A pasted panel whose text names a character gets
that character in its cast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.text import slugify

from kroma.lib.errors import UserError
from projects.models import (
    Asset,
    CastMember,
    Chapter,
    Character,
    Outfit,
    Page,
    Panel,
    Project,
    aspect_for,
)
from projects.services.records import audit, next_position

MAX_PANELS_PER_PASTE = 200
PANEL_FIELDS = ("title", "script", "shot", "camera", "aspect", "base_asset")
CAST_FIELDS = ("pose", "expression", "notes")
_MARKER = re.compile(
    r"^\s*(panel|page|chapter)\s*(\d+)\s*(?:[:.)\-\u2013\u2014]\s*(.*))?$", re.IGNORECASE
)


def _limit(value: str, field: str, size: int) -> str:
    value = (value or "").strip()
    if len(value) > size:
        raise UserError(f"{len(value)} characters; at most {size}.", code="too_long", field=field)
    return value


def panel_key(project: Project, title: str, *, exclude: int | None = None) -> str:
    """A free slug for a panel from its title: 'harbor', 'harbor-2', ..."""
    base = slugify(title) or "panel"
    if len(base) > 32:  # short keys read well in logs and commands: cut at a word
        base = base[:33].rsplit("-", 1)[0]
    base = base.strip("-_") or "panel"
    taken = set(
        Panel.objects.filter(project=project, key__startswith=base)
        .exclude(pk=exclude)
        .values_list("key", flat=True)
    )
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    return key


# --- chapters and pages -----------------------------------------------------------------------


def add_chapter(*, project: Project, actor: AbstractBaseUser | None, title: str = "") -> Chapter:
    title = _limit(title, "title", 120)
    with transaction.atomic():
        chapter = Chapter.objects.create(
            project=project, title=title, position=next_position(project.chapters.all())
        )
        audit(project, actor, "story.chapter_added", str(chapter), chapter=chapter.pk)
    return chapter


def add_page(
    *, project: Project, actor: AbstractBaseUser | None, chapter: Chapter | None = None
) -> Page:
    with transaction.atomic():
        chapter = chapter or project.chapters.last() or add_chapter(project=project, actor=actor)
        if chapter.project_id != project.pk:
            raise UserError("Choose a chapter of this project.", field="chapter")
        page = Page.objects.create(
            project=project, chapter=chapter, position=next_position(chapter.pages.all())
        )
        audit(project, actor, "story.page_added", f"{chapter} / {page}", page=page.pk)
    return page


def default_page(project: Project, actor: AbstractBaseUser | None) -> Page:
    """The last page of the last chapter (made when the story has none yet)."""
    page = Page.objects.filter(project=project).order_by(
        "-chapter__position", "-chapter_id", "-position", "-id"
    )
    return page.first() or add_page(project=project, actor=actor)


# --- panels ---------------------------------------------------------------------------------


def _clean_panel_fields(project: Project, fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(PANEL_FIELDS)
    if unknown:
        raise UserError(f"Unknown panel field(s): {', '.join(sorted(unknown))}.", field="panel")
    clean = dict(fields)
    for name, size in (("title", 120), ("script", 4000), ("shot", 120), ("camera", 120)):
        if name in clean:
            clean[name] = _limit(clean[name], name, size)
    if "title" in clean and not clean["title"]:
        raise UserError("Give the panel a title.", code="required", field="title")
    if "aspect" in clean and clean["aspect"] not in Panel.Aspect.values:
        raise UserError(
            f"Unknown aspect {clean['aspect']!r}; use {', '.join(Panel.Aspect.values)}.",
            field="aspect",
        )
    base = clean.get("base_asset")
    if base is not None and base.project_id != project.pk:
        raise UserError("Choose an image of this project.", field="base_asset")
    return clean


def create_panel(
    *,
    project: Project,
    actor: AbstractBaseUser | None,
    title: str,
    page: Page | None = None,
    key: str = "",
    **fields: Any,
) -> Panel:
    """A new panel at the end of `page` (default: the story's last page); `key` defaults to a
    free slug of the title."""
    fields = _clean_panel_fields(project, {"title": title, **fields})
    if key and (
        not re.fullmatch(r"[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?", key)
        or Panel.objects.filter(project=project, key=key).exists()
    ):
        raise UserError(f"{key!r} is not a free panel key.", code="bad_key", field="key")
    if page is not None and page.project_id != project.pk:
        raise UserError("Choose a page of this project.", field="page")
    base = fields.get("base_asset")
    if base is not None and "aspect" not in fields:
        fields["aspect"] = aspect_for(base.width, base.height)
    with transaction.atomic():
        page = page or default_page(project, actor)
        panel = Panel.objects.create(
            project=project,
            page=page,
            key=key or panel_key(project, fields["title"]),
            position=next_position(page.panels.all()),
            **fields,
        )
        audit(project, actor, "story.panel_added", panel.key, panel=panel.pk)
    return panel


def update_panel(*, panel: Panel, actor: AbstractBaseUser | None, **fields: Any) -> Panel:
    fields = _clean_panel_fields(panel.project, fields)
    changed = {k: v for k, v in fields.items() if getattr(panel, k) != v}
    if not changed:
        return panel
    for name, value in changed.items():
        setattr(panel, name, value)
    with transaction.atomic():
        panel.save(update_fields=[*changed, "updated_at"])
        audit(panel.project, actor, "story.panel_changed", panel.key, fields=sorted(changed))
    return panel


def panels_from_uploads(
    *, project: Project, actor: AbstractBaseUser | None, assets: list[Asset]
) -> list[Panel]:
    """One panel per uploaded image, named after the file, the image as its base."""
    from pathlib import PurePosixPath

    with transaction.atomic():
        return [
            create_panel(
                project=project,
                actor=actor,
                title=PurePosixPath(asset.metadata.get("original_name") or asset.title).stem[:120]
                or f"Panel {asset.pk}",
                base_asset=asset,
            )
            for asset in assets
        ]


@dataclass(frozen=True)
class ScriptPanel:
    chapter: int | None
    page: int | None
    text: str
    title: str = ""  # a "PANEL n: Title" line followed by the panel's lines


def parse_script(text: str) -> list[ScriptPanel]:
    """Split a pasted script into panels (see the module docstring); blank text gives none."""
    lines = (text or "").replace("\r\n", "\n").split("\n")
    uses_markers = any(
        (m := _MARKER.match(line)) and m.group(1).lower() == "panel" for line in lines
    )
    panels: list[ScriptPanel] = []
    chapter = page = None
    current: list[str] | None = None

    def flush() -> None:
        lines = list(current or [])
        title = ""
        has_title = uses_markers and len(lines) > 1 and lines[0].strip()
        if has_title and any(line.strip() for line in lines[1:]):
            title = lines.pop(0).strip()[:120]
        body = "\n".join(lines).strip()
        if body or title or (uses_markers and current is not None):
            panels.append(ScriptPanel(chapter, page, body, title))

    for line in lines:
        marker = _MARKER.match(line)
        kind = marker.group(1).lower() if marker else None
        if kind in ("chapter", "page"):
            flush()
            current = None
            if kind == "chapter":
                chapter, page = int(marker.group(2)), None
            else:
                page = int(marker.group(2))
            continue
        if uses_markers:
            if kind == "panel":
                flush()
                current = [marker.group(3) or ""]
            elif current is not None:
                current.append(line)
        elif line.strip():
            current = [*(current or []), line]
        else:
            flush()
            current = None
    flush()
    return panels


def _title_from(text: str, fallback: str) -> str:
    first = re.split(r"(?<=[.!?])\s|\n", text.strip(), maxsplit=1)[0].strip()
    if not first:
        return fallback
    return first if len(first) <= 60 else first[:57].rsplit(" ", 1)[0] + "…"


def _named_characters(project: Project, text: str) -> list[Character]:
    """The characters a panel's text names (full or first name), in the order it names them."""
    found = []
    for character in project.characters.all():
        names = {character.name, character.name.split()[0]} if character.name.strip() else set()
        hits = [
            m.start()
            for n in names
            if (m := re.search(rf"\b{re.escape(n)}\b", text, re.IGNORECASE))
        ]
        if hits:
            found.append((min(hits), character))
    return [character for _, character in sorted(found, key=lambda hit: hit[0])]


def panels_from_script(
    *, project: Project, actor: AbstractBaseUser | None, text: str, page: Page | None = None
) -> list[Panel]:
    """Create the panels a pasted script describes, after the story's last page (or on `page`)."""
    parsed = parse_script(text)
    if not parsed:
        raise UserError(
            "No panels found: write one paragraph per panel, or lines like 'PANEL 1: …'.",
            code="empty_script",
            field="script",
        )
    if len(parsed) > MAX_PANELS_PER_PASTE:
        raise UserError(
            f"{len(parsed)} panels; paste at most {MAX_PANELS_PER_PASTE} at once.", field="script"
        )
    for n, item in enumerate(parsed, start=1):
        if len(item.text) > 4000:
            raise UserError(
                f"Panel {n}: {len(item.text)} characters; at most 4000.", field="script"
            )
    panels = []
    with transaction.atomic():
        target = page or default_page(project, actor)
        marks: tuple[int | None, int | None] = (None, None)
        for item in parsed:
            # A new PAGE/CHAPTER line starts a new page; so does the first one when the story
            # already has panels there (a pasted "PAGE 2" never lands on page 1).
            started = bool(panels) or target.panels.exists()
            if (item.chapter, item.page) != marks and page is None and started:
                if item.chapter != marks[0]:
                    chapter = add_chapter(project=project, actor=actor)
                    target = add_page(project=project, actor=actor, chapter=chapter)
                else:
                    target = add_page(project=project, actor=actor, chapter=target.chapter)
            marks = (item.chapter, item.page)
            number = next_position(target.panels.all())
            panel = create_panel(
                project=project,
                actor=actor,
                title=item.title or _title_from(item.text, f"Panel {number}"),
                page=target,
                script=item.text,
            )
            set_cast(
                panel=panel,
                actor=None,
                entries=[
                    {"character": c}
                    for c in _named_characters(project, f"{item.title}\n{item.text}")
                ],
            )
            panels.append(panel)
        audit(project, actor, "story.script_pasted", f"{len(panels)} panels", count=len(panels))
    return panels


def move_panel(
    *,
    panel: Panel,
    actor: AbstractBaseUser | None,
    direction: str | None = None,
    page: Page | None = None,
    position: int | None = None,
) -> Panel:
    """Move a panel one place up or down, or to a position (1-based) on a page."""
    target = page or panel.page
    if target.project_id != panel.project_id:
        raise UserError("Choose a page of this project.", field="page")
    with transaction.atomic():
        siblings = list(
            Panel.objects.select_for_update()
            .filter(page=target)
            .exclude(pk=panel.pk)
            .order_by("position", "id")
        )
        current = [p.pk for p in Panel.objects.filter(page=panel.page).order_by("position", "id")]
        index = current.index(panel.pk) if target == panel.page else len(siblings)
        if direction is not None:
            if direction not in ("up", "down"):
                raise UserError("Move a panel 'up' or 'down'.", field="direction")
            index += -1 if direction == "up" else 1
        elif position is not None:
            index = position - 1
        index = max(0, min(index, len(siblings)))
        siblings.insert(index, panel)
        panel.page = target
        for n, sibling in enumerate(siblings, start=1):
            sibling.position = n
        Panel.objects.bulk_update(siblings, ["page", "position"])
        audit(panel.project, actor, "story.panel_moved", panel.key, page=target.pk, to=index + 1)
    return panel


def delete_panel(*, panel: Panel, actor: AbstractBaseUser | None) -> None:
    """Delete the panel; its images (base, candidates, outputs) stay in the project's assets."""
    with transaction.atomic():
        audit(
            panel.project,
            actor,
            "story.panel_deleted",
            panel.key,
            title=panel.title,
            script=panel.script,
            base_asset=panel.base_asset_id,
        )
        panel.delete()


def set_cast(
    *, panel: Panel, actor: AbstractBaseUser | None, entries: list[dict[str, Any]]
) -> list[CastMember]:
    """Replace a panel's cast: entries of {character, outfit, pose, expression, notes}."""
    rows, seen = [], set()
    for n, entry in enumerate(entries):
        character, outfit = entry.get("character"), entry.get("outfit")
        field = f"cast.{n}"
        if not isinstance(character, Character) or character.project_id != panel.project_id:
            raise UserError("Choose one of this project's characters.", field=f"{field}.character")
        if character.pk in seen:
            raise UserError(f"{character.name} is in the cast twice.", field=f"{field}.character")
        seen.add(character.pk)
        if outfit is not None and (
            not isinstance(outfit, Outfit) or outfit.character_id != character.pk
        ):
            raise UserError(f"Choose one of {character.name}'s outfits.", field=f"{field}.outfit")
        extra = {
            k: _limit(entry.get(k, ""), f"{field}.{k}", 300 if k == "notes" else 200)
            for k in CAST_FIELDS
        }
        rows.append(
            CastMember(panel=panel, character=character, outfit=outfit, position=n, **extra)
        )
    with transaction.atomic():
        panel.cast.all().delete()
        CastMember.objects.bulk_create(rows)
        if actor is not None:
            audit(
                panel.project,
                actor,
                "story.cast_changed",
                panel.key,
                cast=[r.character.slug for r in rows],
            )
    return rows


def set_base_image(
    *, panel: Panel, actor: AbstractBaseUser | None, name: str, data: bytes
) -> Panel:
    """Store an uploaded sketch, layout or photo and make it the panel's base image."""
    from projects.services.assets import store_image

    asset = store_image(
        project=panel.project,
        data=data,
        kind=Asset.Kind.SCENE_REF,
        name=name,
        metadata={"original_name": name},
    )
    return update_panel(panel=panel, actor=actor, base_asset=asset)
