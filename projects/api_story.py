"""API routes of the story: chapters, pages and panels with their cast (mounted by api_universe).

A panel's cast is a list of `{character, outfit, pose, expression, notes}`: the character by
slug or id, the outfit by name or id. A body names pages, chapters and assets by id; one of
another project is a 400 on its field, like any other wrong value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema, Status

from kroma.lib.errors import UserError
from projects.api_common import ERRORS, api_project
from projects.api_crud import SLUG, PageQuery, by_id_or, changes, paged
from projects.models import Aspect, Asset, CastMember, Layout, Page, Panel, Project
from projects.services import story
from projects.services.universe_edits import (
    delete_chapter,
    delete_page,
    update_chapter,
    update_page,
)

router = Router(tags=["story"])
POSITION = Field(None, ge=1, le=100_000)


def _one(queryset: Any, pk: int | None, what: str) -> Any:
    found = queryset.filter(pk=pk).first() if pk is not None else None
    if found is None:
        raise Http404(f"No such {what}.")
    return found


def _field_ref(queryset: Any, pk: int, field: str) -> Any:
    """A row a body names by id, or a UserError at that field (another project's included)."""
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise UserError(f"No {field} {pk} in this project.", code="not_found", field=field)
    return found


# --- chapters -----------------------------------------------------------------------------


class ChapterOut(Schema):
    id: int
    position: int
    title: str
    created_at: datetime


class ChapterList(Schema):
    items: list[ChapterOut]
    total: int
    offset: int
    limit: int


class ChapterIn(Schema):
    model_config = {"extra": "forbid"}

    title: str = Field("", max_length=120)


@router.get("/{slug}/chapters", response={200: ChapterList, **ERRORS}, summary="Chapters")
def list_chapters(request: HttpRequest, slug: str, page: Query[PageQuery]):
    return paged(api_project(request, slug).chapters.order_by("position", "pk"), page)


@router.post("/{slug}/chapters", response={201: ChapterOut, **ERRORS})
def create_chapter(request: HttpRequest, slug: str, payload: ChapterIn):
    project = api_project(request, slug, write=True)
    return Status(201, story.add_chapter(project=project, actor=request.user, title=payload.title))


@router.get("/{slug}/chapters/{chapter_id}", response={200: ChapterOut, **ERRORS})
def get_chapter(request: HttpRequest, slug: str, chapter_id: int):
    return _one(api_project(request, slug).chapters, chapter_id, "chapter")


@router.patch("/{slug}/chapters/{chapter_id}", response={200: ChapterOut, **ERRORS})
def patch_chapter(request: HttpRequest, slug: str, chapter_id: int, payload: ChapterIn):
    chapter = _one(api_project(request, slug, write=True).chapters, chapter_id, "chapter")
    return update_chapter(chapter=chapter, actor=request.user, title=payload.title)


@router.delete("/{slug}/chapters/{chapter_id}", response={204: None, **ERRORS})
def remove_chapter(request: HttpRequest, slug: str, chapter_id: int):
    chapter = _one(api_project(request, slug, write=True).chapters, chapter_id, "chapter")
    delete_chapter(chapter=chapter, actor=request.user)
    return Status(204, None)


# --- pages --------------------------------------------------------------------------------


class PageOut(Schema):
    id: int
    chapter: int = Field(alias="chapter_id")
    position: int
    title: str
    layout: Layout
    created_at: datetime


class PageList(Schema):
    items: list[PageOut]
    total: int
    offset: int
    limit: int


class PageIn(Schema):
    model_config = {"extra": "forbid"}

    chapter: int | None = Field(None, description="Default: the story's last chapter.")
    title: str = Field("", max_length=120)
    layout: Layout = Layout.AUTO


class PagePatch(Schema):
    model_config = {"extra": "forbid"}

    chapter: int | None = Field(None, description="Move the page to the end of this chapter.")
    title: str | None = Field(None, max_length=120)
    layout: Layout | None = None


class ChapterFilter(Schema):
    chapter: int | None = None


class StoryFilter(ChapterFilter):
    page: int | None = None


@router.get("/{slug}/pages", response={200: PageList, **ERRORS}, summary="Pages")
def list_pages(request: HttpRequest, slug: str, page: Query[PageQuery], only: Query[ChapterFilter]):
    pages = Page.objects.filter(project=api_project(request, slug))
    if only.chapter is not None:
        pages = pages.filter(chapter_id=only.chapter)
    return paged(pages.order_by("chapter__position", "chapter_id", "position", "pk"), page)


@router.post("/{slug}/pages", response={201: PageOut, **ERRORS})
def create_page(request: HttpRequest, slug: str, payload: PageIn):
    project = api_project(request, slug, write=True)
    chapter = None
    if payload.chapter is not None:
        chapter = _field_ref(project.chapters, payload.chapter, "chapter")
    with transaction.atomic():
        made = story.add_page(project=project, actor=request.user, chapter=chapter)
        update_page(page=made, actor=request.user, title=payload.title, layout=payload.layout)
    return Status(201, made)


@router.get("/{slug}/pages/{page_id}", response={200: PageOut, **ERRORS})
def get_page(request: HttpRequest, slug: str, page_id: int):
    return _one(Page.objects.filter(project=api_project(request, slug)), page_id, "page")


@router.patch("/{slug}/pages/{page_id}", response={200: PageOut, **ERRORS})
def patch_page(request: HttpRequest, slug: str, page_id: int, payload: PagePatch):
    project = api_project(request, slug, write=True)
    found = _one(Page.objects.filter(project=project), page_id, "page")
    wanted = changes(payload)
    if "chapter" in wanted:
        wanted["chapter"] = _field_ref(project.chapters, wanted["chapter"], "chapter")
    return update_page(page=found, actor=request.user, **wanted)


@router.delete("/{slug}/pages/{page_id}", response={204: None, **ERRORS})
def remove_page(request: HttpRequest, slug: str, page_id: int):
    project = api_project(request, slug, write=True)
    delete_page(
        page=_one(Page.objects.filter(project=project), page_id, "page"), actor=request.user
    )
    return Status(204, None)


# --- panels -------------------------------------------------------------------------------


class CastOut(Schema):
    character: str = Field(alias="character.slug")
    outfit: str | None = None
    outfit_id: int | None
    pose: str
    expression: str
    notes: str

    @staticmethod
    def resolve_outfit(member: CastMember) -> str | None:
        return member.outfit.name if member.outfit_id else None


class PanelOut(Schema):
    id: int
    key: str
    title: str
    script: str
    shot: str
    camera: str
    aspect: Aspect
    chapter: int = Field(alias="page.chapter_id")
    page: int = Field(alias="page_id")
    position: int
    base_asset: int | None = Field(alias="base_asset_id")
    cast: list[CastOut]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_cast(panel: Panel) -> list[CastMember]:
        return list(panel.cast.all())


class PanelList(Schema):
    items: list[PanelOut]
    total: int
    offset: int
    limit: int


class CastIn(Schema):
    model_config = {"extra": "forbid"}

    character: str = Field(min_length=1, max_length=64, description="Slug or id.")
    outfit: str | None = Field(None, max_length=80, description="Name or id; null: none.")
    pose: str = Field("", max_length=200)
    expression: str = Field("", max_length=200)
    notes: str = Field("", max_length=300)


class PanelFields(Schema):
    model_config = {"extra": "forbid"}

    script: str | None = Field(None, max_length=4000)
    shot: str | None = Field(None, max_length=120)
    camera: str | None = Field(None, max_length=120)
    aspect: Aspect | None = None
    base_asset: int | None = Field(None, description="An image asset's id; null: none.")
    chapter: int | None = Field(None, description="Its last page (made if it has none).")
    page: int | None = None
    position: int | None = POSITION
    cast: list[CastIn] | None = Field(None, max_length=50)


class PanelIn(PanelFields):
    title: str = Field(min_length=1, max_length=120)
    key: str = Field("", max_length=64, pattern=f"{SLUG}|^$", description="Default: from title.")


class PanelPatch(PanelFields):
    title: str | None = Field(None, min_length=1, max_length=120)


def _panels(project: Project) -> Any:
    return (
        Panel.objects.filter(project=project)
        .select_related("page")
        .prefetch_related("cast__character", "cast__outfit")
        .order_by("page__chapter__position", "page__chapter_id", "page__position", "position", "pk")
    )


def _cast(project: Project, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cast entries with their character and outfit rows (UserError at cast[n].<field>)."""
    resolved = []
    for n, entry in enumerate(entries):
        character = project.characters.filter(**by_id_or("slug", entry["character"])).first()
        if character is None:
            raise UserError("No such character.", code="not_found", field=f"cast[{n}].character")
        outfit = None
        if entry.get("outfit") is not None:
            outfit = character.outfits.filter(**by_id_or("name", entry["outfit"])).first()
            if outfit is None:
                raise UserError(
                    f"{character.name} has no such outfit.",
                    code="not_found",
                    field=f"cast[{n}].outfit",
                )
        resolved.append({**entry, "character": character, "outfit": outfit})
    return resolved


def _placement(
    request: HttpRequest, project: Project, wanted: dict[str, Any], panel: Panel | None
) -> Page | None:
    """The page a body puts a panel on: `page`, else `chapter`'s last page (None when the
    panel is in that chapter already), else None: where it is, or the story's last page."""
    if wanted.get("page") is not None:
        page = _field_ref(Page.objects.filter(project=project), wanted["page"], "page")
        if wanted.get("chapter") not in (None, page.chapter_id):
            raise UserError("That page is in another chapter.", field="chapter")
        return page
    if wanted.get("chapter") is not None:
        chapter = _field_ref(project.chapters, wanted["chapter"], "chapter")
        if panel is not None and panel.page.chapter_id == chapter.pk:
            return None
        return chapter.pages.order_by("-position", "-pk").first() or story.add_page(
            project=project, actor=request.user, chapter=chapter
        )
    return None


def _write_panel(request: HttpRequest, project: Project, panel: Panel | None, data: dict) -> Panel:
    """Create (panel None) or change a panel from a body's fields, all in one transaction."""
    cast = _cast(project, data["cast"]) if data.get("cast") is not None else None
    base = data.get("base_asset")
    fields = {k: data[k] for k in story.PANEL_FIELDS if k in data and k != "base_asset"}
    if "base_asset" in data:
        assets = Asset.objects.filter(project=project)
        fields["base_asset"] = None if base is None else _field_ref(assets, base, "base_asset")
    with transaction.atomic():
        page = _placement(request, project, data, panel)
        if panel is None:
            panel = story.create_panel(
                project=project, actor=request.user, page=page, key=data.get("key", ""), **fields
            )
        else:
            panel = story.update_panel(panel=panel, actor=request.user, **fields)
            if page is not None and page.pk != panel.page_id:
                story.move_panel(panel=panel, actor=request.user, page=page)
        if data.get("position") is not None:
            story.move_panel(panel=panel, actor=request.user, position=data["position"])
        if cast is not None:
            story.set_cast(panel=panel, actor=request.user, entries=cast)
    return _panels(project).get(pk=panel.pk)


@router.get("/{slug}/panels", response={200: PanelList, **ERRORS}, summary="Panels")
def list_panels(request: HttpRequest, slug: str, page: Query[PageQuery], only: Query[StoryFilter]):
    panels = _panels(api_project(request, slug))
    if only.chapter is not None:
        panels = panels.filter(page__chapter_id=only.chapter)
    if only.page is not None:
        panels = panels.filter(page_id=only.page)
    return paged(panels, page)


@router.post("/{slug}/panels", response={201: PanelOut, **ERRORS})
def create_panel(request: HttpRequest, slug: str, payload: PanelIn):
    project = api_project(request, slug, write=True)
    return Status(201, _write_panel(request, project, None, changes(payload)))


@router.get("/{slug}/panels/{panel_id}", response={200: PanelOut, **ERRORS})
def get_panel(request: HttpRequest, slug: str, panel_id: int):
    return _one(_panels(api_project(request, slug)), panel_id, "panel")


@router.patch("/{slug}/panels/{panel_id}", response={200: PanelOut, **ERRORS})
def patch_panel(request: HttpRequest, slug: str, panel_id: int, payload: PanelPatch):
    project = api_project(request, slug, write=True)
    panel = _one(_panels(project), panel_id, "panel")
    data = changes(payload)
    if "base_asset" in payload.model_fields_set:
        data["base_asset"] = payload.base_asset  # null clears the base image
    return _write_panel(request, project, panel, data)


@router.delete("/{slug}/panels/{panel_id}", response={204: None, **ERRORS})
def remove_panel(request: HttpRequest, slug: str, panel_id: int):
    panel = _one(
        Panel.objects.filter(project=api_project(request, slug, write=True)), panel_id, "panel"
    )
    story.delete_panel(panel=panel, actor=request.user)
    return Status(204, None)
