"""Reviewing candidates: a run's or a panel's candidates with their QA, source and the artist's
rating, in review order; the recipe of a run or a candidate recalled into New Run; a panel's
version tree across stages.

Review order is the ranking (pipeline.qa.ranking_key) recomputed with the ratings as they are
now, rejected candidates last: what the page shows first is what the artist would pick next.
The automatic pick made at generation time stays until the artist picks (Enter or "use this").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from pipeline.config import STAGES
from pipeline.models import Run, RunCandidate, RunJob
from pipeline.qa import QAResult, ranking_key
from pipeline.services.plan import RunRequest
from projects.models import Asset, Panel, Project

# The metrics shown next to each candidate, in this order, with their labels.
SHOWN_METRICS: list[tuple[str, str]] = [
    ("mean_chroma_excess", "chroma excess"),
    ("max_channel_spread", "max spread"),
    ("soft_fraction", "tinted"),
    ("hard_fraction", "coloured"),
    ("luma_std", "contrast"),
]
PANEL_RUNS_SHOWN = 6  # a panel's review shows its newest runs' candidates (older: Runs list)


def qa_result(candidate: RunCandidate) -> QAResult:
    summary = candidate.qa_summary or {}
    return QAResult(
        metrics=summary.get("metrics") or {},
        hard_failures=list(summary.get("hard_failures") or []),
        soft_warnings=list(summary.get("soft_warnings") or []),
    )


def review_key(candidate: RunCandidate) -> tuple:
    """Rejected last; then the QA ranking with the artist's current rating as tie-breaker."""
    result = qa_result(candidate)
    if "mean_chroma_excess" not in result.metrics:  # not checked yet: after the checked ones
        result = QAResult({"mean_chroma_excess": float("inf")}, ["unchecked"], [])
    asset = candidate.asset
    return (
        bool(asset and asset.rejected),
        ranking_key(candidate.index, result, asset.rating if asset else None),
    )


def ranked(candidates: list[RunCandidate]) -> list[RunCandidate]:
    """The candidates in review order, each given `review_rank` (1 = best now)."""
    order = sorted(candidates, key=review_key)
    for rank, candidate in enumerate(order, start=1):
        candidate.review_rank = rank
    return order


@dataclass(frozen=True)
class ReviewFilters:
    """What the review shows: `show` all / unrated / rated / kept (not rejected) / rejected;
    `qa` all / passed / failed; `min_rating` 0-5; `sort` rank / rating / index / newest."""

    show: str = "all"
    qa: str = "all"
    min_rating: int = 0
    sort: str = "rank"


def _filtered(candidates: list[RunCandidate], filters: ReviewFilters) -> list[RunCandidate]:
    def keep(c: RunCandidate) -> bool:
        asset = c.asset
        shown = {
            "all": True,
            "unrated": asset.rating is None and not asset.rejected,
            "rated": asset.rating is not None,
            "kept": not asset.rejected,
            "rejected": asset.rejected,
        }[filters.show]
        qa = {"all": True, "passed": c.passed is True, "failed": c.passed is False}[filters.qa]
        return shown and qa and (asset.rating or 0) >= filters.min_rating

    return [c for c in candidates if keep(c)]


def _sorted(candidates: list[RunCandidate], sort: str) -> list[RunCandidate]:
    if sort == "rating":
        return sorted(candidates, key=lambda c: (-(c.asset.rating or 0), c.review_rank))
    if sort == "index":
        return sorted(candidates, key=lambda c: (c.job.run.created_at, c.index))
    if sort == "newest":
        return sorted(candidates, key=lambda c: (-c.pk,))
    return sorted(candidates, key=lambda c: c.review_rank)


@dataclass
class ReviewGroup:
    """One job's candidates (one panel of one run) as the review shows them."""

    job: RunJob
    candidates: list[RunCandidate]
    total: int
    best: RunCandidate | None = None
    selected: RunCandidate | None = None

    @property
    def best_is_not_picked(self) -> bool:
        return self.best is not None and self.selected is not None and self.best != self.selected


# What the review shows of a run: its big JSON documents (manifest, plan) stay unread.
RUN_FIELDS = ("id", "project_id", "uid", "name", "stage", "mode", "status", "created_at")


