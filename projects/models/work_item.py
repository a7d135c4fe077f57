"""The work engine's abstract work item (its rows are the truth; django-q2 only delivers work).

It lives with the base models so that project rows such as ProjectExport can be work items too;
`pipeline.models.work` re-exports it, and `pipeline.engine` claims, runs and ends every kind alike.
"""

from __future__ import annotations

from django.db import models


class WorkStatus(models.TextChoices):
    PLANNED = "planned", "Planned (dry run)"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    ERRORED = "errored", "Errored"
    CANCELED = "canceled", "Canceled"


ACTIVE_STATUSES = (WorkStatus.QUEUED, WorkStatus.RUNNING)
FINAL_STATUSES = (WorkStatus.DONE, WorkStatus.FAILED, WorkStatus.ERRORED, WorkStatus.CANCELED)


class WorkItem(models.Model):
    """One unit of work. Its row is the truth; django-q2 only delivers it.

    `failed` is an expected end with a user-facing message and a stable code; `errored` is a bug,
    with the traceback kept for staff. `locked_by` is host:pid:thread of the worker holding the
    lease; a lease that is not renewed (heartbeat) expires and another worker takes the item.
    """

    Status = WorkStatus

    status = models.CharField(max_length=10, choices=WorkStatus.choices, default="queued")
    step = models.CharField(max_length=30, blank=True, help_text="Step running or last started.")
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    locked_by = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True, help_text="For errored items; shown to staff only.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def waiting_for(self) -> str:
        """What the running item waits for, in words ("loading the upscale model…"), or ''."""
        from pipeline.postprocess.sessions import waiting_text

        return waiting_text(self.step) if self.status == WorkStatus.RUNNING else ""

    @property
    def step_label(self) -> str:
        """The step shown on pages: what it waits for while it waits, else its name."""
        return self.waiting_for or self.step
