"""The work engine's rows: an abstract work item, and one step row per step of an item.

Every kind of work (a run's job, a Lab job, post-processing of a run, later exports and copilot
instructions) is a WorkItem subclass; `pipeline.engine` claims, runs and ends them all alike.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from projects.models import Asset, Project
from projects.models.assets import EXPORT_JOB  # noqa: F401 (defined with ProjectExport)
from projects.models.work_item import (  # noqa: F401 (the engine's names, re-exported)
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    WorkItem,
    WorkStatus,
)

# The step rows' item_type of each kind of work item.
RUN_JOB, LAB_JOB, POSTPROCESS_JOB = "run_job", "lab_job", "postprocess_job"


class StepRun(models.Model):
    """What one step of one work item did: one row per step and attempt (per input for the Lab).

    A paid step writes its row (`paid`, status running) before it calls the provider: a row left
    running by a dead worker is a call that may have been billed without an answer saved, and
    is recorded after recovery as an unconfirmed cost event.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"
        ERRORED = "errored", "Errored"
        LOST = "lost", "Lost (worker died)"

    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="step_runs"
    )
    item_type = models.CharField(max_length=20)
    item_id = models.CharField(max_length=40)
    attempt = models.PositiveSmallIntegerField(default=0)
    step = models.CharField(max_length=30)
    subject = models.CharField(
        max_length=60, blank=True, help_text="What the step worked on, when an item has several."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    paid = models.BooleanField(default=False, help_text="The step calls a paid service.")
    worker = models.CharField(max_length=100, blank=True, help_text="host:pid:thread")
    input_sha256 = models.CharField(max_length=64, blank=True)
    param_key = models.CharField(max_length=64, blank=True)
    output_asset = models.ForeignKey(
        Asset, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    output_file = models.CharField(max_length=300, blank=True, help_text="Outside a project.")
    cost_event = models.ForeignKey(
        "pipeline.CostEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notes = models.JSONField(default=dict, blank=True, help_text="What the step reports.")
    error_code = models.CharField(max_length=40, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_s = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["item_type", "item_id", "started_at", "pk"]
        indexes = [models.Index(fields=["item_type", "item_id"], name="steprun_item")]

    def __str__(self) -> str:
        return f"{self.item_type}:{self.item_id} {self.step} {self.status}"


class WorkerHeartbeat(models.Model):
    """Written by a scheduled task, so /health shows whether a worker is really working."""

    name = models.CharField(max_length=100, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.seen_at:%H:%M:%S}"


def delete_step_rows(sender: type, instance: WorkItem, **_: object) -> None:
    """Step rows point at their item by type and id: they go when the item goes."""
    item_type = getattr(sender, "step_item_type", None)
    if item_type:
        StepRun.objects.filter(item_type=item_type, item_id=str(instance.pk)).delete()
