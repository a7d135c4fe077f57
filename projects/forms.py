from __future__ import annotations

from django import forms
from django.conf import settings

from kroma.lib.errors import UserError
from projects.models import Project, slug_validator
from projects.services.projects import new_project_slug


class NewProjectForm(forms.Form):
    """The fields; the rules (slug derivation, reserved and taken slugs) are the service's."""

    name = forms.CharField(max_length=120, strip=True)
    slug = forms.CharField(
        max_length=64,
        required=False,
        validators=[slug_validator],
        help_text="Used in paths and URLs; leave empty to derive it from the name.",
    )

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        if not cleaned.get("name") or self.errors:
            return cleaned
        try:
            cleaned["slug"] = new_project_slug(
                name=str(cleaned["name"]), slug=str(cleaned.get("slug") or "")
            )
        except UserError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return cleaned


class StoryForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "logline", "setting", "tone", "notes"]
        widgets = {
            "setting": forms.Textarea(attrs={"rows": 3}),
            "notes": forms.Textarea(attrs={"rows": 4}),
        }


class ReferenceUploadForm(forms.Form):
    """The universe page's "add images" form: which kind, and for which character (one of the
    project's, or a new one by name: the service creates it and files the images under it)."""

    kind = forms.ChoiceField(
        choices=[("scene", "Scenes"), ("style", "Style references"), ("character", "Characters")]
    )
    character = forms.ModelChoiceField(queryset=None, required=False)
    new_character = forms.CharField(max_length=120, required=False)

    def __init__(self, *args: object, project: Project, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        self.fields["character"].queryset = project.characters.all()
        self.fields["character"].error_messages["invalid_choice"] = (
            "Choose one of this project's characters."
        )

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        if cleaned.get("kind") != "character" or self.has_error("character"):
            return cleaned
        chosen, new_name = cleaned.get("character"), cleaned.get("new_character")
        if chosen and new_name:
            self.add_error("new_character", "Choose a character or type a new name, not both.")
        elif not chosen and not new_name:
            # With no character yet the name is the only way on: say so at that field.
            field = "character" if self.project.characters.exists() else "new_character"
            self.add_error(
                field, "Choose one of this project's characters or type a new character's name."
            )
        return cleaned


class StyleGuideForm(forms.Form):
    """A style guide's text on the Style page; whether it may change is the service's rule."""

    name = forms.CharField(max_length=120)
    description = forms.CharField(
        max_length=4000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    rules = forms.CharField(
        max_length=8000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Line work, palette, lighting, what to avoid: the prompt's {style_rules}.",
    )


class MultipleImageInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """Several files in one input (Django's documented pattern): a list of uploads."""

    widget = MultipleImageInput(attrs={"accept": "image/png,image/jpeg,image/webp"})

    def clean(self, data: object, initial: object = None) -> list[object]:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        if not files and self.required:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        return [super(MultipleImageField, self).clean(f, initial) for f in files]


class StyleReferenceUploadForm(forms.Form):
    """More reference images for one guide; their content is checked by the service."""

    images = MultipleImageField(error_messages={"required": "Choose at least one image."})

    def clean_images(self) -> list[object]:
        files = self.cleaned_data["images"]
        too_big = [f.name for f in files if f.size > settings.MAX_UPLOAD_BYTES]
        if too_big:
            raise forms.ValidationError(
                f"{', '.join(too_big)}: larger than {settings.MAX_UPLOAD_BYTES / 1e6:.0f} MB each."
            )
        return files


class ConfirmUnlockForm(forms.Form):
    confirm = forms.BooleanField(
        error_messages={"required": "Confirm the unlock: runs after it may use other rules."}
    )
