from __future__ import annotations

from django import forms

from projects.models import Asset, Project, slug_validator
from projects.services.projects import slug_from_name

# First path segments Kroma's own URLs use under /projects/ and at the root.
RESERVED_SLUGS = {"new", "admin", "api", "lab", "static", "soon"}


class NewProjectForm(forms.Form):
    name = forms.CharField(max_length=120, strip=True)
    slug = forms.CharField(
        max_length=64,
        required=False,
        validators=[slug_validator],
        help_text="Used in paths and URLs; leave empty to derive it from the name.",
    )

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        name = cleaned.get("name")
        if not name or self.errors:
            return cleaned
        slug = cleaned.get("slug") or slug_from_name(str(name))
        if not slug:
            self.add_error("name", "The name needs at least one letter or digit.")
            return cleaned
        try:
            slug_validator(slug)
        except forms.ValidationError as exc:
            self.add_error("slug" if cleaned.get("slug") else "name", exc)
            return cleaned
        if slug in RESERVED_SLUGS:
            self.add_error(
                "slug" if cleaned.get("slug") else "name",
                f"“{slug}” is reserved by Kroma's own pages; choose another slug.",
            )
            return cleaned
        if Project.objects.filter(slug=slug).exists():
            self.add_error(
                "slug" if cleaned.get("slug") else "name",
                f"A project with the slug “{slug}” already exists; choose another.",
            )
        cleaned["slug"] = slug
        return cleaned


class StoryForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "logline", "setting", "tone", "notes"]
        widgets = {
            "setting": forms.Textarea(attrs={"rows": 3}),
            "notes": forms.Textarea(attrs={"rows": 4}),
        }


class AssetFilterForm(forms.Form):
    """GET filters of the asset list, validated like any input."""

    kind = forms.ChoiceField(choices=[("", "All kinds"), *Asset.Kind.choices], required=False)
    page = forms.IntegerField(min_value=1, required=False)


class ReferenceUploadForm(forms.Form):
    """The universe page's "add images" form: which kind, and for which character."""

    kind = forms.ChoiceField(
        choices=[("scene", "Scenes"), ("style", "Style references"), ("character", "Characters")]
    )
    character = forms.ModelChoiceField(queryset=None, required=False)

    def __init__(self, *args: object, project: Project, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["character"].queryset = project.characters.all()
        self.fields["character"].error_messages["invalid_choice"] = (
            "Choose one of this project's characters."
        )

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        if cleaned.get("kind") == "character" and not cleaned.get("character"):
            self.add_error("character", "Choose one of this project's characters.")
        return cleaned
