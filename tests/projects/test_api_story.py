"""The JSON API of the story: chapters, pages, panels and their cast (projects/api_story.py)."""

from __future__ import annotations

import pytest

from projects.models import Asset, AuditEvent, CastMember, Chapter, Page, Panel
from projects.services.assets import store_image
from projects.services.characters import add_outfit, create_character
from projects.services.tokens import create_token
from tests.projects.api_client import Api, error_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, user, project) -> Api:
    return Api(client, create_token(user=user, name="w", scopes=["write"]).plaintext, project.slug)


@pytest.fixture
def image(project, make_png) -> Asset:
    return store_image(project=project, data=make_png(), kind=Asset.Kind.CHARACTER_REF, name="a")


def test_chapter_and_page_crud(api, project):
    chapter = api.post("/chapters", {"title": "Rain"})
    assert chapter.status_code == 201 and chapter.json()["position"] == 1
    chapter_id = chapter.json()["id"]
    assert api.patch(f"/chapters/{chapter_id}", {"title": "Storm"}).json()["title"] == "Storm"
    page = api.post("/pages", {"chapter": chapter_id, "title": "Dock", "layout": "tiers3"})
    assert page.status_code == 201
    assert (page.json()["chapter"], page.json()["layout"]) == (chapter_id, "tiers3")
    page_id = page.json()["id"]
    bad_layout = api.patch(f"/pages/{page_id}", {"layout": "collage"})
    assert bad_layout.status_code == 422 and error_of(bad_layout)["field"] == "layout"
    second = api.post("/chapters", {}).json()["id"]
    moved = api.patch(f"/pages/{page_id}", {"chapter": second, "title": "Pier"})
    assert (moved.json()["chapter"], moved.json()["title"]) == (second, "Pier")
    assert [p["id"] for p in api.get(f"/pages?chapter={second}").json()["items"]] == [page_id]
    api.post("/panels", {"title": "Boat", "page": page_id})
    full = api.delete(f"/pages/{page_id}")
    assert full.status_code == 409 and error_of(full)["code"] == "not_empty"
    assert api.delete(f"/chapters/{second}").status_code == 409
    Panel.objects.all().delete()
    assert api.delete(f"/pages/{page_id}").status_code == 204
    assert api.delete(f"/chapters/{chapter_id}").status_code == 204
    assert list(Chapter.objects.values_list("pk", flat=True)) == [second]
    assert not Page.objects.exists()


def test_panel_crud_with_its_cast(api, user, project, image):
    mara = create_character(project=project, actor=user, name="Mara")
    coat = add_outfit(character=mara, actor=user, name="Coat")
    create_character(project=project, actor=user, name="Ivo")
    cast = [
        {"character": "mara", "outfit": "Coat", "pose": "leaning", "notes": "wet"},
        {"character": "ivo", "expression": "afraid"},
    ]
    body = {"title": "The dock", "script": "Mara waits.", "shot": "wide", "cast": cast}
    made = api.post("/panels", {**body, "aspect": "landscape", "camera": "low angle"})
    assert made.status_code == 201
    panel = made.json()
    assert (panel["key"], panel["aspect"], panel["camera"]) == (
        "the-dock",
        "landscape",
        "low angle",
    )
    assert [(c["character"], c["outfit"], c["outfit_id"]) for c in panel["cast"]] == [
        ("mara", "Coat", coat.pk),
        ("ivo", None, None),
    ]
    assert panel["cast"][0]["pose"] == "leaning" and panel["cast"][1]["expression"] == "afraid"
    assert panel["page"] == Page.objects.get().pk and panel["chapter"] == Chapter.objects.get().pk

    second = api.post("/panels", {"title": "Ship", "key": "ship", "base_asset": image.pk}).json()
    assert second["base_asset"] == image.pk and second["position"] == 2
    first = api.patch(f"/panels/{second['id']}", {"position": 1, "cast": [{"character": "ivo"}]})
    assert first.json()["position"] == 1 and [c["character"] for c in first.json()["cast"]] == [
        "ivo"
    ]
    cleared = api.patch(f"/panels/{second['id']}", {"base_asset": None, "script": "Fog."})
    assert cleared.json()["base_asset"] is None and cleared.json()["script"] == "Fog."
    listed = api.get("/panels").json()
    assert [p["key"] for p in listed["items"]] == ["ship", "the-dock"] and listed["total"] == 2
    chapter = api.post("/chapters", {"title": "Two"}).json()["id"]
    elsewhere = api.patch(f"/panels/{panel['id']}", {"chapter": chapter})
    assert elsewhere.json()["chapter"] == chapter and elsewhere.json()["page"] != panel["page"]
    assert api.get(f"/panels?chapter={chapter}").json()["total"] == 1
    api.post("/pages", {"chapter": chapter})
    stays = api.patch(f"/panels/{panel['id']}", {"chapter": chapter, "title": "Dock"})
    assert stays.json()["page"] == elsewhere.json()["page"]  # already in that chapter
    mixed = api.patch(f"/panels/{panel['id']}", {"chapter": chapter, "page": panel["page"]})
    assert mixed.status_code == 400 and error_of(mixed)["field"] == "chapter"
    assert api.delete(f"/panels/{panel['id']}").status_code == 204
    assert list(Panel.objects.values_list("key", flat=True)) == ["ship"]
    assert api.get(f"/panels/{panel['id']}").status_code == 404
    assert {"story.panel_added", "story.cast_changed", "story.panel_moved"} <= set(
        AuditEvent.objects.values_list("action", flat=True)
    )


def test_a_bad_cast_writes_no_panel(api, user, project):
    create_character(project=project, actor=user, name="Mara")
    nobody = api.post(
        "/panels", {"title": "X", "cast": [{"character": "mara"}, {"character": "z"}]}
    )
    assert nobody.status_code == 400 and error_of(nobody)["field"] == "cast[1].character"
    twice = api.post("/panels", {"title": "X", "cast": [{"character": "mara"}] * 2})
    assert twice.status_code == 400 and error_of(twice)["field"] == "cast.1.character"
    no_outfit = api.post("/panels", {"title": "X", "cast": [{"character": "mara", "outfit": "9"}]})
    assert no_outfit.status_code == 400 and error_of(no_outfit)["field"] == "cast[0].outfit"
    extra = api.post("/panels", {"title": "X", "cast": [{"character": "mara", "hat": "red"}]})
    assert extra.status_code == 422 and error_of(extra)["field"] == "cast[0].hat"
    assert not Panel.objects.exists() and not CastMember.objects.exists()


def test_panel_bodies_name_rows_of_this_project_only(api, other_project):
    their_page = Page.objects.create(
        project=other_project, chapter=Chapter.objects.create(project=other_project)
    )
    response = api.post("/panels", {"title": "X", "page": their_page.pk})
    assert response.status_code == 400 and error_of(response)["field"] == "page"
    assert not Panel.objects.filter(title="X").exists()
