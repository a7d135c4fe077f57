"""The universe: a project and everything that belongs to one story world."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q, QuerySet
from django.urls import reverse

from kroma.lib import crypto

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


class Project(models.Model):
    slug = models.SlugField(max_length=64, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=120)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="projects"
    )
    logline = models.CharField(max_length=300, blank=True)
    setting = models.TextField(blank=True, help_text="Where and when the story takes place.")
    tone = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)
    manifest_overrides = models.JSONField(
        default=dict, blank=True, help_text="Per-project overrides of settings/manifest.json."
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


class Character(ProjectOwned):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="characters")
    slug = models.SlugField(max_length=64, validators=[slug_validator])
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    continuity_notes = models.TextField(
        blank=True, help_text="What must never change: face, scars, costume, palette."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "slug"], name="character_slug_per_project")
        ]

    def __str__(self) -> str:
        return self.name


class StyleGuide(ProjectOwned):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        LOCKED = "locked", "Locked"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="style_guides")
    slug = models.SlugField(max_length=64, validators=[slug_validator])
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    rules = models.TextField(blank=True, help_text="Line work, palette, lighting, what to avoid.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    locked_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "slug"], name="styleguide_slug_per_project"),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(locked_at__isnull=False),
                name="locked_styleguide_has_locked_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_status_display()})"

    def save(self, *args: object, **kwargs: object) -> None:
        from django.utils import timezone

        if self.is_locked and self.locked_at is None:
            self.locked_at = timezone.now()
        elif not self.is_locked:
            self.locked_at = None
        super().save(*args, **kwargs)

    @property
    def is_locked(self) -> bool:
        return self.status == self.Status.LOCKED


class ReferenceSet(ProjectOwned):
    class Kind(models.TextChoices):
        STYLE = "style", "Style"
        SCENE = "scene", "Scene"
        CHARACTER = "character", "Character"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="reference_sets")
    slug = models.SlugField(max_length=64, validators=[slug_validator])
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    character = models.ForeignKey(
        Character, null=True, blank=True, on_delete=models.SET_NULL, related_name="reference_sets"
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "slug"], name="refset_slug_per_project")
        ]

    def __str__(self) -> str:
        return f"{self.name} [{self.kind}]"

    def clean(self) -> None:
        if self.character_id:
            _same_project(self, self.character, "character")


class Asset(ProjectOwned):
    class Kind(models.TextChoices):
        SCENE_REF = "scene_ref", "Scene reference"
        STYLE_REF = "style_ref", "Style reference"
        CHARACTER_REF = "character_ref", "Character reference"
        UPLOAD = "upload", "Upload"
        CANDIDATE = "candidate", "Candidate"
        SELECTED = "selected", "Selected output"
        DERIVED = "derived", "Post-processed"
        EXPORT = "export", "Export"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assets")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    title = models.CharField(max_length=200, blank=True)
    path = models.CharField(max_length=500, help_text="Relative to the project's storage root.")
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    mime = models.CharField(max_length=40)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # References and uploads are stored once per content; run outputs are one row per
            # output (two candidates may have the same bytes, and each is archived on its own).
            models.UniqueConstraint(
                fields=["project", "kind", "sha256"],
                condition=~Q(kind__in=["candidate", "selected", "derived"]),
                name="asset_unique_content_per_kind",
            ),
            models.UniqueConstraint(
                fields=["project", "path"],
                condition=Q(kind__in=["candidate", "selected", "derived"]),
                name="asset_output_path_once",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="asset_project_recent"),
            models.Index(fields=["project", "kind", "-created_at"], name="asset_project_kind"),
        ]

    def __str__(self) -> str:
        return self.title or f"{self.kind} {self.sha256[:10]}"

    def get_absolute_url(self) -> str:
        return reverse("projects:asset_file", args=[self.project.slug, self.pk])

    def thumbnail_url(self) -> str:
        return reverse("projects:asset_thumb", args=[self.project.slug, self.pk])


class ReferenceSetItem(models.Model):
    reference_set = models.ForeignKey(ReferenceSet, on_delete=models.CASCADE, related_name="items")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="reference_items")
    position = models.PositiveIntegerField(default=0)
    notes = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["reference_set", "asset"], name="refset_item_once")
        ]

    def __str__(self) -> str:
        return f"{self.reference_set} #{self.position}"

    def clean(self) -> None:
        if self.reference_set_id and self.asset_id:
            _same_project(self.reference_set, self.asset, "asset")


class StyleReference(models.Model):
    style_guide = models.ForeignKey(StyleGuide, on_delete=models.CASCADE, related_name="references")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="style_references")
    position = models.PositiveIntegerField(default=0)
    notes = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["style_guide", "asset"], name="style_ref_once")
        ]

    def __str__(self) -> str:
        return f"{self.style_guide.name} ref #{self.position}"

    def clean(self) -> None:
        if self.style_guide_id and self.asset_id:
            _same_project(self.style_guide, self.asset, "asset")


class AssetLink(ProjectOwned):
    class Relation(models.TextChoices):
        DERIVED_FROM = "derived_from", "derived from"
        REFERENCE_OF = "reference_of", "reference of"
        VARIANT_OF = "variant_of", "variant of"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="asset_links")
    source = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="links_out")
    target = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="links_in")
    relation = models.CharField(max_length=16, choices=Relation.choices)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "target", "relation"], name="asset_link_once"
            ),
            models.CheckConstraint(condition=~Q(source=models.F("target")), name="no_self_link"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} {self.get_relation_display()} {self.target_id}"

    def clean(self) -> None:
        if self.source_id:
            _same_project(self, self.source, "source")
        if self.target_id:
            _same_project(self, self.target, "target")


class PromptTemplate(ProjectOwned):
    class Stage(models.TextChoices):
        STYLE = "style", "Style lock"
        TIME = "time", "Time / light"
        WEATHER = "weather", "Weather"
        CHARACTERS = "characters", "Characters"
        REFINE = "refine", "Edge refine"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompt_templates")
    stage = models.CharField(max_length=12, choices=Stage.choices)
    name = models.CharField(max_length=80)
    template = models.TextField(
        help_text="Text with {variables}, e.g. {scene_name}, {time_of_day}."
    )
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["stage", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "stage", "name"], name="prompt_name_once")
        ]

    def __str__(self) -> str:
        return f"{self.stage}: {self.name}"


class ProviderAccount(ProjectOwned):
    class Provider(models.TextChoices):
        OPENAI = "openai", "OpenAI"
        LOCAL = "local", "Local (no AI, offline)"
        PHOTOROOM = "photoroom", "PhotoRoom"
        REMOVE_BG = "removebg", "remove.bg"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="provider_accounts")
    provider = models.CharField(max_length=12, choices=Provider.choices)
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
        return f"{self.get_provider_display()} / {self.name}"


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


class ProjectExport(ProjectOwned):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exports")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    path = models.CharField(max_length=500, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "-created_at"], name="export_project_recent")]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.status})"


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
