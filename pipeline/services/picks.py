"""A panel's current pick per stage: the selected candidate of its newest real run of that stage
(a canceled run picks nothing: the artist stopped it)."""

from __future__ import annotations

from django.db.models import Max

from pipeline.models import Run, RunCandidate
from projects.models import Panel


def panel_picks(panels: list[Panel]) -> dict[int, dict[str, RunCandidate]]:
    """{panel id: {stage: candidate}} for these panels, in two queries however many runs they
    have had: the newest selected candidate per (panel, stage), then those rows."""
    picks: dict[int, dict[str, RunCandidate]] = {p.pk: {} for p in panels}
    newest = (
        RunCandidate.objects.filter(
            job__panel__in=panels, selected=True, job__run__mode=Run.Mode.RUN, asset__isnull=False
        )
        .exclude(job__run__status=Run.Status.CANCELED)
        .values("job__panel", "job__run__stage")
        .annotate(newest=Max("pk"))
        .values_list("newest", flat=True)
    )
    rows = (
        RunCandidate.objects.filter(pk__in=list(newest))
        .select_related("asset", "job__run")
        .defer("job__details", "job__run__manifest_snapshot", "job__run__plan")
    )
    for candidate in rows:
        picks[candidate.job.panel_id][candidate.job.run.stage] = candidate
    return picks
