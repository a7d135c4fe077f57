from __future__ import annotations

from django import forms

from kroma.lib.providers import provider_choices
from pipeline.config import FIXED_QUALITIES, FIXED_SIZES, ConfigError, load_manifest
from pipeline.errors import GuardError
from pipeline.postprocess.chain import chain_steps
from pipeline.postprocess.config import load_color_profiles
from pipeline.services.credentials import key_problem
from pipeline.services.refs import resolve_scenes
from projects.models import STAGE_HELP, Project, Stage


class RunForm(forms.Form):
    stage = forms.ChoiceField(
        choices=[(s.value, f"{s.label} — {STAGE_HELP[s]}") for s in Stage], widget=forms.RadioSelect
    )
    scenes = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, help_text="None ticked: all scenes."
    )
    candidates = forms.IntegerField(min_value=1, max_value=6, initial=3)
    provider = forms.ChoiceField(choices=[], initial="openai")
    variation = forms.CharField(
        required=False, max_length=200, help_text="Time stage: e.g. 'night'. Weather: e.g. 'snow'."
    )

    def __init__(self, *args: object, project: Project, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.config_error = ""
        keys: list[str] = []
        try:
            manifest_scenes = load_manifest(project)["scene_refs"]
            keys = [ref.key for ref in resolve_scenes(project, manifest_scenes, None)]
        except ConfigError as exc:  # the page says so (not "no scenes"); planning refuses too
            self.config_error = str(exc)
        except GuardError:  # no scenes yet
            pass
        self.fields["scenes"].choices = [(key, key) for key in keys]
        self.fields["provider"].choices = provider_choices("image")
        problem = key_problem(project, "openai")
        if problem:
            self.fields["provider"].initial = "local"
            self.fields["provider"].help_text = problem


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
    operation = forms.ChoiceField(choices=[], widget=forms.RadioSelect, initial="bg_remove")
    images = MultipleFileField(
        required=False,
        widget=MultipleFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
    scale = forms.TypedChoiceField(choices=[(2, "x2"), (4, "x4")], coerce=int, initial=2)
    profile = forms.ChoiceField(choices=[], required=False)
    prompt = forms.CharField(
        required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )
    quality = forms.ChoiceField(choices=[(q, q) for q in FIXED_QUALITIES], initial="medium")
    size = forms.ChoiceField(choices=[(s, s) for s in FIXED_SIZES], initial="1024x1024")
    confirm_spend = forms.BooleanField(required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.config_error = ""
        try:
            names = sorted(load_color_profiles())
        except ConfigError as exc:  # the other tools still work; the page says what is broken
            names, self.config_error = [], str(exc)
        self.fields["profile"].choices = [(n, n.replace("_", " ")) for n in names]
        self.fields["operation"].choices = [
            (step.name, step.label) for step in chain_steps() if step.in_lab
        ] + [("generate", "Generate with OpenAI")]

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        if cleaned.get("operation") == "generate" and not cleaned.get("prompt", "").strip():
            self.add_error("prompt", "Describe the image to generate.")
        if cleaned.get("operation") == "color" and not cleaned.get("profile"):
            self.add_error("profile", "Choose a colour profile.")
        return cleaned

    def operation_params(self) -> dict:
        data = self.cleaned_data
        extra = {
            "upscale": {"scale": data["scale"]},
            "color": {"profile": data.get("profile")},
            "generate": {
                "prompt": data.get("prompt", "").strip(),
                "quality": data["quality"],
                "size": data["size"],
                "n": 1,
            },
        }
        return extra.get(data["operation"], {})  # other steps run with their settings
