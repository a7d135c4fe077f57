"""API routes of the pipeline: runs and their jobs (more: planning, exports, reports)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.http import Http404, HttpRequest
from ninja import Query, Router, Schema

from pipeline.models import Run, RunJob
from projects.api_common import AUTH, ERRORS, MAX_PAGE, api_project, page_of

router = Router(auth=AUTH, tags=["runs"])


class RunOut(Schema):
    uid: str
    name: str
    stage: str
    mode: str
    status: str
    provider: str
    model: str
    candidates_per_job: int
    estimated_cost_usd: Decimal
    actual_cost_usd: Decimal
    confirmed_as: str
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class RunList(Schema):
    items: list[RunOut]
    total: int
    offset: int
    limit: int


class JobOut(Schema):
    index: int
    panel: str
    status: str
    step: str
    attempts: int
    size: str
    prompt: str
    estimate_usd: Decimal
    error_code: str
    error: str
    final_asset_id: int | None
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def resolve_panel(job: RunJob) -> str:
        return job.scene_key


def _run(request: HttpRequest, slug: str, run_id: str) -> Run:
    run = Run.objects.filter(project=api_project(request, slug), uid=run_id).first()
    if run is None:
        raise Http404("No such run.")
    return run


@router.get("/{slug}/runs", response={200: RunList, **ERRORS}, summary="A project's runs")
def list_runs(
    request: HttpRequest,
    slug: str,
    mode: Run.Mode | None = None,
    stage: str | None = Query(None, max_length=12),
    status: Run.Status | None = None,
    offset: int = Query(0, ge=0, le=1_000_000),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
):
    runs = Run.objects.filter(project=api_project(request, slug))
    for name, value in (("mode", mode), ("stage", stage), ("status", status)):
        if value:
            runs = runs.filter(**{name: value})
    runs = runs.defer("manifest_snapshot", "plan").order_by("-created_at", "-pk")
    items, total = page_of(runs, offset=offset, limit=limit)
    return {"items": items, "total": total, "offset": offset, "limit": limit}


@router.get("/{slug}/runs/{run_id}", response={200: RunOut, **ERRORS}, summary="One run")
def get_run(request: HttpRequest, slug: str, run_id: str):
    return _run(request, slug, run_id)


@router.get(
    "/{slug}/runs/{run_id}/jobs", response={200: list[JobOut], **ERRORS}, summary="A run's jobs"
)
def list_jobs(request: HttpRequest, slug: str, run_id: str):
    return list(_run(request, slug, run_id).jobs.order_by("index"))
