"""Prompts from the story: every story field reaches the prompt, joined without doubled
punctuation, and a sentence whose variables are all empty is left out."""

from __future__ import annotations

import pytest

from pipeline.services.plan import plan_run
from pipeline.services.prompts import clause, render_prompt, tidy
from projects.models import Character, ReferenceSet, ReferenceSetItem, StyleGuide
from projects.services.characters import add_outfit
from projects.services.story import set_cast, update_panel

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Freckles.. and more", "Freckles. and more"),
        ("Shot: , low angle.", "Shot: low angle."),
        ("Shot: wide, .", "Shot: wide."),
        ("Cast:  .  Tone: dark.", "Cast. Tone: dark."),
        ("Really?.", "Really?"),
        ("(  ) Panel one .", "Panel one."),
    ],
)
def test_tidy_never_leaves_doubled_or_dangling_punctuation(text, expected):
    assert tidy(text) == expected


def test_clause_keeps_a_values_own_end_once():
    assert clause("Notes: ", "Freckles.") == "Notes: Freckles."
    assert clause("Notes: ", "Freckles") == "Notes: Freckles."
    assert clause("Notes: ", "Why?") == "Notes: Why?"
    assert clause("Notes: ", "  ") == ""


def test_a_sentence_with_only_empty_variables_is_left_out():
    template = "Draw {panel}. Tone: {tone}. Style rules: {style_rules}"
    filled = render_prompt(template, {"panel": "the pier", "tone": "", "style_rules": ""}, "t")
    assert filled == "Draw the pier."
    assert "Style rules:" not in filled


def test_every_story_field_and_only_the_panels_cast_reach_the_prompt(scene_project):
    scene_project.logline = "A city that never dries."
    scene_project.setting = "Drowned harbour, 1920s."
    scene_project.tone = "ink noir"
    scene_project.save()
    guide = StyleGuide.objects.get(project=scene_project)
    guide.rules = "Heavy blacks."
    guide.save()
    mara = Character.objects.create(
        project=scene_project,
        slug="mara",
        name="Mara",
        description="Smuggler, quick.",
        continuity_notes="Freckles.",
    )
    Character.objects.create(project=scene_project, slug="ivo", name="Ivo", description="tall")
    coat = add_outfit(character=mara, actor=None, name="Red coat", description="knee-length.")
    harbor = scene_project.panels.get(key="harbor")
    update_panel(
        panel=harbor,
        actor=None,
        script="Mara waits by the crane.",
        shot="wide",
        camera="low angle",
    )
    set_cast(
        panel=harbor,
        actor=None,
        entries=[{"character": mara, "outfit": coat, "pose": "leaning", "expression": "wary."}],
    )
    plan = plan_run(project=scene_project, stage="style", provider="local")
    prompt = plan.jobs[0].prompt
    for part in (
        "Panel: Mara waits by the crane.",
        "Shot: wide, low angle.",
        "Mara: Smuggler, quick. Never changes: Freckles. Wears Red coat: knee-length.",
        "Pose: leaning. Expression: wary.",
        "Setting: Drowned harbour, 1920s.",
        "Tone: ink noir.",
        "Style rules: Heavy blacks.",
        "Keep the first image's composition",
    ):
        assert part in prompt, (part, prompt)
    assert "Ivo" not in prompt and ".." not in prompt
    # A panel with no script, shot or cast says nothing about them.
    alley = plan.jobs[1].prompt
    assert "Panel:" not in alley and "Shot:" not in alley and "Cast:" not in alley


def test_a_panel_without_a_base_image_is_drawn_from_its_script_with_its_cast_sheets(
    scene_project, make_png
):
    from projects.services.assets import store_image

    mara = Character.objects.create(project=scene_project, slug="mara", name="Mara")
    Character.objects.create(project=scene_project, slug="ivo", name="Ivo")
    sheets = ReferenceSet.objects.create(
        project=scene_project, slug="mara-refs", name="Mara", kind="character", character=mara
    )
    sheet = store_image(
        project=scene_project, data=make_png(40, 40), kind="character_ref", name="m.png"
    )
    ReferenceSetItem.objects.create(reference_set=sheets, asset=sheet)
    panel = scene_project.panels.get(key="alley")
    update_panel(panel=panel, actor=None, base_asset=None, script="Mara runs.", aspect="portrait")
    set_cast(panel=panel, actor=None, entries=[{"character": mara}])
    plan = plan_run(project=scene_project, stage="style", provider="local", panels=["alley"])
    job = plan.jobs[0]
    assert job.input is None and job.size == "1024x1536"
    assert "Compose the panel from its script." in job.prompt
    assert [r.path for r in job.references if r.source.startswith("character_ref")] == [sheet.path]
