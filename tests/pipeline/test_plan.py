"""plan_run and its guards: every refusal happens before a provider is called."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest

from pipeline.config import ConfigError, load_manifest
from pipeline.errors import GuardError
from pipeline.models import Run
from pipeline.services.plan import plan_run
from pipeline.services.runs import submit_run
from projects.models import Asset, Character, PromptTemplate, StyleGuide
from tests.conftest import FAST_RETRIES

pytestmark = pytest.mark.django_db


def test_plan_style_stage_has_a_job_per_scene_with_prompt_and_estimate(scene_project):
    scene_project.panels.update(aspect="landscape")  # what 96x64 base images are
    plan = plan_run(project=scene_project, stage="style", candidates=3)
    assert [job.scene_key for job in plan.jobs] == ["harbor", "alley", "rooftop"]
    assert "Ink lines." in plan.jobs[0].prompt
    assert len(plan.style_refs) == 2
    # Landscape panels: 1536x1024 is their request size.
    assert {job.size for job in plan.jobs} == {"1536x1024"}
    # 3 x $0.063 (medium 1536x1024) + prompt tokens + 3 input images at high fidelity.
    prompt_tokens = len(plan.jobs[0].prompt) / 4
    expected = 3 * 0.063 + (prompt_tokens * 5.0 + 3 * 6240 * 10.0) / 1e6
    assert plan.jobs[0].estimate_usd == Decimal(str(expected)).quantize(Decimal("0.0001"))
    assert plan.estimate_usd == sum(job.estimate_usd for job in plan.jobs)


def test_dry_run_writes_rows_and_a_log_and_calls_no_provider(scene_project, fake_openai, user):
    run = submit_run(project=scene_project, user=user, stage="style", mode="dry")
    assert (run.mode, run.status) == ("dry", "planned")
    assert run.jobs.count() == 3
    assert run.log_path == f"runs/{run.uid}/run.json"
    assert fake_openai.calls == []


def test_run_without_confirm_spend_is_refused(scene_project, fake_openai, user):
    with pytest.raises(GuardError, match=r"would cost about \$\d\.\d\d .*Confirm the spend"):
        submit_run(project=scene_project, user=user, stage="style", mode="run")
    assert Run.objects.count() == 0
    assert fake_openai.calls == []


def test_local_provider_costs_nothing_and_needs_no_confirmation(scene_project, user):
    plan = plan_run(project=scene_project, stage="style", mode="run", provider="local")
    assert plan.estimate_usd == 0 and plan.model == "local"


def test_too_many_candidates_is_refused(scene_project, fake_openai):
    with pytest.raises(GuardError, match=r"7 candidates requested; generation\.max_candidates"):
        plan_run(project=scene_project, stage="style", candidates=7)
    assert fake_openai.calls == []


def test_batch_over_the_safe_limit_is_refused(scene_project, fake_openai):
    scene_project.manifest_overrides = {**FAST_RETRIES, "safe_batch_limit": 2}
    with pytest.raises(GuardError, match=r"3 panels exceed safe_batch_limit \(2\)"):
        plan_run(project=scene_project, stage="style")
    assert fake_openai.calls == []


def test_unknown_panel_lists_the_known_ones(scene_project):
    with pytest.raises(GuardError, match=r"Unknown panel.*nope.*harbor, alley, rooftop"):
        plan_run(project=scene_project, stage="style", panels=["nope"])


def test_panel_selection_runs_in_story_order_by_key_or_id(scene_project):
    plan = plan_run(project=scene_project, stage="style", panels=["rooftop", "harbor"])
    assert [j.scene_key for j in plan.jobs] == ["harbor", "rooftop"]
    alley = scene_project.panels.get(key="alley")
    plan = plan_run(project=scene_project, stage="style", panels=[str(alley.pk)])
    assert [(j.scene_key, j.panel_id) for j in plan.jobs] == [("alley", alley.pk)]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../other/ink.png", "contains '..'"),
        ("assets/style_ref/../scene_ref/x.png", "contains '..'"),
        ("/etc/passwd", "is not a relative path"),
        ("C:/style.png", "is not a relative path"),
        ("assets/scene_ref/x.png", "outside policy.allowed_style_roots"),
        ("assets/style_ref/missing.png", "does not exist"),
    ],
)
def test_style_refs_outside_allowed_roots_are_refused(scene_project, fake_openai, path, message):
    scene_project.manifest_overrides = {**FAST_RETRIES, "style_refs": [path]}
    # Saved overrides refuse a path leaving the project (ConfigError); planning checks again.
    with pytest.raises((GuardError, ConfigError), match=message):
        plan_run(project=scene_project, stage="style")
    assert fake_openai.calls == []


def test_style_ref_symlink_leading_out_is_refused(scene_project, settings, tmp_path):
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"x")
    link_dir = settings.PROJECTS_ROOT / scene_project.slug / "assets" / "style_ref"
    os.symlink(outside, link_dir / "sneaky.png")
    scene_project.manifest_overrides = {
        **FAST_RETRIES,
        "style_refs": ["assets/style_ref/sneaky.png"],
    }
    with pytest.raises(GuardError, match="link that leads outside"):
        plan_run(project=scene_project, stage="style")


def test_explicit_style_ref_inside_allowed_root_is_accepted(scene_project):
    path = Asset.objects.filter(project=scene_project, kind="style_ref").first().path
    scene_project.manifest_overrides = {**FAST_RETRIES, "style_refs": [path]}
    plan = plan_run(project=scene_project, stage="style")
    assert [r.path for r in plan.style_refs] == [path]


def test_characters_stage_before_style_lock_is_refused(scene_project, fake_openai):
    with pytest.raises(GuardError, match="needs a locked style"):
        plan_run(project=scene_project, stage="characters")
    assert fake_openai.calls == []


def test_characters_stage_places_only_each_panels_cast(scene_project):
    from projects.services.story import set_cast

    guide = StyleGuide.objects.get(project=scene_project)
    guide.status = StyleGuide.Status.LOCKED
    guide.save()
    mara = Character.objects.create(
        project=scene_project, slug="mara", name="Mara", continuity_notes="copper hair."
    )
    Character.objects.create(project=scene_project, slug="ivo", name="Ivo", description="tall")
    set_cast(panel=scene_project.panels.get(key="alley"), actor=None, entries=[{"character": mara}])
    plan = plan_run(project=scene_project, stage="characters")
    # Panels without a cast are left out (with a warning), never given everybody.
    assert [j.scene_key for j in plan.jobs] == ["alley"]
    assert any(w.startswith("Left out (no cast): harbor, rooftop.") for w in plan.warnings)
    assert "Never changes: copper hair." in plan.jobs[0].prompt
    assert "Ivo" not in plan.jobs[0].prompt and "hair.." not in plan.jobs[0].prompt
    plan = plan_run(project=scene_project, stage="characters", panels=["harbor", "alley"])
    assert [j.scene_key for j in plan.jobs] == ["alley"]
    with pytest.raises(GuardError, match="No panel of this run has a cast yet"):
        plan_run(project=scene_project, stage="characters", panels=["harbor"])


def test_prompt_template_row_overrides_the_manifest_prompt(scene_project):
    PromptTemplate.objects.create(
        project=scene_project, stage="time", name="noir", template="Noir {variation} for {scene}"
    )
    plan = plan_run(project=scene_project, stage="time", variation="midnight")
    assert plan.jobs[1].prompt == "Noir midnight for alley"


def test_prompt_template_with_unknown_variable_is_a_clear_error(scene_project):
    PromptTemplate.objects.create(
        project=scene_project, stage="time", name="bad", template="At {hour}"
    )
    with pytest.raises(
        ConfigError, match=r"prompt template 'bad' \(time\): unknown variable \{hour\}"
    ):
        plan_run(project=scene_project, stage="time")


def test_project_without_panels_says_how_to_add_them(project, make_png):
    from projects.services.assets import store_image

    guide = StyleGuide.objects.create(project=project, slug="g", name="G")
    asset = store_image(project=project, data=make_png(), kind="style_ref", name="s.png")
    guide.references.create(asset=asset)
    with pytest.raises(GuardError, match="no panels yet: paste a script"):
        plan_run(project=project, stage="style")


def test_prompt_template_attribute_lookup_is_refused_clearly(scene_project):
    PromptTemplate.objects.create(
        project=scene_project, stage="time", name="attr", template="At {scene.upper}"
    )
    with pytest.raises(ConfigError, match=r"unknown variable \{scene\.upper\}"):
        plan_run(project=scene_project, stage="time")


def test_templates_are_offered_exactly_the_variables_planning_fills(scene_project):
    from pipeline.services.prompts import panel_variables, story_variables
    from projects.models import PROMPT_VARIABLES, PromptTemplate

    manifest = load_manifest(scene_project)
    shared = story_variables(scene_project, "style", manifest, None, None)
    filled = panel_variables(shared, scene_project.panels.first(), "harbor", [], True)
    assert set(filled) == set(PROMPT_VARIABLES)
    help_text = PromptTemplate._meta.get_field("template").help_text
    assert all(f"{{{name}}}" in help_text for name in PROMPT_VARIABLES)
    assert "{scene_name}" not in help_text


@pytest.mark.parametrize(
    ("scene_ref", "message"),
    [
        (".", "is a folder"),
        ("assets", "is a folder"),
        ("assets/scene_ref/host.png", "link that leads outside the project"),
        ("notes.txt", "is not an image"),
        ("../x.png", "contains '..'"),
    ],
)
def test_scene_refs_get_the_same_checks_as_style_refs(scene_project, settings, scene_ref, message):
    root = settings.PROJECTS_ROOT / scene_project.slug
    os.symlink("/etc/hostname", root / "assets" / "scene_ref" / "host.png")
    (root / "notes.txt").write_text("not a picture")
    scene_project.manifest_overrides = {**FAST_RETRIES, "scene_refs": [scene_ref]}
    with pytest.raises((GuardError, ConfigError), match=message):
        plan_run(project=scene_project, stage="style", provider="local")
