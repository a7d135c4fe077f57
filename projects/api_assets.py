"""API routes of the universe: assets (browse, one asset) and the links between them.

The list's filters are the asset browser's (projects/services/asset_browser.py); file,
thumbnail and download URLs are the app's own (a logged-in session reaches them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.db.models import Q
from django.http import Http404, HttpRequest
from django.urls import reverse
from ninja import Field, Query, Router, Schema, Status

from kroma.lib.ids import MAX_ID
from projects import asset_views
from projects.api_common import AUTH, ERRORS, MAX_PAGE, RowId, api_project, page_of
from projects.models import Asset, AssetLink, Project, Stage
from projects.services.asset_browser import asset_lineage, browse_assets, recipe_of
from projects.services.asset_links import link_assets, unlink_assets

router = Router(auth=AUTH, tags=["assets"])


class AssetOut(Schema):
    id: int
    kind: str
    title: str
    path: str
    sha256: str
    size_bytes: int
    width: int
    height: int
    mime: str
    rating: int | None
    rejected: bool
    stage: str
    panel: str = Field(alias="panel_key")
    run: str = Field(alias="run_uid")
    failed: bool
    created_at: datetime
    file_url: str = Field(description="The app's media view (a browser session).")
    thumbnail_url: str
    download_url: str
    download_name: str
    api_file_url: str = Field(description="The file through the API (a token or the session).")
    api_thumbnail_url: str

    @staticmethod
    def resolve_api_file_url(asset: Asset) -> str:
        return reverse("api:asset_file", args=[asset.project.slug, asset.pk])

    @staticmethod
    def resolve_api_thumbnail_url(asset: Asset) -> str:
        return reverse("api:asset_thumb", args=[asset.project.slug, asset.pk])

    @staticmethod
    def resolve_file_url(asset: Asset) -> str:
        return asset.get_absolute_url()

    @staticmethod
    def resolve_thumbnail_url(asset: Asset) -> str:
        return asset.thumbnail_url()

    @staticmethod
    def resolve_download_url(asset: Asset) -> str:
        return asset.download_url()


class AssetList(Schema):
    items: list[AssetOut]
    total: int
    offset: int
    limit: int


class LinkOut(Schema):
    id: int
    source: int = Field(alias="source_id")
    target: int = Field(alias="target_id")
    relation: str
    metadata: dict[str, Any]
    created_at: datetime


class LinkList(Schema):
    items: list[LinkOut]
    total: int
    offset: int
    limit: int


class LineageOut(Schema):
    derived_from: list[LinkOut] = Field(description="What this asset was made from.")
    derived_into: list[LinkOut] = Field(description="What was made from this asset.")


class AssetDetailOut(AssetOut):
    metadata: dict[str, Any]
    recipe: dict[str, Any] | None
    lineage: LineageOut

    @staticmethod
    def resolve_recipe(asset: Asset) -> dict[str, Any] | None:
        return recipe_of(asset)

    @staticmethod
    def resolve_lineage(asset: Asset) -> dict[str, list[AssetLink]]:
        lineage = asset_lineage(asset)
        return {"derived_from": lineage.derived_from, "derived_into": lineage.derived_into}


class LinkIn(Schema):
    """`source` <relation> `target`: e.g. {"source": 12, "relation": "variant_of", "target": 7}."""

    model_config = {"extra": "forbid"}

    source: RowId
    target: RowId
    relation: AssetLink.Relation
    note: str = Field("", max_length=500, description="Kept in the link's metadata.")


def _asset(project: Project, asset_id: int) -> Asset:
    asset = Asset.objects.filter(project=project, pk=asset_id).first()
    if asset is None:
        raise Http404("No such asset.")
    asset.project = project  # its URLs need the slug
    return asset


@router.get("/{slug}/assets", response={200: AssetList, **ERRORS}, summary="A project's assets")
def list_assets(
    request: HttpRequest,
    slug: str,
    kind: Asset.Kind | None = None,
    stage: Stage | None = None,
    panel: str | None = Query(None, max_length=64, description="A panel's key."),
    run: str | None = Query(None, max_length=64, description="A run's uid."),
    rating: str | None = Query(
        None, pattern=r"^([1-5]|unrated|rejected)$", description="n: n stars and up."
    ),
    q: str | None = Query(None, max_length=120, description="Words of titles and prompts."),
    failed: bool = Query(False, description="Include candidates that failed QA."),
    sort: Literal["new", "old", "rating"] = "new",
    offset: int = Query(0, ge=0, le=1_000_000),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
):
    """The asset browser's list: newest first unless sorted; failed candidates only if asked."""
    project = api_project(request, slug)
    filters = {
        "kind": kind,
        "stage": stage,
        "panel": panel,
        "run": run,
        "rating": rating,
        "q": q,
        "failed": failed,
        "sort": sort,
    }
    found = browse_assets(project=project, filters=filters).defer("search_text")
    items, total = page_of(found, offset=offset, limit=limit)
    for asset in items:
        asset.project = project
    return {"items": items, "total": total, "offset": offset, "limit": limit}


