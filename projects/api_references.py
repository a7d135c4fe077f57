"""API routes of reference sets and their items (mounted by api_universe).

An item is an image asset the project already has (upload it first); removing an item or a
set leaves the image in the project's assets.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema, Status

from kroma.lib.errors import UserError
from projects.api_common import ERRORS, api_project
from projects.api_crud import SLUG, PageQuery, by_id_or, changes, paged
from projects.models import Asset, Project, ReferenceSet, ReferenceSetItem
from projects.services import universe_edits

router = Router(tags=["references"])


class ItemOut(Schema):
    id: int
    asset: int = Field(alias="asset_id")
    position: int
    notes: str


class ItemList(Schema):
    items: list[ItemOut]
    total: int
    offset: int
    limit: int


class ReferenceSetOut(Schema):
    id: int
    slug: str
    name: str
    kind: ReferenceSet.Kind
    description: str
    character: str | None = None
    outfit: int | None = Field(None, alias="outfit_id")
    created_at: datetime

    @staticmethod
    def resolve_character(ref_set: ReferenceSet) -> str | None:
        return ref_set.character.slug if ref_set.character_id else None


class ReferenceSetList(Schema):
    items: list[ReferenceSetOut]
    total: int
    offset: int
    limit: int


class ReferenceSetIn(Schema):
    model_config = {"extra": "forbid"}

    slug: str = Field(max_length=64, pattern=SLUG)
    name: str = Field(min_length=1, max_length=120)
    kind: ReferenceSet.Kind
    description: str = Field("", max_length=4000)
    character: str | None = Field(None, max_length=64, description="Slug or id.")
    outfit: str | None = Field(None, max_length=80, description="The character's outfit.")


class ReferenceSetPatch(Schema):
    model_config = {"extra": "forbid"}

    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = Field(None, max_length=4000)


class ItemIn(Schema):
    model_config = {"extra": "forbid"}

    asset: int = Field(ge=1, description="An image asset of the project.")
    notes: str = Field("", max_length=300)


class ItemPatch(Schema):
    model_config = {"extra": "forbid"}

    notes: str | None = Field(None, max_length=300)
    position: int | None = Field(None, ge=0, le=100_000)


def _sets(project: Project) -> Any:
    return project.reference_sets.select_related("character").order_by("kind", "name", "pk")


def set_of(project: Project, set_id: int) -> ReferenceSet:
    ref_set = _sets(project).filter(pk=set_id).first()
    if ref_set is None:
        raise Http404("No such reference set.")
    return ref_set


def item_of(ref_set: ReferenceSet, item_id: int) -> ReferenceSetItem:
    item = ref_set.items.select_related("reference_set__project").filter(pk=item_id).first()
    if item is None:
        raise Http404("No such item.")
    return item


def _owner(project: Project, payload: ReferenceSetIn) -> dict[str, Any]:
    """The character and outfit a body names (UserError at its field when there is none)."""
    character = outfit = None
    if payload.character is not None:
        character = project.characters.filter(**by_id_or("slug", payload.character)).first()
        if character is None:
            raise UserError("No such character.", code="not_found", field="character")
    if payload.outfit is not None:
        found = character.outfits if character is not None else None
        outfit = found.filter(**by_id_or("name", payload.outfit)).first() if found else None
        if outfit is None:
            raise UserError("No such outfit of the character.", code="not_found", field="outfit")
    return {"character": character, "outfit": outfit}


@router.get("/{slug}/reference-sets", response={200: ReferenceSetList, **ERRORS})
def list_reference_sets(request: HttpRequest, slug: str, page: Query[PageQuery]):
    return paged(_sets(api_project(request, slug)), page)


@router.post("/{slug}/reference-sets", response={201: ReferenceSetOut, **ERRORS})
def create_reference_set(request: HttpRequest, slug: str, payload: ReferenceSetIn):
    project = api_project(request, slug, write=True)
    data = payload.dict(exclude={"character", "outfit"})
    made = universe_edits.create_reference_set(
        project=project, actor=request.user, **data, **_owner(project, payload)
    )
    return Status(201, made)


@router.get("/{slug}/reference-sets/{set_id}", response={200: ReferenceSetOut, **ERRORS})
def get_reference_set(request: HttpRequest, slug: str, set_id: int):
    return set_of(api_project(request, slug), set_id)


@router.patch("/{slug}/reference-sets/{set_id}", response={200: ReferenceSetOut, **ERRORS})
def patch_reference_set(request: HttpRequest, slug: str, set_id: int, payload: ReferenceSetPatch):
    ref_set = set_of(api_project(request, slug, write=True), set_id)
    return universe_edits.update_reference_set(
        ref_set=ref_set, actor=request.user, **changes(payload)
    )


@router.delete("/{slug}/reference-sets/{set_id}", response={204: None, **ERRORS})
def delete_reference_set(request: HttpRequest, slug: str, set_id: int):
    ref_set = set_of(api_project(request, slug, write=True), set_id)
    universe_edits.delete_reference_set(ref_set=ref_set, actor=request.user)
    return Status(204, None)


@router.get("/{slug}/reference-sets/{set_id}/items", response={200: ItemList, **ERRORS})
def list_items(request: HttpRequest, slug: str, set_id: int, page: Query[PageQuery]):
    ref_set = set_of(api_project(request, slug), set_id)
    return paged(ref_set.items.order_by("position", "pk"), page)


@router.post("/{slug}/reference-sets/{set_id}/items", response={201: ItemOut, **ERRORS})
def add_item(request: HttpRequest, slug: str, set_id: int, payload: ItemIn):
    project = api_project(request, slug, write=True)
    ref_set = set_of(project, set_id)
    asset = Asset.objects.filter(project=project, pk=payload.asset).first()
    if asset is None:
        raise UserError("No such image in this project.", code="not_found", field="asset")
    item = universe_edits.add_reference_item(
        ref_set=ref_set, actor=request.user, asset=asset, notes=payload.notes
    )
    return Status(201, item)


@router.get("/{slug}/reference-sets/{set_id}/items/{item_id}", response={200: ItemOut, **ERRORS})
def get_item(request: HttpRequest, slug: str, set_id: int, item_id: int):
    return item_of(set_of(api_project(request, slug), set_id), item_id)


@router.patch("/{slug}/reference-sets/{set_id}/items/{item_id}", response={200: ItemOut, **ERRORS})
def patch_item(request: HttpRequest, slug: str, set_id: int, item_id: int, payload: ItemPatch):
    item = item_of(set_of(api_project(request, slug, write=True), set_id), item_id)
    return universe_edits.update_reference_item(item=item, actor=request.user, **changes(payload))


@router.delete("/{slug}/reference-sets/{set_id}/items/{item_id}", response={204: None, **ERRORS})
def remove_item(request: HttpRequest, slug: str, set_id: int, item_id: int):
    item = item_of(set_of(api_project(request, slug, write=True), set_id), item_id)
    universe_edits.remove_reference_item(item=item, actor=request.user)
    return Status(204, None)
