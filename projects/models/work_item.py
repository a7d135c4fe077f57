"""The work engine's abstract work item (its rows are the truth; django-q2 only delivers work).

It lives with the base models so that project rows such as ProjectExport can be work items too;
`pipeline.models.work` re-exports it, and `pipeline.engine` claims, runs and ends every kind alike.
Nothing here imports pipeline: what pipeline adds (the words for a waiting step) it injects.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import models

# What a waiting step's status means in words ("loading the upscale model…"): the app that runs
# the steps adds its reader at start (pipeline's AppConfig), since projects imports no pipeline.
WAITING_TEXTS: list[Callable[[str], str]] = []


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
        if self.status != WorkStatus.RUNNING:
            return ""
        return next((text for read in WAITING_TEXTS if (text := read(self.step))), "")

    @property
    def step_label(self) -> str:
        """The step shown on pages: what it waits for while it waits, else its name."""
        return self.waiting_for or self.step