@router.get(
    "/{slug}/assets/{asset_id}", response={200: AssetDetailOut, **ERRORS}, summary="One asset"
)
def get_asset(request: HttpRequest, slug: str, asset_id: int):
    """An asset's metadata, recipe (how it was made), lineage both ways, and its URLs."""
    return _asset(api_project(request, slug), asset_id)


@router.get(
    "/{slug}/assets/{asset_id}/file",
    response={200: None, **ERRORS},
    url_name="asset_file",
    summary="An asset's file (?download=1: as an attachment with a readable name)",
)
def asset_file(request: HttpRequest, slug: str, asset_id: int):
    asset = _asset(api_project(request, slug), asset_id)  # 404 beyond the token's project
    return asset_views.asset_file(request, asset.project.slug, asset.pk)


@router.get(
    "/{slug}/assets/{asset_id}/thumb",
    response={200: None, **ERRORS},
    url_name="asset_thumb",
    summary="An asset's thumbnail (WebP)",
)
def asset_thumb(request: HttpRequest, slug: str, asset_id: int):
    asset = _asset(api_project(request, slug), asset_id)
    return asset_views.asset_thumb(request, asset.project.slug, asset.pk)


@router.get("/{slug}/asset-links", response={200: LinkList, **ERRORS}, summary="Asset links")
def list_links(
    request: HttpRequest,
    slug: str,
    asset: int | None = Query(
        None, ge=1, le=MAX_ID, description="Only links to or from this asset."
    ),
    relation: AssetLink.Relation | None = None,
    offset: int = Query(0, ge=0, le=1_000_000),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
):
    project = api_project(request, slug)
    links = AssetLink.objects.filter(project=project)
    if asset is not None:
        links = links.filter(Q(source_id=asset) | Q(target_id=asset))
    if relation:
        links = links.filter(relation=relation)
    items, total = page_of(links.order_by("pk"), offset=offset, limit=limit)
    return {"items": items, "total": total, "offset": offset, "limit": limit}


@router.post("/{slug}/asset-links", response={201: LinkOut, **ERRORS}, summary="Link two assets")
def create_link(request: HttpRequest, slug: str, payload: LinkIn):
    project = api_project(request, slug, write=True)
    link = link_assets(
        project=project,
        user=request.user,
        source_id=payload.source,
        target_id=payload.target,
        relation=payload.relation,
        metadata={"note": payload.note} if payload.note else None,
    )
    return Status(201, link)


@router.delete(
    "/{slug}/asset-links/{link_id}", response={204: None, **ERRORS}, summary="Remove a link"
)
def delete_link(request: HttpRequest, slug: str, link_id: int):
    project = api_project(request, slug, write=True)
    link = AssetLink.objects.filter(project=project, pk=link_id).first()
    if link is None:
        raise Http404("No such link.")
    unlink_assets(project=project, user=request.user, link=link)
    return Status(204, None)
