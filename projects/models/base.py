"""Projects and what every project-owned row shares."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$",
    "Use 1-64 lowercase letters, digits, '-' or '_', starting and ending with a letter or digit.",
)


class ProjectQuerySet(models.QuerySet["Project"]):
    def visible_to(self, user: object) -> ProjectQuerySet:
        """The one scope every project lookup goes through: owners see theirs, superusers all."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        if getattr(user, "is_superuser", False):
            return self.all()
        return self.filter(owner=user)


def _same_project(owner: models.Model, other: models.Model | None, field: str) -> None:
    """No cross-project references: a row may only point at rows of its own project."""
    from django.core.exceptions import ValidationError

    owner_project = getattr(owner, "project_id", None)
    if other is not None and owner_project and other.project_id != owner_project:
        raise ValidationError({field: "This belongs to another project."})


# Checks of a project's manifest_overrides, registered by the pipeline app at start-up
# (projects does not import pipeline); each raises ValueError with the reason.
OVERRIDE_CHECKS: list[Callable[[Project], None]] = []


class Project(models.Model):
    slug = models.SlugField(max_length=64, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=120)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="projects"
    )
    logline = models.CharField(max_length=300, blank=True)
    # Story text goes into prompts and onto every universe page: bounded (forms enforce these).
    setting = models.TextField(
        max_length=4000, blank=True, help_text="Where and when the story takes place."
    )
    tone = models.CharField(max_length=200, blank=True)
    notes = models.TextField(max_length=20000, blank=True)
    manifest_overrides = models.JSONField(
        default=dict, blank=True, help_text="Per-project overrides of settings/manifest.json."
    )
    monthly_budget_usd = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Most the project may spend in a calendar month (UTC); empty: no limit.",
    )
    run_cap_usd = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Most one run may spend; empty: no cap.",
    )
    layout = models.JSONField(
        default=dict,
        blank=True,
        help_text="Page layout and print settings: gutter_mm, margin_mm, bleed_mm, page size, dpi.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["owner", "name"])]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("pipeline:dashboard", args=[self.slug])

    def clean(self) -> None:
        super().clean()
        for check in OVERRIDE_CHECKS:
            try:
                check(self)
            except ValueError as exc:
                raise ValidationError({"manifest_overrides": str(exc)}) from None


class ProjectStorage(models.Model):
    class Backend(models.TextChoices):
        LOCAL = "local", "Local disk"
        S3 = "s3", "S3"

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="storage")
    backend = models.CharField(max_length=8, choices=Backend.choices, default=Backend.LOCAL)
    local_root = models.CharField(
        max_length=500, blank=True, help_text="Empty: var/projects/<slug>/ (KROMA_PROJECTS_ROOT)."
    )
    s3_bucket = models.CharField(max_length=63, blank=True)
    s3_prefix = models.CharField(max_length=300, blank=True)
    s3_region = models.CharField(max_length=40, blank=True)
    s3_endpoint_url = models.URLField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "project storage"
        constraints = [
            models.CheckConstraint(
                condition=Q(backend="local") | ~Q(s3_bucket=""), name="s3_storage_needs_bucket"
            )
        ]

    def __str__(self) -> str:
        if self.backend == self.Backend.S3:
            return f"s3://{self.s3_bucket}/{self.s3_prefix}"
        return self.local_root or f"var/projects/{self.project.slug}"


class ProjectOwned(models.Model):
    """Base for rows that belong to one project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