def _candidates(jobs: list[int]) -> QuerySet[RunCandidate]:
    """The candidates of these jobs (ids the caller read within its project), by the job index
    (a filter on the project too would lead SQLite to scan the project's candidates)."""
    return (
        RunCandidate.objects.filter(job_id__in=jobs, asset__isnull=False)
        .select_related("asset", "job__run", "job__input_asset", "job__panel")
        .only(
            *(f.name for f in RunCandidate._meta.concrete_fields),
            *(f"asset__{f.name}" for f in Asset._meta.concrete_fields),
            *(f"job__{f.name}" for f in RunJob._meta.concrete_fields if f.name != "details"),
            *(f"job__run__{name}" for name in RUN_FIELDS),
            *(f"job__input_asset__{f.name}" for f in Asset._meta.concrete_fields),
            *(f"job__panel__{f.name}" for f in Panel._meta.concrete_fields),
        )
    )


def _groups(project: Project, rows: list[RunCandidate], filters: ReviewFilters) -> list:
    by_job: dict[int, list[RunCandidate]] = {}
    for candidate in rows:
        candidate.asset.project = project  # its URLs need the slug: no query each
        candidate.metric_rows = metric_rows(candidate)
        if candidate.job.input_asset is not None:
            candidate.job.input_asset.project = project
        by_job.setdefault(candidate.job_id, []).append(candidate)
    groups = []
    for candidates in by_job.values():
        order = ranked(candidates)
        shown = _sorted(_filtered(order, filters), filters.sort)
        selected = next((c for c in order if c.selected), None)
        groups.append(ReviewGroup(order[0].job, shown, len(order), order[0], selected))
    return groups


def review_run(*, run: Run, filters: ReviewFilters | None = None) -> list[ReviewGroup]:
    """A run's candidates per job, in job order; a fixed number of queries."""
    jobs = list(run.jobs.values_list("pk", flat=True))
    rows = list(_candidates(jobs).order_by("job__index", "index"))
    groups = _groups(run.project, rows, filters or ReviewFilters())
    return sorted(groups, key=lambda g: g.job.index)


def review_job(*, job: RunJob, filters: ReviewFilters | None = None) -> ReviewGroup:
    """One job's candidates (after a rating or a pick changed them)."""
    rows = list(_candidates([job.pk]).order_by("index"))
    groups = _groups(job.project, rows, filters or ReviewFilters())
    return groups[0] if groups else ReviewGroup(job, [], 0)


def review_panel(*, panel: Panel, filters: ReviewFilters | None = None) -> list[ReviewGroup]:
    """The candidates of a panel's newest real runs, newest run first."""
    jobs = list(
        RunJob.objects.filter(panel=panel, run__mode=Run.Mode.RUN)
        .order_by("-pk")  # jobs are made with their run: newest first, read off the index
        .values_list("pk", flat=True)[:PANEL_RUNS_SHOWN]
    )
    rows = list(_candidates(jobs).order_by("index"))
    groups = _groups(panel.project, rows, filters or ReviewFilters())
    return sorted(groups, key=lambda g: (g.job.run.created_at, g.job.pk), reverse=True)


def flat_candidates(groups: list[ReviewGroup]) -> list[RunCandidate]:
    return [c for group in groups for c in group.candidates]


def metric_rows(candidate: RunCandidate) -> list[tuple[str, str]]:
    """The QA figures shown beside a candidate: (label, value) pairs."""
    metrics = (candidate.qa_summary or {}).get("metrics") or {}
    rows = []
    for key, label in SHOWN_METRICS:
        if key not in metrics:
            continue
        value = metrics[key]
        text = f"{value:.2%}" if key.endswith("_fraction") else f"{value:.2f}"
        rows.append((label, text.removesuffix(".00")))
    if "width" in metrics:
        rows.append(("size", f"{metrics['width']}x{metrics['height']}"))
    return rows


# --- recipes: what New Run is filled with ------------------------------------------------


