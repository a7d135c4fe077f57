"""Assets (content-addressed image files with metadata), links between them, exports."""

from __future__ import annotations

import unicodedata

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse

from projects.models.base import Project, ProjectOwned, _same_project
from projects.models.work_item import WorkItem


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
    rating = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text="The artist's rating, 1-5; ranking's tie-breaker after QA.",
    )
    rejected = models.BooleanField(default=False, help_text="Rejected by the artist.")
    # What the asset browser filters and searches on, copied from `metadata` (and its recipe) on
    # every save by browser_fields(), so that a filter is an indexed column, not a JSON scan.
    stage = models.CharField(max_length=32, blank=True)
    panel_key = models.CharField(max_length=64, blank=True)
    run_uid = models.CharField(max_length=64, blank=True)
    failed = models.BooleanField(default=False, help_text="A candidate that failed QA.")
    search_text = models.TextField(blank=True, help_text="Title, file name and prompt, lowered.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="asset_rating_1_to_5",
            ),
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
            # The browser's filters: each after `failed` (hidden unless asked for; the browser
            # asks for failed IN (false, true) when showing them). created_at ascending: read
            # backwards, the index gives newest first with the id (rowid) as the tie-breaker.
            *(
                models.Index(fields=["project", "failed", *extra, "created_at"], name=name)
                for extra, name in (
                    ((), "asset_browse"),
                    (("kind",), "asset_browse_kind"),
                    (("kind", "stage"), "asset_browse_kind_stage"),
                    (("stage",), "asset_browse_stage"),
                    (("panel_key",), "asset_browse_panel"),
                    (("run_uid",), "asset_browse_run"),
                    (("rating",), "asset_browse_rating"),
                )
            ),
        ]

    def __str__(self) -> str:
        return self.title or f"{self.kind} {self.sha256[:10]}"

    def save(self, *args: object, **kwargs: object) -> None:
        for name, value in browser_fields(self.kind, self.title, self.metadata).items():
            setattr(self, name, value)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"metadata", "title"} & set(update_fields):
            kwargs["update_fields"] = {*update_fields, *BROWSER_FIELDS}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("projects:asset_file", args=[self.project.slug, self.pk])

    def thumbnail_url(self) -> str:
        return reverse("projects:asset_thumb", args=[self.project.slug, self.pk])

    def download_url(self) -> str:
        return f"{self.get_absolute_url()}?download=1"

    @property
    def download_name(self) -> str:
        """A readable file name: `<project>_<panel>_<stage>_c<n>.png` for a run's candidate,
        else `<project>_<original name or title>.<ext>`."""
        from pathlib import PurePosixPath

        from django.utils.text import slugify

        meta = self.metadata or {}
        ext = PurePosixPath(self.path).suffix or ".png"
        if meta.get("panel") and meta.get("stage") and meta.get("candidate") is not None:
            parts = [meta["panel"], meta["stage"], f"c{meta['candidate']}"]
        else:
            parts = [PurePosixPath(str(meta.get("original_name") or self.title)).stem]
        name = "_".join(slugify(str(p)) for p in [self.project.slug, *parts] if slugify(str(p)))
        return f"{name or f'asset-{self.pk}'}{ext}"


def fold_text(text: str) -> str:
    """Lower case without accents ("Inès" -> "ines"): how search_text is kept and searched."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


BROWSER_FIELDS = ("stage", "panel_key", "run_uid", "failed", "search_text")


def browser_fields(kind: str, title: str, metadata: dict | None) -> dict[str, object]:
    """The asset browser's columns for an asset: from its recipe (run outputs and what was
    post-processed from them), else from the plain run/panel/stage keys of its metadata."""
    meta = metadata or {}
    recipe = meta.get("recipe") if isinstance(meta.get("recipe"), dict) else {}
    qa = recipe.get("qa") if isinstance(recipe.get("qa"), dict) else {}

    def pick(key: str, limit: int) -> str:
        return str(recipe.get(key) or meta.get(key) or "")[:limit]

    words = [title, meta.get("original_name"), recipe.get("prompt"), meta.get("prompt")]
    return {
        "stage": pick("stage", 32),
        "panel_key": pick("panel", 64),
        "run_uid": pick("run", 64),
        # A failed candidate the artist used anyway is in use: the browser shows it.
        "failed": kind == "candidate" and qa.get("passed") is False and not meta.get("used_anyway"),
        "search_text": fold_text("\n".join(str(w) for w in words if w)),
    }


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


# The step rows' item_type of an export (pipeline.models.work re-exports it).
EXPORT_JOB = "export"


class ProjectExport(WorkItem):
    """One export of a project (a zip, a CBZ or a PDF), made in the worker: a work item whose
    file is downloadable once it is done. `progress` is {done, total, what} while it runs."""

    step_item_type = EXPORT_JOB

    class Kind(models.TextChoices):
        ZIP = "zip", "Zip (final images, run logs, manifest, recipes)"
        CBZ = "cbz", "CBZ (comic book archive of the pages)"
        PDF = "pdf", "PDF (the pages, print-ready)"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exports")
    kind = models.CharField(max_length=4, choices=Kind.choices, default=Kind.ZIP)
    options = models.JSONField(
        default=dict, blank=True, help_text="What to export and how (pages, print size, dpi)."
    )
    progress = models.JSONField(default=dict, blank=True)
    path = models.CharField(max_length=500, blank=True, help_text="The file, in project storage.")
    file_name = models.CharField(max_length=200, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    manifest = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "-created_at"], name="export_project_recent")]

    def __str__(self) -> str:
        return f"{self.kind} export {self.pk} ({self.status})"
