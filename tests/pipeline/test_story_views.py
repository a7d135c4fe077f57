"""The Story page and the panel page: paste, add, move, delete, edit script/cast/base image."""

from __future__ import annotations

import pytest
from django.urls import reverse

from projects.models import AuditEvent, Panel
from projects.services.characters import add_outfit, create_character
from projects.services.story import panels_from_script

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _url(name, *args):
    return reverse(f"pipeline:{name}", args=["noir_city", *args])


def test_story_page_shows_chapters_pages_panels_with_cast_and_picks(artist_client, scene_project):
    mara = create_character(project=scene_project, actor=None, name="Mara")
    panels_from_script(project=scene_project, actor=None, text="PANEL 1: Mara on the pier.")
    body = artist_client.get(_url("story")).content.decode()
    assert "Chapter 1" in body and "Page 1" in body
    assert "harbor" in body and "Mara on the pier." in body
    assert f">{mara.name}</li>" in body
    assert 'aria-label="Picks per stage"' in body
    partial = artist_client.get(_url("story"), **HX).content.decode()
    assert partial.lstrip().startswith('<div id="story"') and "<html" not in partial


def test_other_users_story_and_panels_are_404(client, other_user, scene_project):
    client.force_login(other_user)
    panel = scene_project.panels.first()
    assert client.get(_url("story")).status_code == 404
    assert client.get(_url("panel", panel.pk)).status_code == 404
    assert client.post(_url("panel_delete", panel.pk)).status_code == 404
    assert client.post(_url("panel_move", panel.pk), {"direction": "up"}).status_code == 404
    assert Panel.objects.filter(pk=panel.pk).exists()


