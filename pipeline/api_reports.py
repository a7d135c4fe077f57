"""API routes of a project's records: run-log ingest, QA reports, cost events and spend.

Every figure of spend comes from pipeline/services/costs.py, as on the dashboard and reports.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest
from ninja import Query, Router, Schema, Status

from pipeline.models import CostEvent, QualityReport, Run
from pipeline.runlog_schema import RunLogError
from pipeline.services import costs
from pipeline.services.ingest import ingest_log
from projects.api_common import AUTH, ERRORS, MAX_PAGE, ErrorOut, api_project, page_of
from projects.models import Project

router = Router(auth=AUTH, tags=["reports"])

MAX_RUN_LOG_BYTES = 16 * 1024 * 1024  # a run log of 500 jobs x 6 candidates is under 2 MB


class IngestOut(Schema):
    run: str
    created: bool
    status: str
    jobs: int


class QualityReportOut(Schema):
    id: int
    run: str
    panel: str | None
    candidate: int | None
    passed: bool
    hard_failures: int
    soft_warnings: int
    metrics: dict[str, Any]
    created_at: datetime

    @staticmethod
    def resolve_run(report: QualityReport) -> str:
        return report.run.uid

    @staticmethod
    def resolve_panel(report: QualityReport) -> str | None:
        return report.candidate.job.scene_key if report.candidate else None

    @staticmethod
    def resolve_candidate(report: QualityReport) -> int | None:
        return report.candidate.index if report.candidate else None


class QualityReportList(Schema):
    items: list[QualityReportOut]
    total: int
    offset: int
    limit: int


class CostEventOut(Schema):
    id: int
    run: str | None
    job: int | None
    provider: str
    model: str
    operation: str
    usd: Decimal
    units: dict[str, Any]
    unconfirmed: bool
    created_at: datetime

    @staticmethod
    def resolve_run(event: CostEvent) -> str | None:
        return event.run.uid if event.run else None

    @staticmethod
    def resolve_job(event: CostEvent) -> int | None:
        return event.job.index if event.job else None


class CostEventList(Schema):
    items: list[CostEventOut]
    total: int
    offset: int
    limit: int


class SpendRow(Schema):
    key: str = ""  # the day (ISO), "provider/model", or the run's uid
    usd: Decimal
    calls: int
    estimate_usd: Decimal | None = None  # by run: what it was planned to cost
    unconfirmed_usd: Decimal | None = None


class CostSummaryOut(Schema):
    group_by: str
    total_usd: Decimal
    unconfirmed_usd: Decimal
    calls: int
    groups: list[SpendRow]


def _body(request: HttpRequest) -> bytes | None:
    """The request's body, or None when it is larger than a run log may be (not read then)."""
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_RUN_LOG_BYTES:
        return None
    try:
        body = request.body
    except RequestDataTooBig:
        return None
    return body if len(body) <= MAX_RUN_LOG_BYTES else None


def _run_filter(project: Project, run: str | None) -> Run | None:
    if not run:
        return None
    found = Run.objects.filter(project=project, uid=run).only("pk", "uid").first()
    if found is None:
        raise Http404("No such run.")
    return found


