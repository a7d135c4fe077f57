"""The forms of the Characters pages: the fields; the rules (taken names, images) are the
services' (projects.services.characters, .references)."""

from __future__ import annotations

from django import forms

from projects.forms import StyleReferenceUploadForm
from projects.services.characters import CHARACTER_LIMITS, OUTFIT_LIMITS


class CharacterForm(forms.Form):
    name = forms.CharField(max_length=CHARACTER_LIMITS["name"])
    description = forms.CharField(
        max_length=CHARACTER_LIMITS["description"],
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Who they are and how they look; prompts get it with the cast.",
    )
    continuity_notes = forms.CharField(
        label="Continuity notes",
        max_length=CHARACTER_LIMITS["continuity_notes"],
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What must never change: face, scars, hair, palette.",
    )


class OutfitForm(forms.Form):
    name = forms.CharField(max_length=OUTFIT_LIMITS["name"])
    description = forms.CharField(
        max_length=OUTFIT_LIMITS["description"],
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What it looks like: cut, colours, materials.",
    )


class SheetUploadForm(StyleReferenceUploadForm):
    """More reference sheets for a character or an outfit (same checks as style images)."""


class ConfirmDeleteForm(forms.Form):
    confirm = forms.BooleanField(error_messages={"required": "Confirm the deletion first."})
