from __future__ import annotations

from django import forms

from pipeline.config import STAGES, ConfigError, load_manifest
from pipeline.errors import GuardError
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
