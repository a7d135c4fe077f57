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
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from PIL import Image

from pipeline import paths
from pipeline.models import RUN_JOB, CostEvent, QualityReport, Run, RunCandidate, RunJob, StepRun
from pipeline.runlog_schema import RunLogError, validate_run_log
from pipeline.steprecords import step_fields
from projects.models import Asset, Panel, Project
from projects.storage import read_file, storage_for, write_file_atomic

SCHEMA = "kroma.runlog/1"


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def build_run_log(run: Run) -> dict[str, Any]:
    jobs = list(
        run.jobs.order_by("index")
        .select_related("final_asset")
        .prefetch_related(
            Prefetch(
                "candidates",
                RunCandidate.objects.select_related("asset", "overridden_by").order_by("index"),
            )
        )
    )
    rows = rows_by_job(jobs)
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
        "jobs": [_job_entry(job, rows[job.pk]) for job in jobs],
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
                    "unconfirmed": c.unconfirmed,
                    "at": _iso(c.created_at),
                }
                for c in costs.select_related("job")
            ],
        },
    }


def job_record(job: RunJob, rows: list[StepRun]) -> dict[str, Any]:
    """What a job's step rows say, in the run log's shape (the run page reads the same)."""
    from pipeline.services.steps import job_steps

    engine_steps = {step.name for step in job_steps()}
    latest = {}  # the newest attempt of each engine step
    for row in rows:
        if row.step in engine_steps:
            latest[row.step] = row
    chain = [r for r in rows if r.subject.startswith("pass ")]
    last_pass = chain[-1].subject if chain else None
    select = latest.get("select")
    overrides = [r for r in rows if r.step == "override"]
    return {
        "provider_calls": [
            {**r.notes, "status": r.status, "unconfirmed": r.status == StepRun.Status.LOST}
            for r in rows
            if r.step == "provider_call"
        ],
        "timings_s": {step: row.duration_s for step, row in latest.items()},
        "errors": [
            {"step": r.step, "code": r.error_code, "error": r.error}
            for r in rows
            if r.status in (StepRun.Status.FAILED, StepRun.Status.ERRORED, StepRun.Status.LOST)
        ],
        "ranking": select.notes.get("ranking") if select else None,
        "selection_override": overrides[-1].notes if overrides else None,
        "postprocess": [r.notes for r in chain if r.subject == last_pass],
        "steps": [
            {
                "step": r.step,
                "subject": r.subject,
                "attempt": r.attempt,
                "status": r.status,
                "paid": r.paid,
                "input_sha256": r.input_sha256,
                "param_key": r.param_key,
                "output_asset": r.output_asset_id,
                "cost_event": r.cost_event.idempotency_key if r.cost_event else None,
                "error_code": r.error_code,
                "error": r.error,
                "started_at": _iso(r.started_at),
                "finished_at": _iso(r.finished_at),
                "duration_s": r.duration_s,
            }
            for r in rows
        ],
    }


def _job_entry(job: RunJob, rows: list[StepRun]) -> dict[str, Any]:
    final = job.final_asset
    return {
        "index": job.index,
        "scene_key": job.scene_key,
        "status": job.status,
        "step": job.step,
        "attempts": job.attempts,
        "error_code": job.error_code,
        "error": job.error,
        "prompt": job.prompt,
        "input": job.input if job.input_path else None,
        "panel": {"id": job.panel_id, "key": job.scene_key} if job.panel_id else None,
        "size": job.size,
        "references": job.references,
        "estimate_usd": str(job.estimate_usd),
        **job_record(job, rows),
        "final_asset": {"id": final.pk, "path": final.path} if final else None,
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
                "override_reason": c.override_reason,
                "overridden_by": c.overridden_by.get_username() if c.overridden_by else None,
                "overridden_at": _iso(c.overridden_at),
            }
            for c in job.candidates.all()
        ],
    }


