"""The story an artist directs: chapters -> pages -> panels, each panel with a script and a cast.

A panel is the unit an image is made for (the seed's "scene"). Its `key` is the stable name run
logs, commands and `{panel}` use. Its current pick per stage is not stored here: it is the
selected candidate of the newest real run of that stage for the panel (pipeline.services.story).
"""

from __future__ import annotations

from django.db import models

from projects.models.assets import Asset
from projects.models.base import Project, ProjectOwned, _same_project, slug_validator
from projects.models.universe import Character


class Aspect(models.TextChoices):
    """Size presets of a panel; the request size of its jobs unless a run says otherwise."""

    SQUARE = "square", "Square (1024 x 1024)"
    LANDSCAPE = "landscape", "Landscape (1536 x 1024)"
    PORTRAIT = "portrait", "Portrait (1024 x 1536)"
    AUTO = "auto", "Auto (the model chooses)"


ASPECT_SIZES = {
    Aspect.SQUARE: "1024x1024",
    Aspect.LANDSCAPE: "1536x1024",
    Aspect.PORTRAIT: "1024x1536",
    Aspect.AUTO: "auto",
}


def aspect_for(width: int | None, height: int | None) -> str:
    """The preset nearest an image's shape (a base image decides a new panel's aspect)."""
    if not width or not height:
        return Aspect.SQUARE
    ratio = width / height
    if ratio >= 1.2:
        return Aspect.LANDSCAPE
    if ratio <= 1 / 1.2:
        return Aspect.PORTRAIT
    return Aspect.SQUARE


class Chapter(ProjectOwned):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="chapters")
    position = models.PositiveIntegerField(default=1)
    title = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title or f"Chapter {self.position}"


class Layout(models.TextChoices):
    """Page layout presets, filled by the page's panels in reading order."""

    AUTO = "auto", "Automatic (by panel count)"
    FULL = "full", "Full page"
    TIERS_2 = "tiers2", "2 tiers"
    TIERS_3 = "tiers3", "3 tiers"
    GRID_2X3 = "grid2x3", "2 x 3 grid"
    SPLASH_STRIP = "splash_strip", "Splash + strip"


class Page(ProjectOwned):
    Layout = Layout

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pages")
    chapter = models.ForeignKey(Chapter, on_delete=models.CASCADE, related_name="pages")
    position = models.PositiveIntegerField(default=1)
    title = models.CharField(max_length=120, blank=True)
    layout = models.CharField(max_length=16, choices=Layout.choices, default=Layout.AUTO)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title or f"Page {self.position}"

    def clean(self) -> None:
        if self.chapter_id:
            _same_project(self, self.chapter, "chapter")


class Panel(ProjectOwned):
    Aspect = Aspect

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="panels")
    page = models.ForeignKey(Page, on_delete=models.PROTECT, related_name="panels")
    key = models.SlugField(
        max_length=64,
        validators=[slug_validator],
        help_text="The panel's stable name in run logs and commands.",
    )
    title = models.CharField(max_length=120)
    position = models.PositiveIntegerField(default=1)
    script = models.TextField(max_length=4000, blank=True, help_text="What happens in the panel.")
    shot = models.CharField(max_length=120, blank=True, help_text="e.g. wide establishing shot")
    camera = models.CharField(max_length=120, blank=True, help_text="e.g. low angle, 35 mm")
    aspect = models.CharField(max_length=10, choices=Aspect.choices, default=Aspect.SQUARE)
    base_asset = models.ForeignKey(
        Asset,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="base_of_panels",
        help_text="A sketch, layout or photo; without one the panel is drawn from its script.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["page__chapter__position", "page__position", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="panel_key_per_project")
        ]
        indexes = [models.Index(fields=["page", "position"], name="panel_page_order")]

    def __str__(self) -> str:
        return self.title

    @property
    def size(self) -> str:
        return ASPECT_SIZES[Aspect(self.aspect)]

    def clean(self) -> None:
        if self.page_id:
            _same_project(self, self.page, "page")
        if self.base_asset_id:
            _same_project(self, self.base_asset, "base_asset")


class Outfit(models.Model):
    """A named costume of a character, with its own reference sheets (a ReferenceSet)."""

    character = models.ForeignKey(Character, on_delete=models.CASCADE, related_name="outfits")
    name = models.CharField(max_length=80)
    description = models.TextField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["character", "name"], name="outfit_name_per_character")
        ]

    def __str__(self) -> str:
        return f"{self.character.name} — {self.name}"


class CastMember(models.Model):
    """A character in a panel: pose, expression, outfit and notes for this panel only."""

    panel = models.ForeignKey(Panel, on_delete=models.CASCADE, related_name="cast")
    character = models.ForeignKey(Character, on_delete=models.CASCADE, related_name="cast_entries")
    outfit = models.ForeignKey(
        Outfit, null=True, blank=True, on_delete=models.SET_NULL, related_name="cast_entries"
    )
    pose = models.CharField(max_length=200, blank=True)
    expression = models.CharField(max_length=200, blank=True)
    notes = models.CharField(max_length=300, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["panel", "character"], name="cast_character_once")
        ]

    def __str__(self) -> str:
        return f"{self.character.name} in {self.panel.title}"

    def clean(self) -> None:
        if self.panel_id and self.character_id:
            _same_project(self.panel, self.character, "character")
        if self.outfit_id and self.character_id and self.outfit.character_id != self.character_id:
            from django.core.exceptions import ValidationError

            raise ValidationError({"outfit": "Choose one of this character's outfits."})
