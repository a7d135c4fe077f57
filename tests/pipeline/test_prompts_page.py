"""The template editor: /projects/<slug>/prompts/ (live preview, save, reset) and its service."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from kroma.lib.errors import UserError
from pipeline.config import load_manifest
from pipeline.services.plan import plan_run
from pipeline.services.prompt_templates import (
    preview_prompt,
    reset_template,
    save_template,
)
from pipeline.services.prompts import VARIABLE_HELP
from projects.models import (
    PROMPT_VARIABLES,
    AuditEvent,
    Character,
    Panel,
    PromptTemplate,
    Stage,
    StyleGuide,
)
from projects.services.security import lock_style_guide
from projects.services.story import set_cast
from tests import test_browser

pytestmark = pytest.mark.django_db
browser_page = test_browser.browser_page  # the suite's chromium fixture
HX = {"HTTP_HX_REQUEST": "true"}
KNOWN = ", ".join(sorted(PROMPT_VARIABLES))


def _url(name: str, slug: str = "noir_city") -> str:
    return reverse(f"pipeline:{name}", args=[slug])


def _cast_mara(project) -> Character:
    """The alley panel gets a script and Mara, whose notes end in '.'."""
    alley = Panel.objects.get(project=project, key="alley")
    alley.script = "Mara runs  through the rain"
    alley.save()
    mara = Character.objects.create(
        project=project, slug="mara", name="Mara", description="Copper hair."
    )
    set_cast(panel=alley, actor=None, entries=[{"character": mara, "notes": "Soaked."}])
    return mara


def _preview(client, stage: str, template: str, panel: str = "") -> str:
    response = client.post(
        _url("prompts_preview"), {"stage": stage, "template": template, "panel": panel}, **HX
    )
    assert response.status_code == 200
    return response.content.decode()


# --- preview -------------------------------------------------------------------------------------


def test_preview_renders_the_chosen_panels_script_and_cast_once_punctuated(
    artist_client, scene_project
):
    _cast_mara(scene_project)
    template = "Draw {panel}: {script}. Cast: {cast}."
    body = _preview(artist_client, "style", template, panel="alley")
    expected = "Draw alley: Mara runs through the rain. Cast: Mara: Copper hair. Soaked."
    assert f'<p class="prompt-text">{expected}</p>' in body
    assert ".." not in body
    assert "<html" not in body  # the partial alone
    # Another panel: its own script and cast (none), never Mara's; the empty sentence goes.
    body = _preview(artist_client, "style", template, panel="harbor")
    assert '<p class="prompt-text">Draw harbor.</p>' in body
    assert "Mara" not in body and "Cast:" not in body


def test_a_sentence_whose_variables_are_all_empty_is_left_out(artist_client, scene_project):
    StyleGuide.objects.filter(project=scene_project).update(rules="", description="")
    manifest = load_manifest(scene_project)
    body = _preview(artist_client, "style", manifest["prompts.style"], panel="harbor")
    assert "same line work, shading and palette.</p>" in body
    assert "Style rules" not in body


def test_unknown_variable_is_the_error_in_the_preview_and_nothing_is_saved(
    artist_client, scene_project
):
    body = _preview(artist_client, "time", "At {hour}, {variation}.", panel="alley")
    assert (
        f'<p class="prompt-error" role="alert">unknown variable {{hour}}; known: {KNOWN}</p>'
        in (body)
    )
    assert not PromptTemplate.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="prompt_template").exists()


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{script:d}", "write {script} without ':' or '!' after the name"),
        ("{script!r}", "write {script} without ':' or '!' after the name"),
        ("{script", "bad template"),
        ("   ", "The template is empty"),
    ],
)
def test_broken_templates_are_named_in_the_preview(artist_client, scene_project, template, error):
    assert escape(error) in _preview(artist_client, "style", template)


def test_preview_of_an_unknown_panel_lists_the_panels(artist_client, scene_project):
    body = _preview(artist_client, "style", "{script}", panel="nope")
    assert "Unknown panel &#x27;nope&#x27;; panels: harbor, alley, rooftop." in body


def test_characters_preview_says_a_panel_without_cast_is_left_out(artist_client, scene_project):
    _cast_mara(scene_project)
    note = "A characters run leaves this panel out: it has no cast."
    assert note in _preview(artist_client, "characters", "{cast}", panel="harbor")
    assert note not in _preview(artist_client, "characters", "{cast}", panel="alley")
    assert note not in _preview(artist_client, "style", "{cast}", panel="harbor")


def test_with_no_panels_the_preview_fills_the_story_fields_and_says_so(artist_client, project):
    project.logline = "Rain never stops"
    project.save()
    body = _preview(artist_client, "style", "{logline}. Now: {script}.")
    assert "no panels yet: the preview fills the story fields only." in body
    assert '<p class="prompt-text">Rain never stops.</p>' in body
    page = artist_client.get(_url("prompts")).content.decode()
    assert page.count("no panels yet: the preview fills the story fields only.") == 4
    assert "<select" not in page


@pytest.mark.parametrize("stage", Stage.values)
def test_the_preview_is_the_prompt_plan_run_makes(scene_project, stage):
    mara = _cast_mara(scene_project)
    lock_style_guide(guide=StyleGuide.objects.get(project=scene_project), user=None)
    for key in ("harbor", "rooftop"):
        set_cast(panel=scene_project.panels.get(key=key), actor=None, entries=[{"character": mara}])
    manifest = load_manifest(scene_project)
    plan = plan_run(project=scene_project, stage=stage)
    assert len(plan.jobs) == 3
    for job in plan.jobs:
        preview = preview_prompt(
            project=scene_project,
            stage=stage,
            template=manifest[f"prompts.{stage}"],
            panel_key=job.scene_key,
        )
        assert (preview.error, preview.text) == ("", job.prompt)


# --- save and reset ------------------------------------------------------------------------------


def test_save_refuses_an_unknown_variable_at_the_template_field(artist_client, scene_project):
    data = {"stage": "time", "template": "At {hour}.", "name": "noir", "panel": "alley"}
    response = artist_client.post(_url("prompts_save"), data, **HX)
    assert response.status_code == 400
    body = response.content.decode()
    error = (
        f'<div class="field-error" id="tpl-time-error">unknown variable {{hour}}; known: {KNOWN}'
    )
    assert error in body
    assert ">At {hour}.</textarea>" in body  # what was typed stays
    assert not PromptTemplate.objects.exists()
    with pytest.raises(UserError) as refused:
        save_template(project=scene_project, actor=None, stage="time", text="{hour}", name="n")
    assert (refused.value.field, refused.value.code) == ("template", "invalid_template")
    # A plain POST gets the whole page back, 400, with the error at the field.
    response = artist_client.post(_url("prompts_save"), data)
    assert response.status_code == 400
    assert error in response.content.decode() and 'id="prompts-style"' in response.content.decode()


def test_save_then_plan_run_uses_the_saved_template(artist_client, scene_project, user):
    data = {"stage": "time", "template": "Noir {variation} for {scene}.", "name": "noir"}
    response = artist_client.post(_url("prompts_save"), {**data, "panel": "alley"}, **HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Saved: Time / light runs use the template &#x27;noir&#x27;." in body
    assert "the project's template <strong>'noir'</strong>" in body
    assert '<p class="prompt-text">Noir late evening, warm lamplight for alley.</p>' in body
    plan = plan_run(project=scene_project, stage="time", variation="midnight")
    assert plan.jobs[1].prompt == "Noir midnight for alley."
    event = AuditEvent.objects.get(action="prompt_template.saved")
    assert (event.actor, event.target) == (user, "time/noir")
    assert event.data == {
        "stage": "time",
        "name": "noir",
        "created": True,
        "template": "Noir {variation} for {scene}.",
        "deactivated": [],
    }


def test_saving_another_name_makes_it_the_one_in_use(scene_project, user):
    save_template(project=scene_project, actor=user, stage="time", text="A {scene}", name="a")
    save_template(project=scene_project, actor=user, stage="time", text="B {scene}", name="b")
    rows = PromptTemplate.objects.filter(project=scene_project, stage="time").order_by("name")
    assert [(r.name, r.is_active) for r in rows] == [("a", False), ("b", True)]
    assert AuditEvent.objects.filter(action="prompt_template.saved").first().data[
        "deactivated"
    ] == ["a"]
    # The same text again changes nothing and writes nothing.
    save_template(project=scene_project, actor=user, stage="time", text="B {scene}", name="b")
    assert AuditEvent.objects.filter(action="prompt_template.saved").count() == 2


def test_plain_post_save_redirects_to_the_section(artist_client, scene_project):
    data = {"stage": "weather", "template": "Rain on {scene}.", "name": "rain"}
    response = artist_client.post(_url("prompts_save"), data)
    assert response.status_code == 302
    assert response["Location"] == _url("prompts") + "#prompts-weather"
    page = artist_client.get(response["Location"]).content.decode()
    assert "Saved: Weather runs use the template &#x27;rain&#x27;." in page


def test_reset_returns_to_the_manifest_default(artist_client, scene_project, user):
    save_template(project=scene_project, actor=user, stage="time", text="Noir {scene}", name="noir")
    response = artist_client.post(_url("prompts_reset"), {"stage": "time", "panel": "alley"}, **HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Reset: Time / light runs use the manifest default." in body
    assert "the <strong>manifest default</strong> (<code>prompts.time</code>)" in body
    assert PromptTemplate.objects.get(name="noir").is_active is False  # kept, not in use
    manifest = load_manifest(scene_project)
    expected = preview_prompt(
        project=scene_project, stage="time", template=manifest["prompts.time"], panel_key="alley"
    )
    assert plan_run(project=scene_project, stage="time").jobs[1].prompt == expected.text
    assert "Noir" not in expected.text
    event = AuditEvent.objects.get(action="prompt_template.reset")
    assert (event.actor, event.target, event.data) == (
        user,
        "time",
        {"stage": "time", "deactivated": ["noir"]},
    )
    # Already the default: nothing to write.
    assert reset_template(project=scene_project, actor=user, stage="time") == 0
    assert AuditEvent.objects.filter(action="prompt_template.reset").count() == 1


def test_a_tampered_stage_is_refused(artist_client, scene_project):
    for name in ("prompts_preview", "prompts_save", "prompts_reset"):
        response = artist_client.post(_url(name), {"stage": "hour", "template": "x"}, **HX)
        assert response.status_code == 400
    with pytest.raises(UserError) as refused:
        reset_template(project=scene_project, actor=None, stage="hour")
    assert refused.value.field == "stage"
    assert not AuditEvent.objects.filter(action__startswith="prompt_template").exists()


# --- the page ------------------------------------------------------------------------------------


def test_page_has_a_section_per_stage_with_every_variable_and_the_tab(artist_client, scene_project):
    assert set(VARIABLE_HELP) == set(PROMPT_VARIABLES)
    response = artist_client.get(_url("prompts"))
    assert response.status_code == 200
    body = response.content.decode()
    for stage in Stage.values:
        assert f'id="prompts-{stage}"' in body
        assert f'hx-target="#preview-{stage}"' in body
    assert body.count('hx-trigger="input changed delay:300ms, change"') == 4
    for name in PROMPT_VARIABLES:
        assert body.count(f'data-insert-variable="{{{name}}}"') == 4
    assert f'href="{_url("prompts")}" aria-current="page">Prompts</a>' in body
    assert "<script>" not in body and "style=" not in body


def test_page_queries_do_not_grow_with_the_panels(artist_client, scene_project):
    with CaptureQueriesContext(connection) as three:
        artist_client.get(_url("prompts"))
    Panel.objects.filter(project=scene_project).exclude(key="harbor").delete()
    with CaptureQueriesContext(connection) as one:
        artist_client.get(_url("prompts"))
    assert len(three) == len(one)


def test_another_users_project_is_404_and_untouched(artist_client, other_project):
    slug = other_project.slug
    assert artist_client.get(_url("prompts", slug)).status_code == 404
    data = {"stage": "time", "template": "Noir {scene}", "name": "noir"}
    for name in ("prompts_preview", "prompts_save", "prompts_reset"):
        assert artist_client.post(_url(name, slug), data, **HX).status_code == 404
    assert not PromptTemplate.objects.exists()


def test_anonymous_is_sent_to_login(client, project):
    response = client.get(_url("prompts"))
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    data = {"stage": "time", "template": "Noir {scene}", "name": "noir"}
    for name in ("prompts_preview", "prompts_save", "prompts_reset"):
        response = client.post(_url(name), data, **HX)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert not PromptTemplate.objects.exists()


# --- in a browser --------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_prompts_page_in_the_browser_at_three_widths(
    live_server, browser_page, scene_project, tmp_path
):
    """Type, insert a variable, see the preview follow, save; screenshots at 1440, 768 and 390 px
    (in $KROMA_SCREENSHOT_DIR when set); no sideways scroll and no CSP violation."""
    from playwright.sync_api import expect

    shots = Path(os.environ.get("KROMA_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    _cast_mara(scene_project)
    page = browser_page
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text else 0)
    page.set_viewport_size({"width": 1440, "height": 900})
    test_browser._login(page, live_server)
    page.goto(f"{live_server.url}{_url('prompts')}")
    section = page.locator("#prompts-time")
    area = section.locator("textarea[name=template]")
    preview = section.locator(".prompt-preview")
    # Typing an unknown variable: the preview names it, nothing is saved.
    area.fill("At {hour}, {variation}.")
    expect(preview.locator(".prompt-error")).to_contain_text("unknown variable {hour}; known:")
    # caret="initial": hiding the caret would make Playwright inject a <style>, which the CSP
    # blocks (and reports as a violation).
    page.screenshot(path=str(shots / "prompts-error-1440.png"), full_page=True, caret="initial")
    # A valid template for the chosen panel, then a variable inserted at the end by a click.
    area.fill("Cast: {cast}. Light: ")
    section.locator("select[name=panel]").select_option("alley")
    # "Light: " with nothing after it loses its dangling colon.
    expect(preview.locator(".prompt-text")).to_have_text("Cast: Mara: Copper hair. Soaked. Light")
    area.press("End")
    section.get_by_role("button", name="Insert {variation}").click()
    expect(area).to_have_value("Cast: {cast}. Light: {variation}")
    expect(preview.locator(".prompt-text")).to_have_text(
        "Cast: Mara: Copper hair. Soaked. Light: late evening, warm lamplight"
    )
    assert not PromptTemplate.objects.exists()
    section.locator("input[name=name]").fill("noir")
    section.get_by_role("button", name="Save").click()
    expect(page.locator("#prompts-time .saved-note")).to_contain_text("use the template 'noir'")
    expect(page.locator("#prompts-time .prompt-source")).to_contain_text("template 'noir'")
    assert PromptTemplate.objects.get(stage="time").template == "Cast: {cast}. Light: {variation}"
    page.goto(f"{live_server.url}{_url('prompts')}")
    for width in (1440, 768, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_load_state("networkidle")
        sideways = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert sideways <= 0, f"{width} px: {sideways} px of sideways scroll"
        page.screenshot(path=str(shots / f"prompts-{width}.png"), full_page=True, caret="initial")
    page.locator("#prompts-time").get_by_role(
        "button", name="Reset to the manifest default"
    ).click()
    expect(page.locator("#prompts-time .saved-note")).to_contain_text("manifest default")
    assert not PromptTemplate.objects.filter(is_active=True).exists()
    assert violations == []
