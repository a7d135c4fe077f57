"""The template editor: a project's prompt template per stage, previewed for a chosen panel.

A stage's template is the project's active PromptTemplate row, else the manifest's
`prompts.<stage>`. Saving makes the saved row the one active row of its stage; resetting
deactivates the stage's rows (they stay, inactive) so the manifest default applies again. Both
are audited, and an invalid template is refused at the field "template" with the same message
a run would give.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from kroma.lib.errors import UserError
from pipeline.config import ConfigError, Manifest, load_manifest
from pipeline.errors import GuardError
from pipeline.services.prompts import active_template, check_template, panel_prompt
from pipeline.services.refs import PanelTarget, resolve_panels
from projects.models import PROMPT_VARIABLES, AuditEvent, Project, PromptTemplate, Stage

MAX_TEMPLATE_CHARS = 8000
MAX_NAME_CHARS = 80


@dataclass(frozen=True)
class CurrentTemplate:
    """What a run of the stage uses now: the project's row (its name) or the manifest default."""

    stage: str
    text: str
    name: str  # "" for the manifest default

    @property
    def is_default(self) -> bool:
        return not self.name


@dataclass(frozen=True)
class Preview:
    """A template rendered for one panel, or why it cannot be (nothing is saved either way)."""

    text: str = ""
    error: str = ""
    panel: PanelTarget | None = None
    note: str = ""  # e.g. no panels yet: only the story fields are filled


def current_template(*, project: Project, stage: str, manifest: Manifest) -> CurrentTemplate:
    row = active_template(project, stage)
    if row is not None:
        return CurrentTemplate(stage, row.template, row.name)
    return CurrentTemplate(stage, manifest[f"prompts.{stage}"], "")


def preview_targets(*, project: Project, manifest: Manifest) -> tuple[list[PanelTarget], str]:
    """The panels a run would plan (story order), and a note when there are none."""
    try:
        return resolve_panels(project, manifest["scene_refs"], None), ""
    except GuardError as exc:
        if exc.code == "no_panels":
            return [], "This project has no panels yet: the preview fills the story fields only."
        return [], f"{exc.message} The preview fills the story fields only."


def _clean_text(text: str) -> str:
    return (text or "").replace("\r\n", "\n").strip()


def template_problem(text: str, stage: str) -> str:
    """Why a template cannot be used ("" when it can): empty, too long, or a bad variable."""
    text = _clean_text(text)
    if not text:
        return "The template is empty: write one, or reset to the manifest default."
    if len(text) > MAX_TEMPLATE_CHARS:
        return f"{len(text)} characters; a template has at most {MAX_TEMPLATE_CHARS}."
    try:
        check_template(text, PROMPT_VARIABLES, f"template ({stage})")
    except ConfigError as exc:
        return exc.reason
    return ""


def preview_prompt(
    *,
    project: Project,
    stage: str,
    template: str,
    panel_key: str = "",
    manifest: Manifest | None = None,
    targets: tuple[list[PanelTarget], str] | None = None,
) -> Preview:
    """`template` rendered for the panel `panel_key` (default: the first) as a run would.

    `targets` is preview_targets()'s answer when the caller already has it."""
    manifest = manifest or load_manifest(project)
    panels, note = (
        targets if targets is not None else preview_targets(project=project, manifest=manifest)
    )
    target = None
    if panels:
        target = next((t for t in panels if t.key == panel_key), None) if panel_key else panels[0]
        if target is None:
            known = ", ".join(t.key for t in panels)
            return Preview(error=f"Unknown panel {panel_key!r}; panels: {known}.", note=note)
    if stage == Stage.CHARACTERS and target is not None and not _has_cast(target):
        note = "A characters run leaves this panel out: it has no cast."
    problem = template_problem(template, stage)
    if problem:
        return Preview(error=problem, panel=target, note=note)
    try:
        text = panel_prompt(project, stage, target, _clean_text(template), manifest=manifest)
    except (ConfigError, GuardError) as exc:
        return Preview(error=getattr(exc, "reason", exc.message), panel=target, note=note)
    return Preview(text=text, panel=target, note=note)


def _has_cast(target: PanelTarget) -> bool:
    return target.panel is not None and target.panel.cast.exists()


def _check_stage(stage: str) -> str:
    if stage not in Stage.values:
        raise UserError(
            f"Unknown stage {stage!r}; stages are {', '.join(Stage.values)}.", field="stage"
        )
    return stage


def save_template(
    *, project: Project, actor: AbstractBaseUser | None, stage: str, text: str, name: str
) -> PromptTemplate:
    """Save `text` as the project's template `name` for `stage` and make it the one in use.

    UserError at "template" for an invalid template (nothing is saved), at "name" for a bad name.
    """
    _check_stage(stage)
    problem = template_problem(text, stage)
    if problem:
        raise UserError(problem, code="invalid_template", field="template")
    name = " ".join((name or "").split())
    if not name:
        raise UserError("Name the template, e.g. 'noir'.", code="required", field="name")
    if len(name) > MAX_NAME_CHARS:
        raise UserError(
            f"{len(name)} characters; a name has at most {MAX_NAME_CHARS}.",
            code="too_long",
            field="name",
        )
    text = _clean_text(text)
    with transaction.atomic():
        row = PromptTemplate.objects.filter(project=project, stage=stage, name=name).first()
        others = dict(
            PromptTemplate.objects.filter(project=project, stage=stage, is_active=True)
            .exclude(name=name)
            .values_list("pk", "name")
        )
        deactivated = sorted(others.values())
        if row is not None and row.is_active and row.template == text and not deactivated:
            return row  # nothing changes
        created = row is None
        if created:
            row = PromptTemplate.objects.create(
                project=project, stage=stage, name=name, template=text, is_active=True
            )
        else:
            row.template, row.is_active = text, True
            row.save(update_fields=["template", "is_active", "updated_at"])
        PromptTemplate.objects.filter(pk__in=others).update(is_active=False)
        AuditEvent.objects.create(
            project=project,
            actor=actor,
            action="prompt_template.saved",
            target=f"{stage}/{name}"[:200],
            data={
                "stage": stage,
                "name": name,
                "created": created,
                "template": text,
                "deactivated": deactivated,
            },
        )
    return row


def reset_template(*, project: Project, actor: AbstractBaseUser | None, stage: str) -> int:
    """Deactivate the stage's templates so the manifest default applies again; how many were
    active (0: it already did, and nothing is written)."""
    _check_stage(stage)
    with transaction.atomic():
        active = PromptTemplate.objects.filter(project=project, stage=stage, is_active=True)
        names = sorted(active.values_list("name", flat=True))
        if not names:
            return 0
        active.update(is_active=False)
        AuditEvent.objects.create(
            project=project,
            actor=actor,
            action="prompt_template.reset",
            target=stage,
            data={"stage": stage, "deactivated": names},
        )
    return len(names)