def rows_by_job(jobs: list[RunJob]) -> dict[int, list[StepRun]]:
    rows: dict[int, list[StepRun]] = {job.pk: [] for job in jobs}
    for row in (
        StepRun.objects.filter(item_type=RUN_JOB, item_id__in=[str(job.pk) for job in jobs])
        .select_related("cost_event")
        .order_by("started_at", "pk")
    ):
        rows[int(row.item_id)].append(row)
    return rows


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


def ingest_run_log(data: dict[str, Any], *, project: Project | None = None) -> tuple[Run, bool]:
    """Rows from a run log; returns (run, created). Re-ingesting the same log adds nothing.

    The log is validated, and candidate files without rows are read and measured, first; the
    rows are then written in one transaction.
    """
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise RunLogError(f"not a Kroma run log (schema {found!r}, expected {SCHEMA})")
    validate_run_log(data)
    data = _settle_unfinished(data)
    meta = data["run"]
    if project is None:
        project = Project.objects.filter(slug=meta["project"]).first()
        if project is None:
            raise RunLogError(f"the log's project {meta['project']!r} does not exist here")
    files = _candidate_files(project, data)
    with transaction.atomic():
        return _write_rows(data, project, files)


def _candidate_files(project: Project, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Size, hash and dimensions of candidate files that have no asset row yet."""
    paths = [c.get("path") for j in data["jobs"] for c in j.get("candidates", []) if c.get("path")]
    known = set(
        Asset.objects.filter(
            project=project, kind=Asset.Kind.CANDIDATE, path__in=paths
        ).values_list("path", flat=True)
    )
    storage, found = storage_for(project), {}
    for path in paths:
        if path in known or not storage.exists(path):
            continue
        content = read_file(project, path)
        try:
            with Image.open(io.BytesIO(content)) as image:
                width, height = image.size
        except (OSError, Image.DecompressionBombError):
            continue  # not an image: the candidate is ingested without one
        found[path] = {
            "sha256": hashlib.sha256(content).hexdigest(),
            "size_bytes": len(content),
            "width": width,
            "height": height,
        }
    return found


def _write_rows(
    data: dict[str, Any], project: Project, files: dict[str, dict[str, Any]]
) -> tuple[Run, bool]:
    meta = data["run"]
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
        jobs[entry["index"]] = _ingest_job(run, project, entry, files)
    for event in data["costs"]["events"]:
        cost, _ = CostEvent.objects.get_or_create(
            idempotency_key=event["key"],
            defaults={
                "project": project,
                "run": run,
                "job": jobs.get(event.get("job")),
                "provider": event["provider"],
                "model": event.get("model", ""),
                "operation": event["operation"],
                "usd": Decimal(str(event["usd"])),
                "units": event.get("units", {}),
                "unconfirmed": bool(event.get("unconfirmed", False)),
            },
        )
        if cost.run_id is None:  # the run was deleted and is being restored from its log
            CostEvent.objects.filter(pk=cost.pk).update(run=run, job=jobs.get(event.get("job")))
    for entry in data["jobs"]:  # after the cost events, which step rows point at
        if jobs[entry["index"]].ingested:
            _ingest_steps(project, jobs[entry["index"]], entry)
    return run, created


UNFINISHED = ("queued", "running")


def _settle_unfinished(data: dict[str, Any]) -> dict[str, Any]:
    """A log written while its run was still working: no worker here will finish it, so it
    is ingested as failed (with the reason) instead of staying "running" for ever."""
    meta = data["run"]
    if meta["mode"] != "run" or meta["status"] not in UNFINISHED:
        return data
    reason = "ingested from a log written before the run finished; its remaining work is lost"
    jobs = [
        {**job, "status": "failed", "error_code": "ingested_unfinished", "error": reason}
        if job["status"] in UNFINISHED
        else job
        for job in data["jobs"]
    ]
    return {**data, "run": {**meta, "status": "failed", "error": reason}, "jobs": jobs}


def _final_asset(project: Project, ref: Any) -> Asset | None:
    if not isinstance(ref, dict) or not isinstance(ref.get("path"), str):
        return None
    return Asset.objects.filter(project=project, path=ref["path"]).first()


def _ingest_job(
    run: Run, project: Project, entry: dict[str, Any], files: dict[str, dict[str, Any]]
) -> RunJob:
    job, created = RunJob.objects.get_or_create(
        run=run,
        index=entry["index"],
        defaults={
            "project": project,
            "scene_key": entry["scene_key"],
            "status": entry["status"],
            "step": entry.get("step", ""),
            "attempts": entry.get("attempts", 0),
            "error": entry.get("error", ""),
            "error_code": entry.get("error_code", ""),
            "prompt": entry.get("prompt", ""),
            "started_at": _dt(entry.get("started_at")),
            "finished_at": _dt(entry.get("finished_at")),
            "input_asset_id": (entry.get("input") or {}).get("asset_id")
            if Asset.objects.filter(
                pk=(entry.get("input") or {}).get("asset_id") or 0, project=project
            ).exists()
            else None,
            "input_path": str((entry.get("input") or {}).get("path") or "")[:500],
            "input_source": str((entry.get("input") or {}).get("source") or "")[:80],
            "panel": Panel.objects.filter(project=project, key=entry["scene_key"]).first(),
            "size": str(entry.get("size") or "")[:12],
            "references": entry.get("references") or [],
            "estimate_usd": Decimal(str(entry.get("estimate_usd") or 0)),
            "final_asset": _final_asset(project, entry.get("final_asset")),
        },
    )
    job.ingested = created
    for c in entry.get("candidates", []):
        _ingest_candidate(run, project, job, c, files)
    return job


def _ingest_steps(project: Project, job: RunJob, entry: dict[str, Any]) -> None:
    steps = entry.get("steps") if isinstance(entry.get("steps"), list) else []
    rows = []
    for index, fields in enumerate(step_fields(entry, attempt=job.attempts)):
        logged = steps[index] if index < len(steps) and isinstance(steps[index], dict) else {}
        asset_id = logged.get("output_asset")
        rows.append(
            StepRun(
                project=project,
                item_type=RUN_JOB,
                item_id=str(job.pk),
                started_at=_dt(logged.get("started_at")) or timezone.now(),
                finished_at=_dt(logged.get("finished_at")),
                output_asset=Asset.objects.filter(pk=asset_id, project=project).first()
                if isinstance(asset_id, int)
                else None,
                cost_event=CostEvent.objects.filter(
                    idempotency_key=str(logged.get("cost_event")), project=project
                ).first()
                if logged.get("cost_event")
                else None,
                **fields,
            )
        )
    StepRun.objects.bulk_create(rows)


def _ingest_candidate(
    run: Run, project: Project, job: RunJob, c: dict[str, Any], files: dict[str, dict[str, Any]]
) -> None:
    asset = _candidate_asset(project, c, files)
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
            "override_reason": c.get("override_reason") or "",
            # Only the project's owner is recognised by name: a log may come from elsewhere.
            "overridden_by": project.owner
            if c.get("overridden_by") and c["overridden_by"] == project.owner.get_username()
            else None,
            "overridden_at": _dt(c.get("overridden_at")),
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


def _candidate_asset(
    project: Project, entry: dict[str, Any], files: dict[str, dict[str, Any]]
) -> Asset | None:
    """The candidate's asset row; recreated from its file when only the log and file remain."""
    path = entry.get("path") or ""
    asset = Asset.objects.filter(project=project, kind=Asset.Kind.CANDIDATE, path=path).first()
    if asset is not None or path not in files:
        return asset
    return Asset.objects.create(
        project=project,
        kind=Asset.Kind.CANDIDATE,
        path=path,
        mime="image/png",
        title=f"ingested {path}",
        **files[path],
    )
