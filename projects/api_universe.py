"""API routes of the universe: characters and outfits, style guides (and what is mounted here).

Provider accounts and secrets are in projects/api_security.py, the story (chapters, pages,
panels) in projects/api_story.py and reference sets in projects/api_references.py, all mounted
on this router; prompt templates, whose checks live in the pipeline, are pipeline/api_prompts.py.
Every route reaches its project through api_project and writes through the command services.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema, Status

from projects.api_common import AUTH, ERRORS, api_project
from projects.api_crud import PageQuery, by_id_or, changes, paged
from projects.models import Character, Outfit, Project, StyleGuide
from projects.services import characters, security, style
from projects.services.universe_edits import delete_style_guide

router = Router(auth=AUTH, tags=["universe"])


def character_of(project: Project, ref: str) -> Character:
    """A character of the project by slug or id (404 otherwise)."""
    found = project.characters.filter(**by_id_or("slug", ref))
    character = found.prefetch_related("outfits").first()
    if character is None:
        raise Http404("No such character.")
    return character


def outfit_of(character: Character, ref: str | int) -> Outfit:
    """An outfit of the character by id or name (404 otherwise)."""
    outfit = character.outfits.filter(**by_id_or("name", ref))
    if (found := outfit.first()) is None:
        raise Http404("No such outfit.")
    return found


# --- characters and outfits ---------------------------------------------------------------


class OutfitOut(Schema):
    id: int
    name: str
    description: str
    created_at: datetime


class OutfitList(Schema):
    items: list[OutfitOut]
    total: int
    offset: int
    limit: int


class CharacterOut(Schema):
    id: int
    slug: str
    name: str
    description: str
    continuity_notes: str
    outfits: list[OutfitOut]
    created_at: datetime

    @staticmethod
    def resolve_outfits(character: Character) -> list[Outfit]:
        return list(character.outfits.all())


class CharacterList(Schema):
    items: list[CharacterOut]
    total: int
    offset: int
    limit: int


class CharacterIn(Schema):
    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1, max_length=120)
    description: str = Field("", max_length=4000)
    continuity_notes: str = Field("", max_length=2000)


class CharacterPatch(Schema):
    model_config = {"extra": "forbid"}

    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = Field(None, max_length=4000)
    continuity_notes: str | None = Field(None, max_length=2000)


class OutfitIn(Schema):
    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1, max_length=80)
    description: str = Field("", max_length=2000)


class OutfitPatch(Schema):
    model_config = {"extra": "forbid"}

    name: str | None = Field(None, min_length=1, max_length=80)
    description: str | None = Field(None, max_length=2000)


@router.get("/{slug}/characters", response={200: CharacterList, **ERRORS}, summary="Characters")
def list_characters(request: HttpRequest, slug: str, page: Query[PageQuery]):
    project = api_project(request, slug)
    found = project.characters.prefetch_related("outfits").order_by("name", "pk")
    return paged(found, page)


@router.post("/{slug}/characters", response={201: CharacterOut, **ERRORS})
def create_character(request: HttpRequest, slug: str, payload: CharacterIn):
    project = api_project(request, slug, write=True)
    made = characters.create_character(project=project, actor=request.user, **payload.dict())
    return Status(201, character_of(project, str(made.pk)))


@router.get("/{slug}/characters/{char}", response={200: CharacterOut, **ERRORS})
def get_character(request: HttpRequest, slug: str, char: str):
    return character_of(api_project(request, slug), char)


@router.patch("/{slug}/characters/{char}", response={200: CharacterOut, **ERRORS})
def update_character(request: HttpRequest, slug: str, char: str, payload: CharacterPatch):
    project = api_project(request, slug, write=True)
    character = character_of(project, char)
    characters.update_character(character=character, actor=request.user, **changes(payload))
    return character_of(project, str(character.pk))


@router.delete("/{slug}/characters/{char}", response={204: None, **ERRORS})
def delete_character(request: HttpRequest, slug: str, char: str):
    character = character_of(api_project(request, slug, write=True), char)
    characters.delete_character(character=character, actor=request.user)
    return Status(204, None)


@router.get("/{slug}/characters/{char}/outfits", response={200: OutfitList, **ERRORS})
def list_outfits(request: HttpRequest, slug: str, char: str, page: Query[PageQuery]):
    character = character_of(api_project(request, slug), char)
    return paged(character.outfits.order_by("name", "pk"), page)


@router.post("/{slug}/characters/{char}/outfits", response={201: OutfitOut, **ERRORS})
def create_outfit(request: HttpRequest, slug: str, char: str, payload: OutfitIn):
    character = character_of(api_project(request, slug, write=True), char)
    return Status(
        201, characters.add_outfit(character=character, actor=request.user, **payload.dict())
    )


@router.get("/{slug}/characters/{char}/outfits/{outfit}", response={200: OutfitOut, **ERRORS})
def get_outfit(request: HttpRequest, slug: str, char: str, outfit: str):
    return outfit_of(character_of(api_project(request, slug), char), outfit)


@router.patch("/{slug}/characters/{char}/outfits/{outfit}", response={200: OutfitOut, **ERRORS})
def update_outfit(request: HttpRequest, slug: str, char: str, outfit: str, payload: OutfitPatch):
    found = outfit_of(character_of(api_project(request, slug, write=True), char), outfit)
    return characters.update_outfit(outfit=found, actor=request.user, **changes(payload))


@router.delete("/{slug}/characters/{char}/outfits/{outfit}", response={204: None, **ERRORS})
def delete_outfit(request: HttpRequest, slug: str, char: str, outfit: str):
    found = outfit_of(character_of(api_project(request, slug, write=True), char), outfit)
    characters.delete_outfit(outfit=found, actor=request.user)
    return Status(204, None)


# --- style guides --------------------------------------------------------------------------


class StyleReferenceOut(Schema):
    id: int
    asset_id: int
    position: int
    notes: str


class StyleGuideOut(Schema):
    slug: str
    name: str
    description: str
    rules: str
    status: str
    locked_at: datetime | None
    content_sha256: str
    references: list[StyleReferenceOut]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_references(guide: StyleGuide) -> list[object]:
        return sorted(guide.references.all(), key=lambda ref: (ref.position, ref.pk))


class StyleGuideList(Schema):
    items: list[StyleGuideOut]
    total: int
    offset: int
    limit: int


class StyleGuideIn(Schema):
    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1, max_length=120)
    description: str = Field("", max_length=20000)
    rules: str = Field("", max_length=20000)


class StyleGuidePatch(Schema):
    model_config = {"extra": "forbid"}

    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = Field(None, max_length=20000)
    rules: str | None = Field(None, max_length=20000)


def _guides(project: Project) -> QuerySet[StyleGuide]:
    return project.style_guides.prefetch_related("references__asset").order_by("name", "pk")


def guide_of(project: Project, guide_slug: str) -> StyleGuide:
    guide = _guides(project).filter(slug=guide_slug).first()
    if guide is None:
        raise Http404("No such style guide.")
    return guide


@router.get("/{slug}/style-guides", response={200: StyleGuideList, **ERRORS})
def list_style_guides(request: HttpRequest, slug: str, page: Query[PageQuery]):
    return paged(_guides(api_project(request, slug)), page)


@router.post("/{slug}/style-guides", response={201: StyleGuideOut, **ERRORS})
def create_style_guide(request: HttpRequest, slug: str, payload: StyleGuideIn):
    project = api_project(request, slug, write=True)
    guide = style.create_style_guide(project=project, user=request.user, **payload.dict())
    return Status(201, guide_of(project, guide.slug))


@router.get("/{slug}/style-guides/{guide_slug}", response={200: StyleGuideOut, **ERRORS})
def get_style_guide(request: HttpRequest, slug: str, guide_slug: str):
    return guide_of(api_project(request, slug), guide_slug)


@router.patch("/{slug}/style-guides/{guide_slug}", response={200: StyleGuideOut, **ERRORS})
def update_style_guide(request: HttpRequest, slug: str, guide_slug: str, payload: StyleGuidePatch):
    project = api_project(request, slug, write=True)
    guide = guide_of(project, guide_slug)
    style.update_style_guide(guide=guide, user=request.user, **changes(payload))
    return guide_of(project, guide.slug)


@router.delete("/{slug}/style-guides/{guide_slug}", response={204: None, **ERRORS})
def remove_style_guide(request: HttpRequest, slug: str, guide_slug: str):
    guide = guide_of(api_project(request, slug, write=True), guide_slug)
    delete_style_guide(guide=guide, user=request.user)
    return Status(204, None)


@router.post("/{slug}/style-guides/{guide_slug}/lock", response={200: StyleGuideOut, **ERRORS})
def lock_style_guide(request: HttpRequest, slug: str, guide_slug: str):
    project = api_project(request, slug, write=True)
    security.lock_style_guide(guide=guide_of(project, guide_slug), user=request.user)
    return guide_of(project, guide_slug)


@router.post("/{slug}/style-guides/{guide_slug}/unlock", response={200: StyleGuideOut, **ERRORS})
def unlock_style_guide(request: HttpRequest, slug: str, guide_slug: str):
    project = api_project(request, slug, write=True)
    security.unlock_style_guide(guide=guide_of(project, guide_slug), user=request.user)
    return guide_of(project, guide_slug)


def _mount() -> None:
    from projects import api_references, api_security, api_story

    router.add_router("", api_security.router)
    router.add_router("", api_story.router)
    router.add_router("", api_references.router)


_mount()
