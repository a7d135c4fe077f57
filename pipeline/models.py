"""Runs and their work state. These rows are the truth; django-q2 only delivers work."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from projects.models import Asset, Project


class Stage(models.TextChoices):
    STYLE = "style", "Style lock"
    TIME = "time", "Time / light"
    WEATHER = "weather", "Weather"
    CHARACTERS = "characters", "Characters"


def new_run_uid() -> str:
    from django.utils import timezone

    return f"run_{timezone.now():%Y%m%d_%H%M%S}_{uuid.uuid4().hex[:6]}"


class Run(models.Model):
    class Mode(models.TextChoices):
        DRY = "dry", "Dry run"
        RUN = "run", "Run"

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        PARTIAL = "partial", "Partial"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    FINAL_STATUSES = (Status.DONE, Status.PARTIAL, Status.FAILED, Status.CANCELED)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    uid = models.CharField(max_length=40, unique=True, default=new_run_uid)
    stage = models.CharField(max_length=12, choices=Stage.choices)
    mode = models.CharField(max_length=4, choices=Mode.choices, default=Mode.DRY)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    provider = models.CharField(max_length=20, blank=True)
    model = models.CharField(max_length=60, blank=True)
    manifest_snapshot = models.JSONField(default=dict, blank=True)
    manifest_hash = models.CharField(max_length=64, blank=True)
    plan = models.JSONField(default=dict, blank=True, help_text="Inputs and request parameters.")
    candidates_per_job = models.PositiveSmallIntegerField(default=1)
    estimated_cost_usd = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    actual_cost_usd = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    log_path = models.CharField(max_length=500, blank=True)
    confirmed_as = models.CharField(
        max_length=40, blank=True, help_text="For a dry run: the uid of the run it became."
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "-created_at"], name="run_project_recent")]

    def __str__(self) -> str:
        return self.uid


class RunJob(models.Model):
    class Status(models.TextChoices):
        PLANNED = "planned", "Planned (dry run)"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="run_jobs")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="jobs")
    index = models.PositiveIntegerField()
    scene_key = models.CharField(max_length=200, help_text="Scene reference this job works on.")
    input_asset = models.ForeignKey(
        Asset, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    prompt = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    step = models.CharField(max_length=20, blank=True, help_text="Last step started.")
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    locked_by = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True, help_text="Calls, timings, steps.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="job_index_once")]
        indexes = [models.Index(fields=["status", "lease_expires_at"], name="job_lease")]

    def __str__(self) -> str:
        return f"{self.run.uid}#{self.index}"


class RunCandidate(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="run_candidates")
    job = models.ForeignKey(RunJob, on_delete=models.CASCADE, related_name="candidates")
    index = models.PositiveSmallIntegerField()
    asset = models.ForeignKey(
        Asset, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    output_path = models.CharField(max_length=500, blank=True)
    rank = models.PositiveSmallIntegerField(null=True, blank=True)
    passed = models.BooleanField(null=True)
    archived = models.BooleanField(default=False)
    selected = models.BooleanField(default=False)
    qa_summary = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="candidate_index_once"),
            models.UniqueConstraint(
                fields=["job"], condition=Q(selected=True), name="one_selected_per_job"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job}/c{self.index}"


class QualityReport(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="quality_reports")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="quality_reports")
    candidate = models.OneToOneField(
        RunCandidate, null=True, blank=True, on_delete=models.CASCADE, related_name="report"
    )
    passed = models.BooleanField()
    hard_failures = models.PositiveSmallIntegerField(default=0)
    soft_warnings = models.PositiveSmallIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "-created_at"], name="qa_project_recent")]

    def __str__(self) -> str:
        return f"QA {'pass' if self.passed else 'fail'} {self.candidate_id or self.run_id}"


class CostEvent(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="cost_events")
    run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="cost_events"
    )
    job = models.ForeignKey(RunJob, null=True, blank=True, on_delete=models.SET_NULL)
    candidate = models.ForeignKey(RunCandidate, null=True, blank=True, on_delete=models.SET_NULL)
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=60, blank=True)
    operation = models.CharField(max_length=30)
    units = models.JSONField(default=dict, blank=True, help_text="Tokens or images billed.")
    usd = models.DecimalField(max_digits=10, decimal_places=6)
    idempotency_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "-created_at"], name="cost_project_recent")]

    def __str__(self) -> str:
        return f"{self.provider}/{self.operation} ${self.usd}"


class LabJob(models.Model):
    """A Quick Utility Lab job: one-off work on uploaded images, outside any project.

    Files live in the user's scratch area (var/scratch/<user id>/<job id>/); results can be
    saved into a project afterwards.
    """

    class Operation(models.TextChoices):
        BG_REMOVE = "bg_remove", "Remove background"
        UPSCALE = "upscale", "Upscale"
        COLOR = "color", "Colour profile"
        GENERATE = "generate", "Generate (OpenAI)"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    operation = models.CharField(max_length=12, choices=Operation.choices)
    params = models.JSONField(default=dict, blank=True)
    inputs = models.JSONField(default=list, blank=True, help_text="[{name, file}]")
    outputs = models.JSONField(default=list, blank=True, help_text="[{input, file, log} | error]")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=10, decimal_places=6, default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="lab_user_recent")]

    def __str__(self) -> str:
        return f"{self.get_operation_display()} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class WorkerHeartbeat(models.Model):
    """Written by a scheduled task, so /health shows whether a worker is really working."""

    name = models.CharField(max_length=100, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.seen_at:%H:%M:%S}"