@router.post(
    "/{slug}/run-logs",
    response={200: IngestOut, 201: IngestOut, 413: ErrorOut, **ERRORS},
    summary="Ingest a run log",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A run log (runs/<uid>/run.json, schema kroma.runlog/1), at most "
            f"{MAX_RUN_LOG_BYTES // 2**20} MB.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
def ingest(request: HttpRequest, slug: str):
    """Rows from a run log, into this project: 201 when new, 200 when it was already known.
    A bad log answers 422 with the JSON path of its first problem as `field`."""
    project = api_project(request, slug, write=True)
    body = _body(request)
    if body is None:
        message = f"A run log is at most {MAX_RUN_LOG_BYTES // 2**20} MB."
        return Status(413, {"error": {"code": "too_large", "message": message, "field": None}})
    try:
        data = json.loads(body)
        run, created = ingest_log(project=project, user=request.user, data=data)
    except (ValueError, RecursionError):
        message = "The body is not valid JSON (UTF-8)."
        return Status(422, {"error": {"code": "bad_run_log", "message": message, "field": None}})
    except RunLogError as exc:
        return Status(422, {"error": exc.as_dict()})
    body = {"run": run.uid, "created": created, "status": run.status, "jobs": run.jobs.count()}
    return Status(201 if created else 200, body)


@router.get(
    "/{slug}/quality-reports",
    response={200: QualityReportList, **ERRORS},
    summary="QA reports, newest first",
)
def list_quality_reports(
    request: HttpRequest,
    slug: str,
    run: str | None = Query(None, max_length=40),
    passed: bool | None = None,
    offset: int = Query(0, ge=0, le=1_000_000),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
):
    project = api_project(request, slug)
    reports = QualityReport.objects.filter(project=project)
    found = _run_filter(project, run)
    if found is not None:
        reports = reports.filter(run=found)
    if passed is not None:
        reports = reports.filter(passed=passed)
    reports = reports.select_related("run", "candidate__job").order_by("-created_at", "-pk")
    reports = reports.only(
        "id",
        "passed",
        "hard_failures",
        "soft_warnings",
        "metrics",
        "created_at",
        "run__uid",
        "candidate__index",
        "candidate__job__scene_key",
    )
    items, total = page_of(reports, offset=offset, limit=limit)
    return {"items": items, "total": total, "offset": offset, "limit": limit}


@router.get("/{slug}/cost-events", response={200: CostEventList, **ERRORS}, summary="Cost events")
def list_cost_events(
    request: HttpRequest,
    slug: str,
    run: str | None = Query(None, max_length=40),
    offset: int = Query(0, ge=0, le=1_000_000),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
):
    """Every billed (or possibly billed: `unconfirmed`) provider call, newest first."""
    project = api_project(request, slug)
    events = costs.project_events(project)
    found = _run_filter(project, run)
    if found is not None:
        events = events.filter(run=found)
    events = events.select_related("run", "job").order_by("-created_at", "-pk")
    items, total = page_of(events, offset=offset, limit=limit)
    return {"items": items, "total": total, "offset": offset, "limit": limit}


@router.get(
    "/{slug}/cost-summary", response={200: CostSummaryOut, **ERRORS}, summary="Spend, grouped"
)
def cost_summary(
    request: HttpRequest,
    slug: str,
    group_by: Literal["day", "model", "run"] = "day",
    days: int = Query(30, ge=1, le=366, description="group_by=day: how many days, to today"),
    runs: int = Query(20, ge=1, le=MAX_PAGE, description="group_by=run: the newest runs"),
):
    """The project's spend: in total, and per day (UTC, oldest first, days without spend as
    0), per provider and model (the most expensive first) or per run (oldest first)."""
    project = api_project(request, slug)
    total = costs.spend(costs.project_events(project))
    return {
        "group_by": group_by,
        "total_usd": total.usd,
        "unconfirmed_usd": total.unconfirmed_usd,
        "calls": total.calls,
        "groups": _groups(project, group_by, days, runs),
    }


def _groups(project: Project, group_by: str, days: int, runs: int) -> list[dict[str, Any]]:
    if group_by == "day":
        rows = costs.spend_by_day(project=project, days=days)
        return [{"key": _day(r.day), "usd": r.usd, "calls": r.calls} for r in rows]
    if group_by == "model":
        rows = costs.spend_by_model(project=project)
        return [{"key": f"{r.provider}/{r.model}", "usd": r.usd, "calls": r.calls} for r in rows]
    return [
        {
            "key": r.run.uid,
            "usd": r.actual_usd,
            "calls": r.calls,
            "estimate_usd": r.estimate_usd,
            "unconfirmed_usd": r.unconfirmed_usd,
        }
        for r in costs.spend_by_run(project=project, limit=runs)
    ]


def _day(day: date) -> str:
    return day.isoformat()
