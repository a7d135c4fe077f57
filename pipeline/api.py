"""API routes of the pipeline: runs, plans and their jobs (plan, confirm, cancel).

Run-log ingest, QA reports and costs live in pipeline/api_reports.py, exports in
pipeline/api_exports.py; both are mounted on this router, so kroma/api.py registers one.
A plan is a dry run: POST /runs plans one (every guard of New Run applies), POST
/runs/{id}/confirm runs it for real with the spend confirmed, as the browser's button does.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from django.db.models import Q
from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import BeforeValidator

from kroma.lib.errors import UserError
from kroma.lib.ids import parse_id
from pipeline import api_exports, api_reports
from pipeline.models import Run, RunJob
from pipeline.services.refs import BuildOn
from pipeline.services.runs import cancel_run, confirm_plan, submit_run
from projects.api_common import AUTH, ERRORS, MAX_PAGE, RowId, api_project, page_of
from projects.models import Panel, Project

router = Router(auth=AUTH, tags=["runs"])
router.add_router("", api_reports.router)
router.add_router("", api_exports.router)


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


# A panel by its key or its id (a number is taken as the id's digits).
PanelRef = Annotated[
    str,
    BeforeValidator(lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v),
    Field(min_length=1, max_length=64),
]


class RunIn(Schema):
    """New Run's fields. Empty ones take the project's defaults, as on the form."""

    model_config = {"extra": "forbid"}

    stage: str = Field(min_length=1, max_length=32)
    panels: list[PanelRef] | None = Field(
        None, max_length=500, description="Panel keys or ids; none: every panel."
    )
    candidates: int | None = Field(None, ge=1, le=100)
    provider: str | None = Field(None, max_length=40)
    model: str | None = Field(None, max_length=60)
    quality: str | None = Field(None, max_length=20)
    size: str | None = Field(None, max_length=20, description="None: each panel's aspect.")
    build_on: str = Field(
        "pick",
        max_length=80,
        pattern=r"^(pick|base|run:[A-Za-z0-9_-]{1,40})$",
        description="pick (the panel's current pick of the previous stage), base, or run:<uid>.",
    )
    from_candidate: RowId | None = Field(
        None, description="Start from this candidate (one panel only)."
    )
    variation: str | None = Field(None, max_length=200)
    prompt: str | None = Field(None, max_length=4000)


class InputOut(Schema):
    key: str
    path: str
    asset_id: int | None
    source: str


class PlannedJobOut(Schema):
    index: int
    panel: str
    panel_id: int | None
    size: str
    prompt: str
    input: InputOut | None
    references: list[InputOut]
    estimate_usd: Decimal


class PlanOut(Schema):
    run: RunOut
    jobs: list[PlannedJobOut]
    warnings: list[str]
    estimate_usd: Decimal
    prices_estimated: bool


def _run(request: HttpRequest, slug: str, run_id: str, *, write: bool = False) -> Run:
    project = api_project(request, slug, write=write)
    run = Run.objects.filter(project=project, uid=run_id).select_related("project").first()
    if run is None:
        raise Http404("No such run.")
    return run


def _panel_key(project: Project, panel: str) -> str:
    """A panel's key from its key or id (what a chosen candidate is filed under)."""
    panel_id = parse_id(panel)
    match = Q(key=panel) | (Q(pk=panel_id) if panel_id else Q(pk__in=[]))
    key = Panel.objects.filter(project=project).filter(match).values_list("key", flat=True).first()
    if key is None:
        raise UserError(f"No panel {panel!r} in this project.", code="not_found", field="panels")
    return key


def _build_on(project: Project, payload: RunIn) -> BuildOn:
    mode, _, uid = payload.build_on.partition(":")
    chosen: dict[str, int] = {}
    if payload.from_candidate is not None:
        if not payload.panels or len(payload.panels) != 1:
            raise UserError(
                "from_candidate needs exactly one panel.", code="invalid", field="from_candidate"
            )
        chosen = {_panel_key(project, str(payload.panels[0])): payload.from_candidate}
    return BuildOn(mode=mode, run_uid=uid, candidates=chosen)


def plan_of(run: Run) -> dict:
    """A plan's response: the run, its jobs as planned, its warnings and estimate."""
    jobs = list(run.jobs.order_by("index"))
    return {
        "run": run,
        "jobs": [
            {
                "index": job.index,
                "panel": job.scene_key,
                "panel_id": job.panel_id,
                "size": job.size,
                "prompt": job.prompt,
                "input": {
                    "key": job.scene_key,
                    "path": job.input_path,
                    "asset_id": job.input_asset_id,
                    "source": job.input_source,
                }
                if job.input_path
                else None,
                "references": job.references,
                "estimate_usd": job.estimate_usd,
            }
            for job in jobs
        ],
        "warnings": run.plan.get("warnings") or [],
        "estimate_usd": run.estimated_cost_usd,
        "prices_estimated": bool(run.plan.get("prices_estimated")),
    }


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


@router.post("/{slug}/runs", response={201: PlanOut, **ERRORS}, summary="Plan a run (dry)")
def plan_a_run(request: HttpRequest, slug: str, payload: RunIn):
    """Plan a dry run from New Run's fields: nothing is spent; confirm it to run it."""
    project = api_project(request, slug, write=True)
    run = submit_run(
        project=project,
        user=request.user,
        mode="dry",
        stage=payload.stage,
        panels=[str(p) for p in payload.panels] if payload.panels else None,
        candidates=payload.candidates,
        provider=payload.provider or None,
        model=payload.model or None,
        quality=payload.quality or None,
        size=payload.size or None,
        build_on=_build_on(project, payload),
        variation=payload.variation or None,
        prompt=payload.prompt,
    )
    return Status(201, plan_of(run))


@router.get("/{slug}/runs/{run_id}", response={200: RunOut, **ERRORS}, summary="One run")
def get_run(request: HttpRequest, slug: str, run_id: str):
    return _run(request, slug, run_id)


@router.get("/{slug}/runs/{run_id}/plan", response={200: PlanOut, **ERRORS}, summary="A run's plan")
def get_plan(request: HttpRequest, slug: str, run_id: str):
    return plan_of(_run(request, slug, run_id))


@router.get(
    "/{slug}/runs/{run_id}/jobs", response={200: list[JobOut], **ERRORS}, summary="A run's jobs"
)
def list_jobs(request: HttpRequest, slug: str, run_id: str):
    return list(_run(request, slug, run_id).jobs.order_by("index"))


@router.post(
    "/{slug}/runs/{run_id}/confirm",
    response={200: RunOut, 201: RunOut, **ERRORS},
    summary="Run a plan for real (the spend confirmed)",
)
def confirm(request: HttpRequest, slug: str, run_id: str):
    """201 with the new run; a plan already confirmed answers 200 with the run it became."""
    plan = _run(request, slug, run_id, write=True)
    already = bool(plan.confirmed_as)
    run = confirm_plan(plan=plan, user=request.user)
    return Status(200 if already else 201, run)


@router.post(
    "/{slug}/runs/{run_id}/cancel", response={200: RunOut, **ERRORS}, summary="Cancel a run"
)
def cancel(request: HttpRequest, slug: str, run_id: str):
    return cancel_run(run=_run(request, slug, run_id, write=True), user=request.user)
