"""The story world: characters, style guides, reference sets, prompt templates."""

from __future__ import annotations

import hashlib
import json

from django.db import models
from django.db.models import Q

from projects.errors import StyleLocked
from projects.models.assets import Asset
from projects.models.base import Project, ProjectOwned, _same_project, slug_validator


class Character(ProjectOwned):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="characters")
    slug = models.SlugField(max_length=64, validators=[slug_validator])
    name = models.CharField(max_length=120)
    description = models.TextField(max_length=4000, blank=True)
    continuity_notes = models.TextField(
        max_length=2000,
        blank=True,
        help_text="What must never change: face, scars, costume, palette.",
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

    # What a lock freezes; the content hash covers these and the references' images.
    CONTENT_FIELDS = ("name", "description", "rules")

    def save(self, *args: object, **kwargs: object) -> None:
        """Refuses (StyleLocked) to change the content of a guide whose stored row is locked.

        Unlocking and then editing are two saves, so that an unlock is never hidden in an edit;
        both go through services (projects.services.security, .style) that audit them. Queryset
        update() and bulk writes bypass this check: nothing of ours uses them on style guides.
        """
        from django.utils import timezone

        self._refuse_locked_content_change(kwargs.get("update_fields"))
        if self.is_locked and self.locked_at is None:
            self.locked_at = timezone.now()
        elif not self.is_locked:
            self.locked_at = None
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        """A locked guide is not deleted (StyleLocked); deleting its project still is."""
        if StyleGuide.objects.filter(pk=self.pk, status=self.Status.LOCKED).exists():
            raise StyleLocked(self.name)
        return super().delete(*args, **kwargs)

    def _refuse_locked_content_change(self, update_fields: object) -> None:
        if self.pk is None:
            return
        fields = [f for f in self.CONTENT_FIELDS if update_fields is None or f in update_fields]
        stored = StyleGuide.objects.filter(pk=self.pk).values("status", *fields).first()
        if stored is None or stored["status"] != self.Status.LOCKED:
            return
        if any(stored[f] != getattr(self, f) for f in fields):
            raise StyleLocked(stored.get("name", self.name))

    @property
    def is_locked(self) -> bool:
        return self.status == self.Status.LOCKED

    @property
    def content_sha256(self) -> str:
        """The sha256 of what a run takes from this guide, stable across versions of Kroma.

        The hashed bytes are the UTF-8 JSON array
        `["kroma.style-guide.v1", name, description, rules, [asset sha256, ...]]` (no spaces
        after separators, non-ASCII kept as is, line endings normalised to LF), the
        references in their order (position, then id). Slug, status, lock time and reference
        notes are not content: locking or unlocking leaves the hash as it is.
        """
        prefetched = getattr(self, "_prefetched_objects_cache", {}).get("references")
        if prefetched is not None:
            ordered = sorted(prefetched, key=lambda ref: (ref.position, ref.pk))
            shas = [ref.asset.sha256 for ref in ordered]
        else:
            shas = list(
                self.references.order_by("position", "id").values_list("asset__sha256", flat=True)
            )
        texts = [_lf(self.name), _lf(self.description), _lf(self.rules)]
        payload = json.dumps(
            ["kroma.style-guide.v1", *texts, shas], ensure_ascii=False, separators=(",", ":")
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


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
    outfit = models.ForeignKey(
        "projects.Outfit",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reference_sets",
        help_text="Sheets of one outfit; empty: the character's own sheets (face, body).",
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

    def save(self, *args: object, **kwargs: object) -> None:
        """Refuses (StyleLocked) to add, change or move a reference of a locked guide."""
        self._refuse_if_guide_locked()
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        self._refuse_if_guide_locked()
        return super().delete(*args, **kwargs)

    def clean(self) -> None:
        if self.style_guide_id and self.asset_id:
            _same_project(self.style_guide, self.asset, "asset")

    def _refuse_if_guide_locked(self) -> None:
        # The stored rows decide, not a possibly stale guide instance; a moved reference
        # checks the guide it leaves as well as the one it joins.
        guide_ids = {self.style_guide_id}
        if self.pk is not None:
            guide_ids |= set(
                StyleReference.objects.filter(pk=self.pk).values_list("style_guide_id", flat=True)
            )
        locked = StyleGuide.objects.filter(pk__in=guide_ids, status=StyleGuide.Status.LOCKED)
        name = locked.values_list("name", flat=True).first()
        if name is not None:
            raise StyleLocked(name)


class Stage(models.TextChoices):
    """The pipeline's stages, in order: the one definition (runs, templates, forms, commands)."""

    STYLE = "style", "Style lock"
    TIME = "time", "Time / light"
    WEATHER = "weather", "Weather"
    CHARACTERS = "characters", "Characters"


STAGE_HELP = {
    Stage.STYLE: "redraw in the project's style, geometry kept",
    Stage.TIME: "change time of day and lighting",
    Stage.WEATHER: "add weather, structure kept",
    Stage.CHARACTERS: "place the cast (needs a locked style)",
}

# The variables a prompt template may use; planning fills exactly these.
PROMPT_VARIABLES = (
    "project_name",
    "logline",
    "setting",
    "tone",
    "notes",
    "style_rules",
    "variation",
    "panel",
    "script",
    "shot",
    "camera",
    "cast",
    "composition",
    "characters",  # the cast, under its older name
    "scene",  # the panel's title, under its older name
)


class PromptTemplate(ProjectOwned):
    Stage = Stage

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompt_templates")
    stage = models.CharField(max_length=12, choices=Stage.choices)
    name = models.CharField(max_length=80)
    template = models.TextField(
        help_text="Text with {variables}: " + ", ".join(f"{{{v}}}" for v in PROMPT_VARIABLES)
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
