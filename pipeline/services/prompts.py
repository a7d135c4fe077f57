"""Prompts from the story: a template (manifest or project) filled with one panel's variables.

Every story field is a variable (see projects.models.PROMPT_VARIABLES). A sentence of the
template whose variables are all empty is left out (no "Style rules: " with nothing after it),
and joining never doubles punctuation ("Freckles." + "." stays "Freckles.").
"""

from __future__ import annotations

import re
import string
from typing import Any

from pipeline.config import ConfigError, Manifest, load_manifest
from pipeline.services.refs import PanelTarget, cast_of, locked_style_guide, stage_input
from projects.models import CastMember, Panel, Project, PromptTemplate, StyleGuide

_SENTENCES = re.compile(r"(?<=[.!?])\s+")

# What each variable holds, in one line (the template editor lists them; a test keeps this
# in step with projects.models.PROMPT_VARIABLES).
VARIABLE_HELP = {
    "project_name": "the project's name",
    "logline": "the story in one line (Universe → Story)",
    "setting": "where and when the story takes place",
    "tone": "the story's tone",
    "notes": "the project's story notes",
    "style_rules": "the style guide's rules, else its description (locked guide, else the first)",
    "variation": "what this stage changes: New run's variation, else manifest variations.<stage>",
    "panel": "the panel's title",
    "script": "what happens in the panel",
    "shot": "the panel's shot, e.g. wide establishing shot",
    "camera": "the panel's camera, e.g. low angle, 35 mm",
    "cast": "the panel's cast: who, what never changes, outfit, pose, expression, notes",
    "composition": "keep the first image's composition (a job that starts from an image), "
    "else compose the panel from its script",
    "characters": "the panel's cast (the older name of {cast})",
    "scene": "the panel's title (the older name of {panel})",
}


def clause(label: str, value: str) -> str:
    """'Label: value.' with the value's own end punctuation kept once; '' for no value."""
    value = " ".join((value or "").split()).rstrip(" .;,")
    if not value:
        return ""
    end = "" if value[-1] in "!?" else "."
    return f"{label}{value}{end}"


def tidy(text: str) -> str:
    """One line, no doubled or dangling punctuation, no empty brackets."""
    text = " ".join(text.split())
    text = re.sub(r"\(\s*\)|\[\s*\]", "", text)
    text = re.sub(r":\s*,\s*", ": ", text)  # "Shot: , low angle" -> "Shot: low angle"
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    text = re.sub(r"([,;:])(?=[,.;:!?])", "", text)
    text = re.sub(r"([.!?])(?:\s*\.)+", r"\1", text)
    text = re.sub(r"([,;:])\s*$", "", text.strip())
    return " ".join(text.split())


def template_fields(template: str, source: str) -> list[str]:
    """The variable names a template uses; ConfigError for a broken one."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ConfigError(
            source, "", f"bad template ({exc}); write literal braces as {{{{ }}}}"
        ) from None


def check_template(template: str, known: list[str] | tuple[str, ...], source: str) -> None:
    """ConfigError unless every field is a plain {name} of a known variable."""
    for name in template_fields(template, source):
        if not name.isidentifier() or name not in known:
            raise ConfigError(
                source, "", f"unknown variable {{{name}}}; known: {', '.join(sorted(known))}"
            )
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is not None and (spec or conversion):
            # '{script:d}' would fail only when a run fills it, '{script!r}' adds quotes.
            raise ConfigError(source, "", f"write {{{name}}} without ':' or '!' after the name")


def render_prompt(template: str, variables: dict[str, str], source: str) -> str:
    """Fill a template; only plain {name} fields of known variables are allowed."""
    check_template(template, list(variables), source)
    kept = []
    for sentence in _SENTENCES.split(template.strip()):
        names = template_fields(sentence, source)
        if names and not any(str(variables[n]).strip() for n in names):
            continue  # every variable of this sentence is empty: leave the sentence out
        kept.append(sentence.format_map(variables))
    return tidy(" ".join(kept))


def cast_text(members: list[CastMember]) -> str:
    """The cast as sentences: who, what never changes, what they wear, pose and expression."""
    parts = []
    for member in members:
        character = member.character
        who = " ".join(
            p
            for p in (
                clause(f"{character.name}: ", character.description) or f"{character.name}.",
                clause("Never changes: ", character.continuity_notes),
                clause(
                    "Wears ",
                    f"{member.outfit.name}: {member.outfit.description}".rstrip(": ")
                    if member.outfit
                    else "",
                ),
                clause("Pose: ", member.pose),
                clause("Expression: ", member.expression),
                clause("", member.notes),
            )
            if p
        )
        parts.append(who)
    return " ".join(parts)


def active_template(project: Project, stage: str) -> PromptTemplate | None:
    """The project's template row a run of this stage uses (the newest active), if any."""
    return (
        PromptTemplate.objects.filter(project=project, stage=stage, is_active=True)
        .order_by("-updated_at")
        .first()
    )


def prompt_template(project: Project, stage: str, manifest: Manifest) -> tuple[str, str]:
    """The project's active template for the stage, else the manifest's: (text, source)."""
    row = active_template(project, stage)
    if row is not None:
        return row.template, f"prompt template '{row.name}' ({stage})"
    return manifest[f"prompts.{stage}"], f"manifest prompts.{stage}"


def story_variables(
    project: Project, stage: str, manifest: Manifest, variation: str | None, guide: Any
) -> dict[str, str]:
    """The variables every panel of a run shares."""
    rules = ""
    if isinstance(guide, StyleGuide):
        rules = guide.rules or guide.description
    return {
        "project_name": project.name,
        "logline": project.logline,
        "setting": project.setting,
        "tone": project.tone,
        "notes": project.notes,
        "style_rules": " ".join(rules.split()),
        "variation": variation or manifest.data["variations"].get(stage, ""),
    }


def panel_variables(
    shared: dict[str, str],
    panel: Panel | None,
    key: str,
    members: list[CastMember],
    has_input: bool,
) -> dict[str, str]:
    """One panel's variables on top of the run's shared ones."""
    cast = cast_text(members)
    title = panel.title if panel else key
    return {
        **shared,
        "panel": title,
        "scene": title,
        "script": " ".join((panel.script if panel else "").split()),
        "shot": panel.shot if panel else "",
        "camera": panel.camera if panel else "",
        "cast": cast,
        "characters": cast,
        "composition": (
            "Keep the first image's composition, perspective and every object where it is."
            if has_input
            else "Compose the panel from its script."
        ),
    }


def panel_prompt(
    project: Project,
    stage: str,
    target: PanelTarget | None,
    template: str | None = None,
    variation: str | None = None,
    *,
    manifest: Manifest | None = None,
) -> str:
    """The prompt a run of `stage` would send for one panel now, as plan_run makes it.

    `template` replaces the stage's current one (the editor's unsaved text); with no target
    only the story fields are filled. ConfigError for an invalid template.
    """
    manifest = manifest or load_manifest(project)
    if template is None:
        template, source = prompt_template(project, stage, manifest)
    else:
        source = f"template ({stage})"
    # The guide plan_run's style check finds (resolve_style_refs), without checking its files.
    guide = locked_style_guide(project) or StyleGuide.objects.filter(project=project).first()
    shared = story_variables(project, stage, manifest, variation, guide)
    panel = target.panel if target else None
    members = cast_of([panel]).get(panel.pk, []) if panel else []
    start = stage_input(project, stage, target) if target else None
    key = target.key if target else ""
    variables = panel_variables(shared, panel, key, members, start is not None)
    return render_prompt(template, variables, source)
