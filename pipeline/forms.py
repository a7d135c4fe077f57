from __future__ import annotations

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from kroma.lib.providers import provider_choices
from pipeline.config import (
    FIXED_QUALITIES,
    FIXED_SIZES,
    MODELS,
    QUALITIES,
    SIZES,
    ConfigError,
    load_manifest,
)
from pipeline.errors import GuardError
from pipeline.models import Run
from pipeline.postprocess.chain import chain_steps
from pipeline.postprocess.config import load_color_profiles
from pipeline.services.credentials import key_problem
from pipeline.services.refs import BuildOn, PanelTarget, resolve_panels
from pipeline.services.review import ReviewFilters
from projects.models import STAGE_HELP, Page, Project, Stage


class RunForm(forms.Form):
    """New Run: which panels, which stage, how many candidates, model, quality, size, and what
    each job builds on. Empty choices mean the project's defaults (shown as such)."""

    stage = forms.ChoiceField(
        choices=[(s.value, f"{s.label} — {STAGE_HELP[s]}") for s in Stage],
        widget=forms.RadioSelect,
    )
    panels = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every panel of the chosen page, or of the story.",
    )
    page = forms.ChoiceField(required=False, label="Page")
    candidates = forms.IntegerField(min_value=1, max_value=6, initial=3)
    provider = forms.ChoiceField(choices=[], initial="openai")
    model = forms.ChoiceField(required=False)
    quality = forms.ChoiceField(required=False)
    size = forms.ChoiceField(required=False)
    build_on = forms.ChoiceField(required=False, label="Build on")
    from_candidate = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    variation = forms.CharField(
        required=False, max_length=200, help_text="Time stage: e.g. 'night'. Weather: e.g. 'snow'."
    )
    prompt = forms.CharField(
        required=False,
        max_length=4000,
        label="Prompt",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Empty: each panel's prompt from the project's template. Text here is sent "
        "instead, for every ticked panel (edit it to vary a candidate).",
    )

    def __init__(self, *args: object, project: Project, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        self.config_error = ""
        self.targets: list[PanelTarget] = []
        gen: dict = {}
        try:
            manifest = load_manifest(project)
            gen = manifest["generation"]
            self.targets = resolve_panels(project, manifest["scene_refs"], None)
        except ConfigError as exc:  # the page says so (not "no panels"); planning refuses too
            self.config_error = str(exc)
        except GuardError:  # no panels yet
            pass
        self.fields["panels"].choices = [
            (t.key, t.panel.title if t.panel else t.key) for t in self.targets
        ]
        pages = Page.objects.filter(project=project).select_related("chapter")
        self.fields["page"].choices = [("", "Every page")] + [
            (str(p.pk), f"{p.chapter} · {p}") for p in pages
        ]
        self.fields["provider"].choices = provider_choices("image")
        self.fields["model"].choices = [("", f"Default ({gen.get('model', MODELS[0])})")] + [
            (m, m) for m in MODELS
        ]
        self.fields["quality"].choices = [("", f"Default ({gen.get('quality', 'medium')})")] + [
            (q, q) for q in QUALITIES
        ]
        self.fields["size"].choices = [("", "Each panel's aspect")] + [(s, s) for s in SIZES]
        runs = Run.objects.filter(project=project, mode=Run.Mode.RUN).order_by("-created_at")[:20]
        self.fields["build_on"].choices = [
            ("pick", "Each panel's current pick of the previous stage (else its base image)"),
            ("base", "Each panel's base image"),
        ] + [(f"run:{r.uid}", f"Picks of run {r.uid} ({r.get_stage_display()})") for r in runs]
        # The project's defaults (Settings → Generation and QA) are the form's.
        cap = gen.get("max_candidates", 6)
        self.fields["candidates"].max_value = cap
        self.fields["candidates"].validators = [
            v for v in self.fields["candidates"].validators if not hasattr(v, "limit_value")
        ] + [MinValueValidator(1), MaxValueValidator(cap)]
        self.fields["candidates"].widget.attrs.update({"min": 1, "max": cap})
        self.fields["candidates"].initial = gen.get("candidates", 3)
        self.fields["provider"].initial = gen.get("provider", "openai")
        problem = key_problem(project, self.fields["provider"].initial)
        if problem:
            self.fields["provider"].initial = "local"
            self.fields["provider"].help_text = problem

    def panel_rows(self) -> list[tuple[object, PanelTarget]]:
        """Each panel's checkbox with the panel (its thumbnail, page and size show beside it)."""
        return list(zip(self["panels"], self.targets, strict=True))

    def selected_panels(self) -> list[str] | None:
        data = self.cleaned_data
        if data["panels"]:
            return list(data["panels"])
        if data.get("page"):
            page = int(data["page"])
            return [t.key for t in self.targets if t.panel and t.panel.page_id == page] or ["-"]
        return None

    def service_params(self) -> dict:
        """The submit_run keyword arguments this form's data asks for."""
        data = self.cleaned_data
        build = data.get("build_on") or "pick"
        mode, _, uid = build.partition(":")
        chosen = {}
        panels = self.selected_panels()
        if data.get("from_candidate") and panels and len(panels) == 1:
            chosen = {panels[0]: data["from_candidate"]}
        return {
            "stage": data["stage"],
            "panels": panels,
            "candidates": data["candidates"],
            "provider": data["provider"],
            "model": data.get("model") or None,
            "quality": data.get("quality") or None,
            "size": data.get("size") or None,
            "build_on": BuildOn(mode=mode, run_uid=uid, candidates=chosen),
            "variation": data["variation"] or None,
            "prompt": data.get("prompt", "").strip() or None,
        }


class ReviewFilterForm(forms.Form):
    """The review's filters and sort (GET): invalid values fall back to the defaults."""

    show = forms.ChoiceField(
        required=False,
        choices=[
            ("all", "All"),
            ("unrated", "Unrated"),
            ("rated", "Rated"),
            ("kept", "Not rejected"),
            ("rejected", "Rejected"),
        ],
    )
    qa = forms.ChoiceField(
        required=False,
        label="QA",
        choices=[("all", "Any"), ("passed", "Passed"), ("failed", "Failed")],
    )
    min_rating = forms.TypedChoiceField(
        required=False,
        label="Rating at least",
        coerce=int,
        empty_value=0,
        choices=[(0, "Any")] + [(n, "★" * n) for n in range(1, 6)],
    )
    sort = forms.ChoiceField(
        required=False,
        choices=[
            ("rank", "Best first (QA, then rating)"),
            ("rating", "Rating"),
            ("index", "Candidate number"),
            ("newest", "Newest"),
        ],
    )

    def filters(self) -> ReviewFilters:
        if not self.is_valid():
            return ReviewFilters()
        data = {k: v for k, v in self.cleaned_data.items() if v not in ("", None)}
        return ReviewFilters(**data)


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
