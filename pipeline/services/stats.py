"""Figures for the project dashboard and the QA reports, each in a fixed number of queries.

QA counts: a candidate *passes* (passed, no soft warning), *warns* (passed with soft
warnings) or *fails* (a hard failure). The pass rate is passed (pass + warn) over all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Max, OuterRef, Q, Subquery

from pipeline.models import QualityReport, Run, RunCandidate, RunJob
from pipeline.services.costs import project_events, total_usd
from projects.models import Asset, Project


@dataclass(frozen=True)
class ProjectStats:
    total_runs: int
    dry_plans: int
    assets: int
    cost_usd: Decimal
    qa_reports: int
    qa_passed: int
    last_run_at: datetime | None

    @property
    def qa_pass_rate(self) -> float | None:
        return None if not self.qa_reports else self.qa_passed / self.qa_reports


def project_stats(project: Project) -> ProjectStats:
    runs = Run.objects.filter(project=project).aggregate(
        total=Count("id", filter=Q(mode=Run.Mode.RUN)),
        plans=Count("id", filter=Q(mode=Run.Mode.DRY)),
        last=Max("created_at"),
    )
    # Two plain counts, each from the (project, passed) index alone: half the time of one
    # COUNT ... FILTER pass over 90k reports (bench/pages.py).
    reports = QualityReport.objects.filter(project=project)
    qa = {"total": reports.count(), "passed": reports.filter(passed=True).count()}
    return ProjectStats(
        total_runs=runs["total"],
        dry_plans=runs["plans"],
        assets=project.assets.count(),
        cost_usd=total_usd(project_events(project)),
        qa_reports=qa["total"],
        qa_passed=qa["passed"],
        last_run_at=runs["last"],
    )


def recent_runs(project: Project, limit: int = 10) -> list[Run]:
    """The newest runs with their job counts: the page of runs first, then one count query."""
    return attach_job_counts(
        list(Run.objects.filter(project=project).order_by("-created_at")[:limit])
    )


def attach_job_counts(runs: list[Run]) -> list[Run]:
    """Give each run its `job_count` and `jobs_done`, in one query for the whole list."""
    counts = {
        row["run_id"]: row
        for row in RunJob.objects.filter(run__in=[r.pk for r in runs])
        .values("run_id")
        .annotate(total=Count("id"), done=Count("id", filter=Q(status="done")))
    }
    for run in runs:
        run.job_count = counts.get(run.pk, {}).get("total", 0)
        run.jobs_done = counts.get(run.pk, {}).get("done", 0)
    return runs


def project_cards(user: object) -> list[Project]:
    """Projects with their real-run count, last run and a cover (the first scene), in 2 queries."""
    first_scene = (
        Asset.objects.filter(project=OuterRef("pk"), kind=Asset.Kind.SCENE_REF)
        .order_by("created_at", "pk")
        .values("pk")[:1]
    )
    projects = list(
        Project.objects.visible_to(user)
        .annotate(
            real_runs=Count("runs", filter=Q(runs__mode=Run.Mode.RUN), distinct=True),
            last_run_at=Max("runs__created_at"),
            cover_id=Subquery(first_scene),
        )
        .order_by("name")
    )
    covers = Asset.objects.in_bulk([p.cover_id for p in projects if p.cover_id])
    for project in projects:
        project.cover = covers.get(project.cover_id)
        if project.cover is not None:
            project.cover.project = project
    return projects


# --- QA reports ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QACounts:
    passed: int = 0
    warned: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.warned + self.failed

    @property
    def pass_rate(self) -> float | None:
        """Share of candidates that passed QA (warnings included), None without any."""
        return None if not self.total else (self.passed + self.warned) / self.total


@dataclass(frozen=True)
class RunQA:
    run: Run
    counts: QACounts


@dataclass(frozen=True)
class RunQAReport:
    counts: QACounts
    failures: list[RunCandidate]
    warnings: list[RunCandidate]


# Named apart from the model's fields (an aggregate may not shadow `passed`).
_QA_COUNTS = {
    "n_pass": Count("id", filter=Q(passed=True, soft_warnings=0)),
    "n_warn": Count("id", filter=Q(passed=True, soft_warnings__gt=0)),
    "n_fail": Count("id", filter=Q(passed=False)),
}


def _qa_counts(row: dict) -> QACounts:
    return QACounts(row["n_pass"], row["n_warn"], row["n_fail"])


def qa_by_run(*, project: Project, limit: int = 20) -> list[RunQA]:
    """QA counts of the project's newest `limit` real runs, oldest first, leaving out those
    with no QA report yet (2 queries: the runs, then their reports' counts by run index)."""
    runs = list(
        Run.objects.filter(project=project, mode=Run.Mode.RUN).order_by("-created_at", "-pk")[
            :limit
        ]
    )
    counts = {
        row["run_id"]: _qa_counts(row)
        for row in QualityReport.objects.filter(project=project, run__in=[r.pk for r in runs])
        .values("run_id")
        .annotate(**_QA_COUNTS)
    }
    return [RunQA(run, counts[run.pk]) for run in reversed(runs) if run.pk in counts]


def run_qa_report(*, run: Run) -> RunQAReport:
    """A run's QA: its counts, and the candidates that failed or warned with their reasons
    (`qa_summary`) and images, panel by panel (2 queries)."""
    counts = QualityReport.objects.filter(project=run.project, run=run).aggregate(**_QA_COUNTS)
    flagged = list(
        RunCandidate.objects.filter(project=run.project, job__run=run)
        .filter(Q(passed=False) | Q(report__soft_warnings__gt=0))
        .select_related("asset", "job")
        .order_by("job__index", "index")
    )
    for candidate in flagged:
        if candidate.asset is not None:
            candidate.asset.project = run.project  # its URLs need the slug: no query each
    return RunQAReport(
        counts=_qa_counts(counts),
        failures=[c for c in flagged if c.passed is False],
        warnings=[c for c in flagged if c.passed is not False],
    )
