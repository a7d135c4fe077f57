"""The run log's schema, checked in full before a log is ingested.

A run log may come from anywhere (another install, an old version, a hand edit), so nothing in
it is trusted: every value that becomes a row, a path or a URL is checked here first, and the
first problem is reported with its JSON path, e.g. `jobs[2].candidates[0].path: must stay
inside runs/<uid>/`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from kroma.lib.errors import UserError

Check = Callable[[Any, str], None]

UID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class RunLogError(UserError):
    code = "bad_run_log"


def _fail(path: str, reason: str) -> None:
    raise RunLogError(f"{path or '(top level)'}: {reason}", field=path or None)


def text(max_length: int, pattern: re.Pattern | None = None, *, blank: bool = True) -> Check:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, str):
            _fail(path, f"must be text, got {type(value).__name__}")
        if len(value) > max_length:
            _fail(path, f"longer than {max_length} characters")
        if not value and not blank:
            _fail(path, "must not be empty")
        if value and pattern is not None and not pattern.match(value):
            _fail(path, f"{value[:60]!r} is not allowed here")

    return check


def integer(lo: int, hi: int) -> Check:
    def check(value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            _fail(path, f"must be a whole number in {lo}..{hi}")

    return check


def money(value: Any, path: str) -> None:
    try:
        amount = Decimal(str(value)) if isinstance(value, str | int | float) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or not Decimal(0) <= amount <= Decimal(10**6):
        _fail(path, f"must be an amount of dollars 0..1000000, got {str(value)[:40]!r}")


def choice(*options: str) -> Check:
    def check(value: Any, path: str) -> None:
        if value not in options:
            _fail(path, f"must be one of {', '.join(options)}; got {str(value)[:40]!r}")

    return check


def boolean(value: Any, path: str) -> None:
    if not isinstance(value, bool):
        _fail(path, "must be true or false")


def anything(value: Any, path: str) -> None:
    pass


def number(lo: float, hi: float) -> Check:
    def check(value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            _fail(path, f"must be a number in {lo}..{hi}")

    return check


def empty_or(inner: Check) -> Check:
    """An empty object, or one that passes `inner`."""

    def check(value: Any, path: str) -> None:
        if value != {}:
            inner(value, path)

    return check


def nullable(inner: Check) -> Check:
    def check(value: Any, path: str) -> None:
        if value is not None:
            inner(value, path)

    return check


def obj(required: dict[str, Check], optional: dict[str, Check] | None = None) -> Check:
    """An object with these keys (others are ignored: newer logs may carry more)."""

    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            _fail(path, f"must be an object, got {type(value).__name__}")
        for key, inner in required.items():
            if key not in value:
                _fail(f"{path}.{key}".lstrip("."), "is missing")
            inner(value[key], f"{path}.{key}".lstrip("."))
        for key, inner in (optional or {}).items():
            if key in value:
                inner(value[key], f"{path}.{key}".lstrip("."))

    return check


def array(inner: Check, max_items: int) -> Check:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, list):
            _fail(path, f"must be a list, got {type(value).__name__}")
        if len(value) > max_items:
            _fail(path, f"has {len(value)} items; at most {max_items}")
        for index, item in enumerate(value):
            inner(item, f"{path}[{index}]")

    return check


def relative_path(value: Any, path: str) -> None:
    text(500)(value, path)
    parts = value.split("/")
    if value.startswith(("/", "\\")) or "\\" in value or ".." in parts or ":" in value:
        _fail(path, f"{value[:80]!r} must be a relative path inside the project")


TIMESTAMP = nullable(text(40))
STATUSES = ("planned", "queued", "running", "done", "partial", "failed", "errored", "canceled")

CANDIDATE = obj(
    {"index": integer(0, 63)},
    {
        "path": relative_path,
        "sha256": nullable(text(64, SHA256)),
        "rank": nullable(integer(1, 64)),
        "passed": nullable(boolean),
        "selected": boolean,
        "archived": boolean,
        "override_reason": text(300),
        "overridden_by": nullable(text(150)),
        "overridden_at": TIMESTAMP,
        "qa": nullable(
            empty_or(
                obj(
                    {
                        "passed": boolean,
                        "hard_failures": array(text(500), 64),
                        "soft_warnings": array(text(500), 64),
                        "metrics": obj({}),
                    }
                )
            )
        ),
    },
)

JOB = obj(
    {
        "index": integer(0, 100_000),
        "scene_key": text(200, blank=False),
        "status": choice(*STATUSES),
    },
    {
        "step": text(30),
        "attempts": integer(0, 100),
        "error": text(20_000),
        "error_code": text(40),
        "prompt": text(50_000),
        "input": nullable(
            obj(
                {},
                {
                    "path": relative_path,
                    "source": text(80),
                    "key": text(200),
                    "asset_id": nullable(integer(1, 2**62)),
                },
            )
        ),
        "estimate_usd": nullable(money),
        "panel": nullable(obj({"key": text(200)}, {"id": nullable(integer(1, 2**62))})),
        "size": text(12),
        "references": array(
            obj({"path": relative_path}, {"key": text(200), "source": text(120)}), 64
        ),
        "provider_calls": array(obj({}), 1000),
        "steps": array(
            obj(
                {"step": text(30, blank=False)},
                {
                    "subject": text(60),
                    "attempt": integer(0, 32767),
                    "status": choice("running", "done", "skipped", "failed", "errored", "lost"),
                    "paid": boolean,
                    "input_sha256": nullable(text(64)),
                    "param_key": nullable(text(64)),
                    "error_code": nullable(text(40)),
                    "error": nullable(text(20_000)),
                    "duration_s": nullable(number(0, 10**7)),
                    "output_asset": nullable(integer(1, 2**62)),
                    "cost_event": nullable(text(200)),
                    "started_at": TIMESTAMP,
                    "finished_at": TIMESTAMP,
                },
            ),
            10_000,
        ),
        "selection_override": nullable(
            obj(
                {},
                {
                    "by": nullable(text(150)),
                    "from": nullable(integer(0, 63)),
                    "to": integer(0, 63),
                    "reason": text(300),
                    "failed_qa": boolean,
                },
            )
        ),
        "candidates": array(CANDIDATE, 64),
        "final_asset": nullable(obj({}, {"path": relative_path})),
        "started_at": TIMESTAMP,
        "finished_at": TIMESTAMP,
    },
)

COST_EVENT = obj(
    {
        "key": text(200, blank=False),
        "provider": text(20),
        "operation": text(30),
        "usd": money,
    },
    {
        "job": nullable(integer(0, 100_000)),
        "model": text(60),
        "units": obj({}),
        "at": TIMESTAMP,
        "unconfirmed": boolean,
    },
)

RUN_LOG = obj(
    {
        "schema": anything,
        "run": obj(
            {
                "uid": text(40, UID, blank=False),
                "project": text(64, SLUG, blank=False),
                "stage": choice("style", "time", "weather", "characters"),
                "mode": choice("dry", "run"),
                "status": choice(*STATUSES),
                "candidates_per_job": integer(1, 64),
            },
            {
                "provider": text(20),
                "model": text(60),
                "error": text(20_000),
                "started_at": TIMESTAMP,
                "finished_at": TIMESTAMP,
            },
        ),
        "jobs": array(JOB, 10_000),
        "costs": obj({"total_usd": money, "events": array(COST_EVENT, 100_000)}),
    },
    {"manifest": obj({}), "plan": obj({}), "estimate_usd": money, "manifest_sha256": text(64)},
)


def validate_run_log(data: Any) -> dict[str, Any]:
    """Check a parsed run log against the schema; raise RunLogError naming the JSON path."""
    RUN_LOG(data, "")
    indices = [job["index"] for job in data["jobs"]]
    if len(set(indices)) != len(indices):
        _fail("jobs", "two jobs have the same index")
    for number, job in enumerate(data["jobs"]):
        prefix = f"runs/{data['run']['uid']}/"
        for c, candidate in enumerate(job.get("candidates", [])):
            if candidate.get("path") and not candidate["path"].startswith(prefix):
                _fail(f"jobs[{number}].candidates[{c}].path", f"must stay inside {prefix}")
    return data
