"""API routes of exports: list, request (zip, cbz, pdf), one export, and its file.

pipeline/services/exports.py checks the options and queues the work item; the file is
downloadable (with a token too) from `download_url` once the export is done.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import Http404, HttpRequest
from django.urls import reverse
from ninja import Field, Query, Router, Schema, Status

from pipeline import export_views
from pipeline.services import exports
from projects.api_common import AUTH, ERRORS, MAX_PAGE, RowId, api_project, page_of
from projects.models import ProjectExport

router = Router(auth=AUTH, tags=["exports"])


class ExportOptionsIn(Schema):
    """What to export: pages (all by default), or for a zip chosen assets; a PDF or CBZ's page
    settings (the project's by default; a CBZ is 150 dpi without bleed unless told)."""

    model_config = {"extra": "forbid"}

    pages: list[RowId] | None = Field(None, min_length=1, max_length=exports.MAX_PAGES)
    assets: list[RowId] | None = Field(None, min_length=1, max_length=exports.MAX_ASSETS)
    page_size: str | None = Field(None, max_length=20)
    dpi: int | None = Field(None, ge=1, le=10_000)
    bleed_mm: float | None = Field(None, ge=0, le=1000)


class ExportIn(Schema):
    model_config = {"extra": "forbid"}

    kind: ProjectExport.Kind
    options: ExportOptionsIn = Field(default_factory=ExportOptionsIn)


class ExportOut(Schema):
    id: int
    kind: str
    status: str
    options: dict[str, Any]
    progress: dict[str, Any]
    file_name: str
    size_bytes: int
    error_code: str
    error: str
    created_at: datetime
    finished_at: datetime | None
    download_url: str | None = Field(None, description="Once done: the file (token or session).")

    @staticmethod
    def resolve_download_url(export: ProjectExport) -> str | None:
        if export.status != ProjectExport.Status.DONE or not export.path:
            return None
        return reverse(
            "api:export_download", kwargs={"slug": export.project.slug, "export_id": export.pk}
        )


class ExportList(Schema):
    items: list[ExportOut]
    total: int
    offset: int
    limit: int


def _export(request: HttpRequest, slug: str, export_id: int) -> ProjectExport:
    project = api_project(request, slug)
    export = ProjectExport.objects.filter(project=project, pk=export_id).first()
    if export is None:
        raise Http404("No such export.")
    export.project = project
    return export


@router.get("/{slug}/exports", response={200: ExportList, **ERRORS}, summary="Exports")
def list_exports(
    request: HttpRequest,
    slug: str,
    offset: int = Query(0, ge=0, le=1_000_000),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
):
    project = api_project(request, slug)
    found = ProjectExport.objects.filter(project=project).order_by("-created_at", "-pk")
    items, total = page_of(found.select_related("project"), offset=offset, limit=limit)
    return {"items": items, "total": total, "offset": offset, "limit": limit}


@router.post("/{slug}/exports", response={201: ExportOut, **ERRORS}, summary="Request an export")
def create_export(request: HttpRequest, slug: str, payload: ExportIn):
    """Queue an export: 201 with the export (queued); poll it until `status` is final."""
    project = api_project(request, slug, write=True)
    export = exports.request_export(
        project=project,
        user=request.user,
        kind=payload.kind,
        options=payload.options.dict(exclude_none=True),
    )
    export.project = project
    return Status(201, export)


@router.get("/{slug}/exports/{export_id}", response={200: ExportOut, **ERRORS}, summary="Export")
def get_export(request: HttpRequest, slug: str, export_id: int):
    return _export(request, slug, export_id)


@router.get(
    "/{slug}/exports/{export_id}/download",
    response={200: None, **ERRORS},
    url_name="export_download",
    summary="An export's file",
)
def download_export(request: HttpRequest, slug: str, export_id: int):
    """The file, through the Pages page's own download view (the same checks and name)."""
    export = _export(request, slug, export_id)  # 404 beyond the token's project
    return export_views.export_download(request, export.project.slug, export.pk)
