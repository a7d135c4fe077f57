"""Provider accounts, encrypted secrets, audit events and API tokens."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q, QuerySet

from kroma.lib import crypto
from kroma.lib.providers import PROVIDERS, get_spec
from projects.models.base import Project, ProjectOwned


def validate_provider(name: str) -> None:
    if get_spec(name) is None:
        known = ", ".join(PROVIDERS)
        raise ValidationError(f"Unknown provider {name!r}; providers: {known}.")


class ProviderAccount(ProjectOwned):
    """Where a project reaches a provider (registry: kroma.lib.providers)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="provider_accounts")
    provider = models.CharField(max_length=12, validators=[validate_provider])
    name = models.CharField(max_length=80, default="default")
    base_url = models.URLField(blank=True, help_text="Empty: the provider's public endpoint.")
    config = models.JSONField(default=dict, blank=True)
    is_enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["provider", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "provider", "name"], name="provider_account_once"
            )
        ]

    def __str__(self) -> str:
        spec = get_spec(self.provider)
        return f"{spec.label if spec else self.provider} / {self.name}"


class ProjectSecret(ProjectOwned):
    """An encrypted credential. The plaintext exists only in memory, via reveal()."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="secrets")
    provider = models.CharField(max_length=40)
    name = models.CharField(max_length=80)
    ciphertext = models.BinaryField()
    key_id = models.CharField(max_length=12)
    hint = models.CharField(max_length=20, blank=True, help_text="Masked form, e.g. sk-…4f2a.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "provider", "name"], name="secret_once")
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.name} ({self.hint})"

    def set_value(self, plaintext: str) -> None:
        self.ciphertext, self.key_id = crypto.encrypt(plaintext)
        self.hint = crypto.mask(plaintext)

    def reveal(self) -> str:
        return crypto.decrypt(self.ciphertext)

    def rotate(self) -> None:
        self.ciphertext, self.key_id = crypto.rotate(self.ciphertext)


class AuditEvent(models.Model):
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    action = models.CharField(max_length=60)
    target = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "-created_at"], name="audit_project_recent")]

    def __str__(self) -> str:
        return f"{self.action} {self.target}"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> QuerySet[ApiToken]:
        from django.utils import timezone

        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
        )


class ApiToken(models.Model):
    """A bearer token stored as a SHA-256 digest; only its prefix is ever shown again."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=12)
    digest = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
