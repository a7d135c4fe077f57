"""The template editor: /projects/<slug>/prompts/, one section per stage.

Each section (a named partial of templates/pipeline/prompts.html) holds the stage's template,
its variables and a live preview for a chosen panel: typing posts to the preview endpoint,
which answers the rendered prompt or the exact error (always 200, nothing saved). Save and
Reset answer the section (htmx; 400 with the error at its field) or redirect to the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from kroma.lib.errors import UserError
from pipeline.config import ConfigError, Manifest, load_manifest
from pipeline.services.prompt_templates import (
    CurrentTemplate,
    Preview,
    current_template,
    preview_prompt,
    preview_targets,
    reset_template,
    save_template,
)
from pipeline.services.prompts import VARIABLE_HELP
from pipeline.services.refs import PanelTarget
from projects.access import get_project_for_user
from projects.models import PROMPT_VARIABLES, STAGE_HELP, Project, Stage

TEMPLATE = "pipeline/prompts.html"
DEFAULT_NAME = "custom"


class PromptForm(forms.Form):
    """What every editor request posts; the service judges the template and the name."""

    stage = forms.ChoiceField(choices=Stage.choices)
    template = forms.CharField(required=False, strip=False)
    name = forms.CharField(required=False, max_length=200)
    panel = forms.CharField(required=False, max_length=64)


@dataclass
class Section:
    stage: str
    label: str
    help: str
    current: CurrentTemplate
    text: str
    name: str
    panel: str
    preview: Preview
    errors: dict[str, str] = field(default_factory=dict)
    saved: str = ""


def _section(
    project: Project,
    stage: str,
    manifest: Manifest,
    targets: tuple[list[PanelTarget], str],
    posted: dict[str, Any] | None = None,
    **extra: Any,
) -> Section:
    """A stage's section: what is saved, or what was posted (kept after a refused save)."""
    current = current_template(project=project, stage=stage, manifest=manifest)
    posted = posted or {}
    text = posted.get("template", current.text)
    panel = posted.get("panel") or (targets[0][0].key if targets[0] else "")
    preview = preview_prompt(
        project=project,
        stage=stage,
        template=text,
        panel_key=panel,
        manifest=manifest,
        targets=targets,
    )
    return Section(
        stage=stage,
        label=Stage(stage).label,
        help=STAGE_HELP[Stage(stage)],
        current=current,
        text=text,
        name=posted.get("name") or current.name or DEFAULT_NAME,
        panel=panel,
        preview=preview,
        **extra,
    )


def _context(project: Project, targets: tuple[list[PanelTarget], str], **extra: Any) -> dict:
    return {
        "project": project,
        "panels": targets[0],
        "variables": [(f"{{{name}}}", VARIABLE_HELP[name]) for name in PROMPT_VARIABLES],
        **extra,
    }


def _posted(request: HttpRequest) -> PromptForm | None:
    form = PromptForm(request.POST)
    return form if form.is_valid() else None


@login_required
def prompts_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    try:
        manifest = load_manifest(project)
    except ConfigError as exc:  # the project's overrides are broken: Settings says how to fix
        context = _context(project, ([], ""), sections=[], config_error=str(exc))
        return render(request, TEMPLATE, context)
    targets = preview_targets(project=project, manifest=manifest)
    sections = [_section(project, stage, manifest, targets) for stage in Stage.values]
    return render(request, TEMPLATE, _context(project, targets, sections=sections))


@login_required
@require_POST
def prompts_preview(request: HttpRequest, slug: str) -> HttpResponse:
    """The template as typed, rendered for the chosen panel (or the error); saves nothing."""
    project = get_project_for_user(request.user, slug)
    form = _posted(request)
    if form is None:
        return HttpResponseBadRequest("Choose one of the stages.")
    data = form.cleaned_data
    try:
        preview = preview_prompt(
            project=project, stage=data["stage"], template=data["template"], panel_key=data["panel"]
        )
    except ConfigError as exc:
        preview = Preview(error=str(exc))
    return render(request, f"{TEMPLATE}#preview", {"stage": data["stage"], "preview": preview})


def _answer(
    request: HttpRequest,
    project: Project,
    data: dict[str, Any],
    *,
    errors: dict[str, str],
    saved: str = "",
) -> HttpResponse:
    """The section (htmx) or the page; a plain POST that worked redirects to the section."""
    stage = data["stage"]
    if not errors and not request.htmx:
        messages.success(request, saved)
        return redirect(reverse("pipeline:prompts", args=[project.slug]) + f"#prompts-{stage}")
    try:
        manifest = load_manifest(project)
    except ConfigError as exc:
        return HttpResponseBadRequest(str(exc))
    targets = preview_targets(project=project, manifest=manifest)
    # After a refused save the section keeps what was typed; after a save it shows what is saved.
    posted = data if errors else {"panel": data["panel"]}
    section = _section(project, stage, manifest, targets, posted, errors=errors, saved=saved)
    status = 400 if errors else 200
    if request.htmx:
        context = _context(project, targets, section=section)
        return render(request, f"{TEMPLATE}#stage", context, status=status)
    sections = [
        section if s == stage else _section(project, s, manifest, targets) for s in Stage.values
    ]
    return render(request, TEMPLATE, _context(project, targets, sections=sections), status=status)


@login_required
@require_POST
def prompts_save(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    form = _posted(request)
    if form is None:
        return HttpResponseBadRequest("Choose one of the stages.")
    data = form.cleaned_data
    try:
        row = save_template(
            project=project,
            actor=request.user,
            stage=data["stage"],
            text=data["template"],
            name=data["name"],
        )
    except UserError as exc:
        return _answer(request, project, data, errors={exc.field or "template": exc.message})
    saved = f"Saved: {Stage(row.stage).label} runs use the template '{row.name}'."
    return _answer(request, project, data, errors={}, saved=saved)


@login_required
@require_POST
def prompts_reset(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    form = _posted(request)
    if form is None:
        return HttpResponseBadRequest("Choose one of the stages.")
    data = form.cleaned_data
    count = reset_template(project=project, actor=request.user, stage=data["stage"])
    label = Stage(data["stage"]).label
    saved = (
        f"Reset: {label} runs use the manifest default."
        if count
        else f"{label} runs already use the manifest default."
    )
    return _answer(request, project, data, errors={}, saved=saved)
