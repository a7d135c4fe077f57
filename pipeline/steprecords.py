"""Step rows from a job's record: a run log's job entry, or a job's work state from before
step rows existed (RunJob.details). Used by ingest and by migration 0006; plain data only, so
a migration can use it with historical models.
"""

from __future__ import annotations

from typing import Any

ENGINE_STEPS = ("generate", "qa", "select", "postprocess")


def step_fields(record: dict[str, Any], *, attempt: int) -> list[dict[str, Any]]:
    """StepRun field values (without item, project or output/cost FKs) for one job's record."""
    if isinstance(record.get("steps"), list):
        calls = iter(c for c in record.get("provider_calls") or [] if isinstance(c, dict))
        rows = []
        for s in record["steps"]:
            if not isinstance(s, dict):
                continue
            notes = next(calls, {}) if s.get("step") == "provider_call" else _notes_for(s, record)
            rows.append(
                {
                    "step": str(s.get("step", ""))[:30],
                    "subject": str(s.get("subject", ""))[:60],
                    "attempt": int(s.get("attempt") or 0),
                    "status": str(s.get("status", "done"))[:10],
                    "paid": bool(s.get("paid")),
                    "input_sha256": str(s.get("input_sha256") or "")[:64],
                    "param_key": str(s.get("param_key") or "")[:64],
                    "error_code": str(s.get("error_code") or "")[:40],
                    "error": str(s.get("error") or ""),
                    "duration_s": s.get("duration_s"),
                    "notes": notes,
                }
            )
        return rows
    rows: list[dict[str, Any]] = []
    for call in record.get("provider_calls") or []:
        rows.append(
            _row("provider_call", attempt, notes=call, paid=call.get("provider") != "local")
        )
    timings = record.get("timings_s", record.get("timings")) or {}
    errors = {e.get("step"): e for e in record.get("errors") or [] if isinstance(e, dict)}
    for step in ENGINE_STEPS:
        if step not in timings and step not in errors:
            continue
        error = errors.get(step)
        notes = {"ranking": record.get("ranking")} if step == "select" else {}
        internal = bool(error) and ("traceback" in error or "internal error" in error["error"])
        rows.append(
            _row(
                step,
                attempt,
                status=("errored" if internal else "failed") if error else "done",
                error=error["error"] if error else "",
                error_code=("internal" if internal else "pipeline_error") if error else "",
                duration_s=timings.get(step),
                notes=notes,
            )
        )
    if record.get("selection_override"):
        rows.append(_row("override", attempt, notes=record["selection_override"]))
    for entry in record.get("postprocess") or []:
        status = "failed" if "error" in entry else "skipped" if entry.get("skipped") else "done"
        rows.append(
            _row(
                str(entry.get("step", "postprocess")),
                attempt,
                subject="pass imported",
                status=status,
                input_sha256=entry.get("input_sha256", ""),
                param_key=entry.get("key", ""),
                error=entry.get("error", ""),
                duration_s=entry.get("duration_s"),
                notes=entry,
            )
        )
    return rows


def _notes_for(step: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """A run log keeps each step's notes in its summary fields; put them back on the rows."""
    if step.get("step") == "select":
        return {"ranking": record.get("ranking")}
    if step.get("step") == "override":
        return record.get("selection_override") or {}
    if str(step.get("subject", "")).startswith("pass "):
        chain = record.get("postprocess") or []
        for entry in chain:
            if entry.get("step") == step.get("step") and entry.get("key", "") == step.get(
                "param_key", ""
            ):
                return entry
    return {}


def _row(step: str, attempt: int, **fields: Any) -> dict[str, Any]:
    base = {
        "step": step,
        "subject": "",
        "attempt": attempt,
        "status": "done",
        "paid": False,
        "input_sha256": "",
        "param_key": "",
        "error_code": "",
        "error": "",
        "duration_s": None,
        "notes": {},
    }
    return {**base, **fields}
