"""Chat sessions and the agent instructions they produce."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from projects.models import Project


class ChatSession(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="chat_sessions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    title = models.CharField(max_length=120, default="New session")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["project", "-updated_at"], name="chat_project_recent")]

    def __str__(self) -> str:
        return self.title


class ChatMessage(models.Model):
    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"
        SYSTEM = "system", "System"

    session = models.ForeignKey(ChatSession, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"


class AgentInstruction(models.Model):
    class Type(models.TextChoices):
        PIPELINE_RUN = "pipeline_run", "Pipeline run"
        ASSET_EDIT = "asset_edit", "Asset edit"
        QA_CHECK = "qa_check", "QA check"
        STORAGE_SYNC = "storage_sync", "Storage sync"
        CUSTOM = "custom", "Custom"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="instructions")
    session = models.ForeignKey(
        ChatSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="instructions"
    )
    instruction_type = models.CharField(max_length=16, choices=Type.choices)
    objective = models.TextField()
    constraints = models.JSONField(default=dict, blank=True)
    inputs = models.JSONField(default=dict, blank=True)
    execution = models.JSONField(default=dict, blank=True)
    confirmation_required = models.BooleanField(default=True)
    requested_by = models.CharField(max_length=150)
    callback = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    locked_by = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="instr_project_recent"),
            models.Index(fields=["status", "lease_expires_at"], name="instr_lease"),
        ]

    def __str__(self) -> str:
        return f"{self.instruction_type} {str(self.id)[:8]} ({self.status})"


class AgentInstructionEvent(models.Model):
    instruction = models.ForeignKey(
        AgentInstruction, on_delete=models.CASCADE, related_name="events"
    )
    event_type = models.CharField(max_length=40)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.event_type} @ {self.created_at:%Y-%m-%d %H:%M}"
