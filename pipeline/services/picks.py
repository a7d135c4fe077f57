"""A panel's current pick per stage: the selected candidate of its newest real run of that stage."""

from __future__ import annotations

from pipeline.models import Run, RunCandidate
from projects.models import Panel


def panel_picks(panels: list[Panel]) -> dict[int, dict[str, RunCandidate]]:
    """{panel id: {stage: candidate}} for these panels, in one query."""
    picks: dict[int, dict[str, RunCandidate]] = {p.pk: {} for p in panels}
    rows = (
        RunCandidate.objects.filter(
            job__panel__in=panels, selected=True, job__run__mode=Run.Mode.RUN, asset__isnull=False
        )
        .select_related("asset", "job__run")
        .order_by("created_at", "id")
    )
    for candidate in rows:  # newest last: it wins
        picks[candidate.job.panel_id][candidate.job.run.stage] = candidate
    return picks
