from __future__ import annotations

from django import forms

from pipeline.config import STAGES, ConfigError, load_manifest
from pipeline.errors import GuardError, ProviderError
from pipeline.postprocess.config import load_color_profiles
from pipeline.services.credentials import credentials
from pipeline.services.refs import resolve_scenes
from projects.models import Project

STAGE_LABELS = {
    "style": "Style lock — redraw in the project's style, geometry kept",
    "time": "Time / light — change time of day and lighting",
    "weather": "Weather — add weather, structure kept",
    "characters": "Characters — place the cast (needs a locked style)",
}


class RunForm(forms.Form):
    stage = forms.ChoiceField(
        choices=[(s, STAGE_LABELS[s]) for s in STAGES], widget=forms.RadioSelect
    )
    scenes = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, help_text="None ticked: all scenes."
    )
    candidates = forms.IntegerField(min_value=1, max_value=6, initial=3)
    provider = forms.ChoiceField(
        choices=[("openai", "OpenAI (paid)"), ("local", "local (no AI, offline)")], initial="openai"
    )
    variation = forms.CharField(
        required=False, max_length=200, help_text="Time stage: e.g. 'night'. Weather: e.g. 'snow'."
    )

    def __init__(self, *args: object, project: Project, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        try:
            manifest_scenes = load_manifest(project)["scene_refs"]
            keys = [ref.key for ref in resolve_scenes(project, manifest_scenes, None)]
        except (GuardError, ConfigError):  # no scenes yet, or a bad manifest: planning says why
            keys = []
        self.fields["scenes"].choices = [(key, key) for key in keys]
        try:
            has_key = bool(credentials(project, "openai")[0])
        except ProviderError:
            has_key = False
        if not has_key:
            self.fields["provider"].initial = "local"
            self.fields["provider"].help_text = (
                "No OpenAI key is set up: add the project secret openai/api_key "
                "(Admin → Project secrets) or OPENAI_API_KEY to use OpenAI."
            )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented pattern); content is checked later."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: object, initial: object = None) -> list:
        if not data:
            return []
        items = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in items]


class LabForm(forms.Form):
    operation = forms.ChoiceField(
        choices=[
            ("bg_remove", "Remove background"),
            ("upscale", "Upscale"),
            ("color", "Colour profile"),
            ("generate", "Generate with OpenAI"),
        ],
        widget=forms.RadioSelect,
        initial="bg_remove",
    )
    images = MultipleFileField(
        required=False,
        widget=MultipleFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
    scale = forms.TypedChoiceField(choices=[(2, "x2"), (4, "x4")], coerce=int, initial=2)
    profile = forms.ChoiceField(choices=[], required=False)
    prompt = forms.CharField(
        required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )
    quality = forms.ChoiceField(
        choices=[("low", "low"), ("medium", "medium"), ("high", "high")], initial="medium"
    )
    size = forms.ChoiceField(
        choices=[(s, s) for s in ("1024x1024", "1024x1536", "1536x1024")], initial="1024x1024"
    )
    confirm_spend = forms.BooleanField(required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        try:
            names = sorted(load_color_profiles())
        except ConfigError:
            names = []
        self.fields["profile"].choices = [(n, n.replace("_", " ")) for n in names]

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        if cleaned.get("operation") == "generate" and not cleaned.get("prompt", "").strip():
            self.add_error("prompt", "Describe the image to generate.")
        if cleaned.get("operation") == "color" and not cleaned.get("profile"):
            self.add_error("profile", "Choose a colour profile.")
        return cleaned

    def operation_params(self) -> dict:
        data = self.cleaned_data
        return {
            "bg_remove": {},
            "upscale": {"scale": data["scale"]},
            "color": {"profile": data.get("profile")},
            "generate": {
                "prompt": data.get("prompt", "").strip(),
                "quality": data["quality"],
                "size": data["size"],
                "n": 1,
            },
        }[data["operation"]]
