"""Runs, their jobs, candidates, QA reports, costs, and the Lab's jobs."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from kroma.lib.providers import get_spec
from pipeline.models.work import LAB_JOB, POSTPROCESS_JOB, RUN_JOB, WorkItem
from projects.models import Asset, Project, Stage


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
    name = models.CharField(max_length=120, blank=True, help_text="The artist's name for it.")
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
    style_sha256 = models.CharField(
        max_length=64, blank=True, help_text="Content hash of the style guide the run used."
    )
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
        indexes = [
            models.Index(fields=["project", "-created_at"], name="run_project_recent"),
            # Run counts (sidebar, cards, dashboard) come from this index alone.
            models.Index(fields=["project", "mode"], name="run_project_mode"),
        ]

    def __str__(self) -> str:
        return self.uid

    @property
    def provider_label(self) -> str:
        spec = get_spec(self.provider)
        return spec.label if spec else self.provider


class RunJob(WorkItem):
    """One panel of a run: generate -> qa -> select -> postprocess (see pipeline.work)."""

    step_item_type = RUN_JOB

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="run_jobs")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="jobs")
    index = models.PositiveIntegerField()
    scene_key = models.CharField(max_length=200, help_text="The panel's key (its stable name).")
    panel = models.ForeignKey(
        "projects.Panel", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    size = models.CharField(max_length=12, blank=True, help_text="The request size; empty: run's.")
    references = models.JSONField(
        default=list, blank=True, help_text="The reference images sent: [{key, path, source}]."
    )
    input_asset = models.ForeignKey(
        Asset, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    input_path = models.CharField(max_length=500, blank=True)
    input_source = models.CharField(max_length=80, blank=True, help_text="scene_ref, or a run.")
    prompt = models.TextField(blank=True)
    estimate_usd = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    final_asset = models.ForeignKey(
        Asset,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The selected candidate after post-processing.",
    )
    details = models.JSONField(
        default=dict, blank=True, help_text="Legacy work state (before step rows); not written."
    )

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="job_index_once")]
        indexes = [
            models.Index(fields=["status", "lease_expires_at"], name="job_lease"),
            # The runs list filtered to one panel: an index probe per run.
            models.Index(fields=["run", "scene_key"], name="job_run_panel"),
        ]

    def __str__(self) -> str:
        return f"{self.run.uid}#{self.index}"

    @property
    def input(self) -> dict:
        return {
            "key": self.scene_key,
            "path": self.input_path,
            "asset_id": self.input_asset_id,
            "source": self.input_source,
        }


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
    override_reason = models.TextField(
        blank=True, help_text="Why the user picked it although it failed QA (“use anyway”)."
    )
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    overridden_at = models.DateTimeField(null=True, blank=True)
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
        indexes = [
            models.Index(fields=["project", "-created_at"], name="qa_project_recent"),
            # The dashboard's pass rate counts from this index alone.
            models.Index(fields=["project", "passed"], name="qa_project_passed"),
        ]

    def __str__(self) -> str:
        return f"QA {'pass' if self.passed else 'fail'} {self.candidate_id or self.run_id}"


class CostEvent(models.Model):
    """One billed (or possibly billed) provider call.

    Without a project (the Lab), the event belongs to the user who asked. `unconfirmed`: the call
    was started but its answer was never saved (the worker died): the provider may have billed
    it, so it is counted, and shown as unconfirmed.
    """

    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="cost_events"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
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
    unconfirmed = models.BooleanField(
        default=False, help_text="Started, no answer saved: it may have been billed."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="cost_project_recent"),
            models.Index(fields=["project", "usd"], name="cost_project_usd"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.operation} ${self.usd}"


class LabJob(WorkItem):
    """A Quick Utility Lab job: one-off work on uploaded images, outside any project.

    Files live in the user's scratch area (var/scratch/<user id>/<job id>/); each input's result
    is a step row; results can be saved into a project afterwards.
    """

    step_item_type = LAB_JOB

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    operation = models.CharField(
        max_length=30, help_text="A post-processing step offered in the Lab, or generate."
    )
    params = models.JSONField(default=dict, blank=True)
    inputs = models.JSONField(default=list, blank=True, help_text="[{name, file}]")
    outputs = models.JSONField(
        default=list, blank=True, help_text="Legacy results (before step rows); not written."
    )
    cost_usd = models.DecimalField(max_digits=10, decimal_places=6, default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="lab_user_recent")]

    def __str__(self) -> str:
        return f"{self.operation_label} ({self.status})"

    @property
    def operation_label(self) -> str:
        if self.operation == "generate":
            return "Generate (OpenAI)"
        from pipeline.postprocess.chain import chain_steps

        labels = {step.name: step.label for step in chain_steps()}
        return labels.get(self.operation, self.operation)


class PostprocessJob(WorkItem):
    """Post-processing of a run's picks again (a new pick, other steps, other settings)."""

    step_item_type = POSTPROCESS_JOB

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="postprocess_jobs")
    job = models.ForeignKey(RunJob, on_delete=models.CASCADE, related_name="postprocess_jobs")
    config = models.JSONField(default=dict, help_text="The chain's settings for this pass.")
    only = models.JSONField(null=True, blank=True, help_text="Exactly these steps, or enabled.")
    confirm_spend = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"postprocess {self.job} ({self.status})"