def test_anonymous_is_sent_to_login(client, scene_project):
    response = client.get(_url("story"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_pasting_a_script_adds_panels_and_an_empty_one_is_a_400(artist_client, project):
    script = "PANEL 1: One.\nPANEL 2: Two.\nPANEL 3: Three.\nPANEL 4: Four.\nPANEL 5: Five."
    response = artist_client.post(_url("story_paste"), {"script": script})
    assert response.status_code == 302
    assert list(project.panels.values_list("script", flat=True)) == [
        "One.",
        "Two.",
        "Three.",
        "Four.",
        "Five.",
    ]
    response = artist_client.post(_url("story_paste"), {"script": "   "})
    assert response.status_code == 400
    assert "No panels found" in response.content.decode() or "required" in response.content.decode()
    assert project.panels.count() == 5


def test_move_buttons_reorder_and_the_partial_comes_back(artist_client, scene_project):
    rooftop = scene_project.panels.get(key="rooftop")
    response = artist_client.post(_url("panel_move", rooftop.pk), {"direction": "up"}, **HX)
    assert response.status_code == 200 and 'id="story"' in response.content.decode()
    order = list(scene_project.panels.order_by("position").values_list("key", flat=True))
    assert order == ["harbor", "rooftop", "alley"]
    response = artist_client.post(_url("panel_move", rooftop.pk), {"direction": "sideways"})
    assert response.status_code == 400


def test_delete_keeps_the_images_and_audits(artist_client, scene_project):
    alley = scene_project.panels.get(key="alley")
    response = artist_client.post(_url("panel_delete", alley.pk))
    assert response.status_code == 302
    assert not Panel.objects.filter(pk=alley.pk).exists()
    assert scene_project.assets.filter(pk=alley.base_asset_id).exists()
    assert AuditEvent.objects.filter(action="story.panel_deleted", target="alley").exists()


def test_panel_page_saves_script_aspect_cast_and_a_new_base_image(
    artist_client, scene_project, make_png
):
    mara = create_character(project=scene_project, actor=None, name="Mara")
    coat = add_outfit(character=mara, actor=None, name="Red coat")
    create_character(project=scene_project, actor=None, name="Ivo")
    panel = scene_project.panels.get(key="harbor")
    page = artist_client.get(_url("panel", panel.pk)).content.decode()
    assert "Mara" in page and "Ivo" in page and "Red coat" in page
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {
        "title": "Harbour, dusk",
        "script": "Mara waits by the crane.",
        "shot": "wide",
        "camera": "low angle",
        "aspect": "portrait",
        f"c{mara.pk}_in": "on",
        f"c{mara.pk}_outfit": str(coat.pk),
        f"c{mara.pk}_pose": "leaning on the rail",
        "base_image": SimpleUploadedFile("sketch.png", make_png(300, 500), "image/png"),
    }
    response = artist_client.post(_url("panel", panel.pk), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    panel.refresh_from_db()
    assert (panel.title, panel.script, panel.aspect, panel.size) == (
        "Harbour, dusk",
        "Mara waits by the crane.",
        "portrait",
        "1024x1536",
    )
    assert panel.base_asset.metadata["original_name"] == "sketch.png"
    assert [(m.character.name, m.outfit, m.pose) for m in panel.cast.all()] == [
        ("Mara", coat, "leaning on the rail")
    ]


def test_panel_page_errors_stay_at_the_field_and_nothing_is_saved(artist_client, scene_project):
    panel = scene_project.panels.get(key="harbor")
    response = artist_client.post(
        _url("panel", panel.pk), {"title": "", "aspect": "huge", "script": "kept text"}
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "kept text" in body and "This field is required." in body
    assert "Select a valid choice" in body
    panel.refresh_from_db()
    assert panel.title == "harbor" and panel.script == ""


def test_a_bad_base_image_is_reported_at_its_field(artist_client, scene_project):
    from django.core.files.uploadedfile import SimpleUploadedFile

    panel = scene_project.panels.get(key="harbor")
    response = artist_client.post(
        _url("panel", panel.pk),
        {
            "title": "harbor",
            "aspect": "square",
            "base_image": SimpleUploadedFile("notes.png", b"not an image", "image/png"),
        },
    )
    assert response.status_code == 400
    assert "notes.png" in response.content.decode()


def test_new_run_ticks_the_panel_it_was_opened_for(artist_client, scene_project):
    body = artist_client.get(_url("run_new") + "?panels=alley").content.decode()
    assert 'value="alley"' in body
    checked = body.split('value="alley"')[1].split(">")[0]
    assert "checked" in checked


def test_build_on_a_candidate_plans_the_panel_from_it(artist_client, scene_project, user):
    from pipeline.models import Run, RunCandidate
    from tests.conftest import local_run

    first = local_run(scene_project, user, panels=["alley"], candidates=2)
    run_page = artist_client.get(reverse("pipeline:run_detail", args=["noir_city", first.uid]))
    chosen = RunCandidate.objects.filter(job__run=first).order_by("index").last()
    link = f"?panels=alley&amp;from={chosen.pk}"
    assert link in run_page.content.decode()
    form = artist_client.get(_url("run_new") + f"?panels=alley&from={chosen.pk}").content.decode()
    assert f'value="{chosen.pk}"' in form and "Builds on candidate" in form
    response = artist_client.post(
        _url("run_new"),
        {
            "stage": "time",
            "panels": ["alley"],
            "candidates": 1,
            "provider": "local",
            "from_candidate": chosen.pk,
        },
    )
    assert response.status_code == 302
    job = Run.objects.get(mode="dry").jobs.get()
    assert (job.input_asset_id, job.input_source) == (
        chosen.asset_id,
        f"c{chosen.index} of style run {first.uid}",
    )


def test_a_panels_pick_per_stage_is_the_newest_real_runs_selection(scene_project, user):
    from pipeline.services.picks import panel_picks
    from tests.conftest import local_run

    older = local_run(scene_project, user, panels=["alley"], candidates=2)
    newer = local_run(scene_project, user, panels=["alley"], candidates=2)
    local_run(scene_project, user, panels=["alley"], mode="dry")  # a plan picks nothing
    alley, harbor = scene_project.panels.get(key="alley"), scene_project.panels.get(key="harbor")
    picks = panel_picks([alley, harbor])
    assert set(picks[alley.pk]) == {"style"} and picks[harbor.pk] == {}
    pick = picks[alley.pk]["style"]
    assert pick.job.run == newer and pick.selected
    assert older.jobs.get().candidates.filter(selected=True).exists()


def test_a_move_keeps_focus_on_the_moved_panel_and_says_where_it_went(artist_client, scene_project):
    alley = scene_project.panels.get(key="alley")
    body = artist_client.post(
        _url("panel_move", alley.pk), {"direction": "up"}, **HX
    ).content.decode()
    assert 'role="status" aria-live="polite">Moved “alley” to position 1 on Page 1.' in body
    harbor = scene_project.panels.get(key="harbor")  # now second of three
    body = artist_client.post(
        _url("panel_move", harbor.pk), {"direction": "down"}, **HX
    ).content.decode()
    up = body.split('aria-label="Move harbor up"')[0].rsplit("<button", 1)[1]
    # Last now: its "down" is off, so the focus goes to its "up" (never lost to the page).
    assert "autofocus" in up and body.count("autofocus") == 1


def test_an_empty_new_panel_title_is_reported_beside_its_own_form(artist_client, scene_project):
    page = scene_project.panels.first().page
    response = artist_client.post(_url("story_add"), {"what": "panel", "page": page.pk})
    assert response.status_code == 400
    body = response.content.decode()
    assert f'id="new-panel-{page.pk}-error" role="alert">Give the panel a title.' in body


def test_a_pasted_script_with_crlf_line_ends_is_read_as_lines(artist_client, project):
    script = "PANEL 1: Storm\r\nMara on the pier.\r\nPANEL 2: Gulls."
    assert artist_client.post(_url("story_paste"), {"script": script}).status_code == 302
    assert list(project.panels.values_list("title", "script")) == [
        ("Storm", "Mara on the pier."),
        ("Gulls.", "Gulls."),
    ]


def test_new_run_starts_from_the_projects_default_candidates(artist_client, scene_project):
    scene_project.manifest_overrides = {
        **scene_project.manifest_overrides,
        "generation": {**scene_project.manifest_overrides["generation"], "candidates": 2},
    }
    scene_project.save()
    body = artist_client.get(_url("run_new")).content.decode()
    field = body.split('name="candidates"')[1].split(">")[0]
    assert 'value="2"' in field and 'max="6"' in field


def test_a_cast_error_is_shown_in_that_characters_row(artist_client, scene_project):
    mara = create_character(project=scene_project, actor=None, name="Mara")
    panel = scene_project.panels.get(key="harbor")
    response = artist_client.post(
        _url("panel", panel.pk),
        {"title": "harbor", "aspect": "auto", f"c{mara.pk}_in": "on", f"c{mara.pk}_outfit": "999"},
    )
    assert response.status_code == 400
    assert "Mara · Outfit: Select a valid choice." in response.content.decode()
