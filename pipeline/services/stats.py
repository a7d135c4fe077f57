"""Figures for the project dashboard, in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Max, Q, QuerySet, Sum

from pipeline.models import CostEvent, QualityReport, Run
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
    qa = QualityReport.objects.filter(project=project).aggregate(
        total=Count("id"), passed=Count("id", filter=Q(passed=True))
    )
    cost = CostEvent.objects.filter(project=project).aggregate(total=Sum("usd"))["total"]
    return ProjectStats(
        total_runs=runs["total"],
        dry_plans=runs["plans"],
        assets=project.assets.count(),
        cost_usd=cost or Decimal(0),
        qa_reports=qa["total"],
        qa_passed=qa["passed"],
        last_run_at=runs["last"],
    )


def recent_runs(project: Project, limit: int = 10) -> QuerySet[Run]:
    return (
        Run.objects.filter(project=project)
        .annotate(
            job_count=Count("jobs"),
            jobs_done=Count("jobs", filter=Q(jobs__status="done")),
        )
        .order_by("-created_at")[:limit]
    )


def project_cards(user: object) -> list[Project]:
    """Projects with their real-run count, last run and a cover (the first scene), in 2 queries."""
    projects = list(
        Project.objects.visible_to(user)
        .annotate(
            real_runs=Count("runs", filter=Q(runs__mode=Run.Mode.RUN), distinct=True),
            last_run_at=Max("runs__created_at"),
        )
        .order_by("name")
    )
    covers: dict[int, Asset] = {}
    scenes = Asset.objects.filter(project__in=projects, kind=Asset.Kind.SCENE_REF)
    for asset in scenes.select_related("project").order_by("project_id", "created_at"):
        covers.setdefault(asset.project_id, asset)
    for project in projects:
        project.cover = covers.get(project.pk)
    return projects
