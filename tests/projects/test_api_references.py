"""The JSON API of reference sets and their items (projects/api_references.py)."""

from __future__ import annotations

import pytest

from projects.models import Asset, ReferenceSet
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


def test_reference_set_and_item_crud(api, user, project, image):
    mara = create_character(project=project, actor=user, name="Mara")
    coat = add_outfit(character=mara, actor=user, name="Coat")
    body = {"slug": "mara-coat", "name": "Mara in her coat", "kind": "character"}
    made = api.post("/reference-sets", {**body, "character": "mara", "outfit": "Coat"})
    assert made.status_code == 201
    assert (made.json()["character"], made.json()["outfit"]) == ("mara", coat.pk)
    set_id = made.json()["id"]
    no_character = api.post("/reference-sets", {**body, "slug": "other"})
    assert no_character.status_code == 400 and error_of(no_character)["field"] == "character"
    taken = api.post("/reference-sets", {**body, "character": "mara"})
    assert taken.status_code == 409 and error_of(taken)["field"] == "slug"
    changed = api.patch(f"/reference-sets/{set_id}", {"description": "Rainy nights."})
    assert changed.json()["description"] == "Rainy nights."
    assert api.get("/reference-sets").json()["total"] == 1

    item = api.post(f"/reference-sets/{set_id}/items", {"asset": image.pk, "notes": "front"})
    assert item.status_code == 201 and item.json()["asset"] == image.pk
    item_id = item.json()["id"]
    twice = api.post(f"/reference-sets/{set_id}/items", {"asset": image.pk})
    assert twice.status_code == 409
    moved = api.patch(f"/reference-sets/{set_id}/items/{item_id}", {"position": 5})
    assert moved.json()["position"] == 5
    listed = api.get(f"/reference-sets/{set_id}/items").json()
    assert [i["id"] for i in listed["items"]] == [item_id]
    assert api.delete(f"/reference-sets/{set_id}/items/{item_id}").status_code == 204
    assert api.get(f"/reference-sets/{set_id}/items").json()["total"] == 0
    assert api.delete(f"/reference-sets/{set_id}").status_code == 204
    assert not ReferenceSet.objects.exists()
    assert Asset.objects.filter(pk=image.pk).exists()  # the image stays


def test_another_projects_asset_is_no_reference_item(api, user, project, other_project, make_png):
    theirs = store_image(project=other_project, data=make_png(), kind=Asset.Kind.UPLOAD, name="b")
    made = api.post("/reference-sets", {"slug": "scenes", "name": "Scenes", "kind": "scene"})
    response = api.post(f"/reference-sets/{made.json()['id']}/items", {"asset": theirs.pk})
    assert response.status_code == 400 and error_of(response)["field"] == "asset"
