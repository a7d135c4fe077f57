"""The run log: one JSON file per run with everything needed to audit, ingest or replay it.

Written atomically to runs/<uid>/run.json in the project's storage. It never contains keys:
requests are described by their parameters, and secrets never reach the rows it is built from.
`ingest_run_log` turns a log back into rows, idempotently (natural keys: run uid, job index,
candidate index, cost event key), which also backfills logs from before the database existed.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils.dateparse import parse_datetime
from PIL import Image

from pipeline import paths
from pipeline.models import CostEvent, QualityReport, Run, RunCandidate, RunJob
from projects.models import Asset, Project
from projects.storage import read_file, storage_for, write_file_atomic

SCHEMA = "kroma.runlog/1"


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def build_run_log(run: Run) -> dict[str, Any]:
    jobs = run.jobs.order_by("index").prefetch_related("candidates__report")
    costs = CostEvent.objects.filter(run=run).order_by("idempotency_key")
    return {
        "schema": SCHEMA,
        "run": {
            "uid": run.uid,
            "project": run.project.slug,
            "stage": run.stage,
            "mode": run.mode,
            "status": run.status,
            "provider": run.provider,
            "model": run.model,
            "candidates_per_job": run.candidates_per_job,
            "requested_by": run.requested_by.get_username() if run.requested_by else None,
            "created_at": _iso(run.created_at),
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
            "error": run.error,
        },
        "manifest": run.manifest_snapshot,
        "manifest_sha256": run.manifest_hash,
        "plan": run.plan,
        "estimate_usd": str(run.estimated_cost_usd),
        "jobs": [_job_entry(job) for job in jobs],
        "costs": {
            "total_usd": str(sum((c.usd for c in costs), Decimal(0))),
            "events": [
                {
                    "key": c.idempotency_key,
                    "job": c.job.index if c.job else None,
                    "provider": c.provider,
                    "model": c.model,
                    "operation": c.operation,
                    "usd": str(c.usd),
                    "units": c.units,
                    "at": _iso(c.created_at),
                }
                for c in costs.select_related("job")
            ],
        },
    }


def _job_entry(job: RunJob) -> dict[str, Any]:
    return {
        "index": job.index,
        "scene_key": job.scene_key,
        "status": job.status,
        "step": job.step,
        "attempts": job.attempts,
        "error": job.error,
        "prompt": job.prompt,
        "input": job.details.get("input"),
        "estimate_usd": job.details.get("estimate_usd"),
        "provider_calls": job.details.get("provider_calls", []),
        "timings_s": job.details.get("timings", {}),
        "errors": job.details.get("errors", []),
        "ranking": job.details.get("ranking"),
        "selection_override": job.details.get("selection_override"),
        "final_asset": job.details.get("final_asset"),
        "postprocess": job.details.get("postprocess", []),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "candidates": [
            {
                "index": c.index,
                "path": c.output_path,
                "sha256": c.asset.sha256 if c.asset else None,
                "rank": c.rank,
                "passed": c.passed,
                "selected": c.selected,
                "archived": c.archived,
                "qa": c.qa_summary,
            }
            for c in job.candidates.select_related("asset").order_by("index")
        ],
    }


def _dt(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


def write_run_log(run: Run) -> str:
    path = paths.run_log_path(run)
    data = json.dumps(build_run_log(run), indent=2, sort_keys=True).encode()
    write_file_atomic(run.project, path, data)
    if run.log_path != path:
        Run.objects.filter(pk=run.pk).update(log_path=path)
        run.log_path = path
    return path


class RunLogError(ValueError):
    pass


@transaction.atomic
def ingest_run_log(data: dict[str, Any], *, project: Project | None = None) -> tuple[Run, bool]:
    """Rows from a run log; returns (run, created). Re-ingesting the same log adds nothing."""
    if data.get("schema") != SCHEMA:
        raise RunLogError(f"not a Kroma run log (schema {data.get('schema')!r}, expected {SCHEMA})")
    meta = data["run"]
    if project is None:
        project = Project.objects.filter(slug=meta["project"]).first()
        if project is None:
            raise RunLogError(f"the log's project {meta['project']!r} does not exist here")
    run, created = Run.objects.get_or_create(
        uid=meta["uid"],
        defaults={
            "project": project,
            "stage": meta["stage"],
            "mode": meta["mode"],
            "status": meta["status"],
            "provider": meta.get("provider", ""),
            "model": meta.get("model", ""),
            "candidates_per_job": meta["candidates_per_job"],
            "manifest_snapshot": data.get("manifest", {}),
            "manifest_hash": data.get("manifest_sha256", ""),
            "plan": data.get("plan", {}),
            "estimated_cost_usd": Decimal(data.get("estimate_usd", "0")),
            "actual_cost_usd": Decimal(data["costs"]["total_usd"]),
            "error": meta.get("error", ""),
            "started_at": _dt(meta.get("started_at")),
            "finished_at": _dt(meta.get("finished_at")),
        },
    )
    if run.project_id != project.pk:
        raise RunLogError(f"run {run.uid} belongs to another project")
    jobs = {}
    for entry in data["jobs"]:
        jobs[entry["index"]] = _ingest_job(run, project, entry)
    for event in data["costs"]["events"]:
        cost, _ = CostEvent.objects.get_or_create(
            idempotency_key=event["key"],
            defaults={
                "project": project,
                "run": run,
                "job": jobs.get(event["job"]),
                "provider": event["provider"],
                "model": event["model"],
                "operation": event["operation"],
                "usd": Decimal(event["usd"]),
                "units": event["units"],
            },
        )
        if cost.run_id is None:  # the run was deleted and is being restored from its log
            CostEvent.objects.filter(pk=cost.pk).update(run=run, job=jobs.get(event["job"]))
    return run, created


def _ingest_job(run: Run, project: Project, entry: dict[str, Any]) -> RunJob:
    job, _ = RunJob.objects.get_or_create(
        run=run,
        index=entry["index"],
        defaults={
            "project": project,
            "scene_key": entry["scene_key"],
            "status": entry["status"],
            "step": entry.get("step", ""),
            "attempts": entry.get("attempts", 0),
            "error": entry.get("error", ""),
            "prompt": entry.get("prompt", ""),
            "started_at": _dt(entry.get("started_at")),
            "finished_at": _dt(entry.get("finished_at")),
            "input_asset_id": (entry.get("input") or {}).get("asset_id")
            if Asset.objects.filter(
                pk=(entry.get("input") or {}).get("asset_id") or 0, project=project
            ).exists()
            else None,
            "details": {
                "input": entry.get("input"),
                "estimate_usd": entry.get("estimate_usd"),
                "provider_calls": entry.get("provider_calls", []),
                "timings": entry.get("timings_s", {}),
                "errors": entry.get("errors", []),
                "ranking": entry.get("ranking"),
                "selection_override": entry.get("selection_override"),
                "postprocess": entry.get("postprocess", []),
                "final_asset": entry.get("final_asset"),
            },
        },
    )
    for c in entry.get("candidates", []):
        _ingest_candidate(run, project, job, c)
    return job


def _ingest_candidate(run: Run, project: Project, job: RunJob, c: dict[str, Any]) -> None:
    asset = _candidate_asset(project, c)
    candidate, _ = RunCandidate.objects.get_or_create(
        job=job,
        index=c["index"],
        defaults={
            "project": project,
            "asset": asset,
            "output_path": c.get("path", ""),
            "rank": c.get("rank"),
            "passed": c.get("passed"),
            "selected": c.get("selected", False),
            "archived": c.get("archived", False),
            "qa_summary": c.get("qa") or {},
        },
    )
    qa = c.get("qa") or {}
    if qa:
        QualityReport.objects.get_or_create(
            candidate=candidate,
            defaults={
                "project": project,
                "run": run,
                "passed": qa["passed"],
                "hard_failures": len(qa["hard_failures"]),
                "soft_warnings": len(qa["soft_warnings"]),
                "metrics": qa["metrics"],
            },
        )


def _candidate_asset(project: Project, entry: dict[str, Any]) -> Asset | None:
    """The candidate's asset row; recreated from its file when only the log and file remain."""
    path = entry.get("path") or ""
    asset = Asset.objects.filter(project=project, kind=Asset.Kind.CANDIDATE, path=path).first()
    if asset is not None or not path or not storage_for(project).exists(path):
        return asset
    data = read_file(project, path)
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
    return Asset.objects.create(
        project=project,
        kind=Asset.Kind.CANDIDATE,
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        width=width,
        height=height,
        mime="image/png",
        title=f"ingested {path}",
    )