def recipe_initial(
    *, run: Run, job: RunJob | None = None, candidate: RunCandidate | None = None, exact: bool
) -> dict[str, Any]:
    """New Run's initial values that plan this run again (`job`: only its panel, built on the
    input it had; `candidate`: a variation that starts from that candidate; `exact`: with the
    job's prompt as it was sent, ready to edit)."""
    request = (
        RunRequest.from_dict(run.plan["request"])
        if run.plan.get("request")
        else RunRequest(stage=run.stage, candidates=run.candidates_per_job, provider=run.provider)
    )
    build = request.build_on
    initial: dict[str, Any] = {
        "stage": request.stage,
        "panels": list(request.panels or []),
        "candidates": request.candidates or run.candidates_per_job,
        "provider": request.provider or run.provider,
        "model": request.model or "",
        "quality": request.quality or "",
        "size": request.size or "",
        "variation": request.variation or "",
        "prompt": request.prompt or "",
        "build_on": f"run:{build.run_uid}" if build.mode == "run" else build.mode,
    }
    if job is not None:
        initial |= {"panels": [job.scene_key], "build_on": "base"}
        source = _input_candidate(job)
        if source is not None:
            initial["from_candidate"] = source.pk
        elif job.input_source not in ("base image", "scene_ref", "script", ""):
            initial["build_on"] = "pick"
        if exact or candidate is not None:
            initial["prompt"] = job.prompt
    if candidate is not None:
        initial["from_candidate"] = candidate.pk
    return initial


def _input_candidate(job: RunJob) -> RunCandidate | None:
    """The candidate a job started from (its input asset), if it started from one."""
    if job.input_asset_id is None:
        return None
    return (
        RunCandidate.objects.filter(project=job.project_id, asset_id=job.input_asset_id)
        .order_by("-pk")
        .first()
    )


# --- the version tree ------------------------------------------------------------------


@dataclass
class VersionNode:
    """One real run's job for the panel: its stage, its pick, and the versions built on it."""

    job: RunJob
    pick: RunCandidate | None
    current: bool
    children: list[VersionNode] = field(default_factory=list)
    # Built on a candidate of an earlier job: its index, and whether that job's pick has since
    # changed (this version then starts from an image that is no longer the pick).
    source_index: int | None = None
    stale: bool = False

    @property
    def stage(self) -> str:
        return self.job.run.stage


VERSIONS_SHOWN = 60


def version_tree(
    *, panel: Panel, current: dict[str, RunCandidate] | None = None
) -> list[VersionNode]:
    """The panel's versions as a tree across stages (style → time → weather → characters):
    a job is a child of the job whose candidate it started from; roots started from the base
    image or the script. `current`: the panel's current pick per stage (marked)."""
    jobs = list(
        RunJob.objects.filter(panel=panel, run__mode=Run.Mode.RUN)
        .select_related("run")
        .defer("details", "references", "run__manifest_snapshot", "run__plan")
        .order_by("-pk")[:VERSIONS_SHOWN]  # newest first (jobs are made with their run)
    )
    candidates = list(
        RunCandidate.objects.filter(job__in=jobs, asset__isnull=False).select_related("asset")
    )
    picks = {c.job_id: c for c in candidates if c.selected}
    owner = {c.asset_id: c.job_id for c in candidates}
    index_of = {c.asset_id: c.index for c in candidates}
    current_ids = {c.pk for c in (current or {}).values()}
    nodes = {
        job.pk: VersionNode(
            job,
            picks.get(job.pk),
            picks.get(job.pk) is not None and picks[job.pk].pk in current_ids,
        )
        for job in jobs
    }
    for candidate in candidates:
        candidate.asset.project = panel.project
    roots = []
    for job in sorted(jobs, key=lambda j: (STAGES.index(j.run.stage), j.run.created_at, j.pk)):
        parent = owner.get(job.input_asset_id) if job.input_asset_id else None
        if parent is not None and parent != job.pk:
            node, parent_pick = nodes[job.pk], nodes[parent].pick
            node.source_index = index_of[job.input_asset_id]
            node.stale = parent_pick is not None and parent_pick.asset_id != job.input_asset_id
            nodes[parent].children.append(node)
        else:
            roots.append(nodes[job.pk])
    return roots
