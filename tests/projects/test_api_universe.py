"""The universe's JSON API: characters and outfits, style guides, provider accounts, secrets;
and what every universe and story route shares (another user's project 404, read tokens 403,
unknown fields 422, path traversal refused, stable pages, query counts)."""

from __future__ import annotations

import json

import pytest

from projects.models import (
    Asset,
    AuditEvent,
    Character,
    Outfit,
    Panel,
    ProjectSecret,
    ProviderAccount,
    ReferenceSet,
    StyleGuide,
)
from projects.services.assets import store_image
from projects.services.characters import add_outfit, create_character
from projects.services.security import set_secret
from projects.services.style import create_style_guide
from projects.services.tokens import create_token
from tests.projects.api_client import Api, error_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, user, project) -> Api:
    return Api(client, create_token(user=user, name="w", scopes=["write"]).plaintext, project.slug)


@pytest.fixture
def reader(client, user, project) -> Api:
    return Api(client, create_token(user=user, name="r").plaintext, project.slug)


@pytest.fixture
def theirs(client, user, other_project) -> Api:
    """My write token, aimed at another user's project."""
    token = create_token(user=user, name="w2", scopes=["write"]).plaintext
    return Api(client, token, other_project.slug)


@pytest.fixture
def image(project, make_png) -> Asset:
    return store_image(project=project, data=make_png(), kind=Asset.Kind.CHARACTER_REF, name="a")


# --- characters and outfits ---------------------------------------------------------------


def test_character_crud(api, project):
    made = api.post("/characters", {"name": "Mara Vale", "description": "A detective."})
    assert made.status_code == 201
    body = made.json()
    assert (body["slug"], body["name"], body["outfits"]) == ("mara-vale", "Mara Vale", [])
    listed = api.get("/characters").json()
    assert listed["total"] == 1 and [c["slug"] for c in listed["items"]] == ["mara-vale"]
    by_id = api.get(f"/characters/{body['id']}").json()
    assert by_id == api.get("/characters/mara-vale").json()
    changed = api.patch("/characters/mara-vale", {"continuity_notes": "Scar, left cheek."})
    assert changed.status_code == 200 and changed.json()["continuity_notes"] == "Scar, left cheek."
    assert changed.json()["description"] == "A detective."
    assert api.delete("/characters/mara-vale").status_code == 204
    assert not Character.objects.filter(project=project).exists()
    assert api.get("/characters/mara-vale").status_code == 404
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"character.created", "character.changed", "character.deleted"} <= actions


def test_character_user_errors_keep_their_field(api, project):
    api.post("/characters", {"name": "Mara"})
    taken = api.post("/characters", {"name": "mara"})
    assert taken.status_code == 400 and error_of(taken)["field"] == "name"
    too_long = api.post("/characters", {"name": "x" * 121})
    assert too_long.status_code == 422 and error_of(too_long)["field"] == "name"
    unknown = api.patch("/characters/mara", {"name": "M", "age": 30})
    assert unknown.status_code == 422 and error_of(unknown)["field"] == "age"
    assert Character.objects.get(project=project).name == "Mara"


def test_outfit_crud(api, project):
    api.post("/characters", {"name": "Mara"})
    made = api.post("/characters/mara/outfits", {"name": "Trench coat"})
    assert made.status_code == 201
    outfit_id = made.json()["id"]
    listed = api.get("/characters/mara/outfits").json()
    assert [o["name"] for o in listed["items"]] == ["Trench coat"] and listed["total"] == 1
    assert api.get("/characters/mara").json()["outfits"][0]["id"] == outfit_id
    assert api.get("/characters/mara/outfits/Trench coat").json()["id"] == outfit_id
    changed = api.patch(f"/characters/mara/outfits/{outfit_id}", {"description": "Soaked."})
    assert changed.json()["description"] == "Soaked."
    twice = api.post("/characters/mara/outfits", {"name": "trench coat"})
    assert twice.status_code == 400 and error_of(twice)["field"] == "name"
    assert api.delete(f"/characters/mara/outfits/{outfit_id}").status_code == 204
    assert not Outfit.objects.exists()
    assert api.get(f"/characters/mara/outfits/{outfit_id}").status_code == 404


# --- style guides ---------------------------------------------------------------------------


def test_style_guide_crud_lock_and_unlock(api, user, project, make_png):
    made = api.post("/style-guides", {"name": "Ink wash", "rules": "Heavy blacks."})
    assert made.status_code == 201 and made.json()["status"] == "draft"
    assert api.get("/style-guides").json()["items"][0]["slug"] == "ink-wash"
    changed = api.patch("/style-guides/ink-wash", {"rules": "Heavy blacks.\r\nNo gradients."})
    assert changed.json()["rules"] == "Heavy blacks.\nNo gradients."
    no_refs = api.post("/style-guides/ink-wash/lock")
    assert no_refs.status_code == 400 and error_of(no_refs)["code"] == "no_references"

    from projects.services.style import add_style_references

    add_style_references(guide=StyleGuide.objects.get(), user=user, files=[("ref.png", make_png())])
    locked = api.post("/style-guides/ink-wash/lock")
    assert locked.status_code == 200 and locked.json()["status"] == "locked"
    assert locked.json()["locked_at"] and len(locked.json()["references"]) == 1
    sha = locked.json()["content_sha256"]
    refused = api.patch("/style-guides/ink-wash", {"rules": "Pastels."})
    assert refused.status_code == 409 and error_of(refused)["code"] == "style_locked"
    assert api.delete("/style-guides/ink-wash").status_code == 409
    assert api.post("/style-guides/ink-wash/lock").status_code == 409  # already locked
    assert StyleGuide.objects.get().rules == "Heavy blacks.\nNo gradients."
    unlocked = api.post("/style-guides/ink-wash/unlock")
    assert unlocked.json()["status"] == "draft" and unlocked.json()["content_sha256"] == sha
    assert api.delete("/style-guides/ink-wash").status_code == 204
    assert not StyleGuide.objects.exists()
    assert AuditEvent.objects.filter(action="style_guide.deleted").count() == 1


# --- provider accounts and secrets ----------------------------------------------------------


def test_provider_account_crud(api, project):
    made = api.post("/provider-accounts", {"provider": "openai", "base_url": "http://x.test/v1"})
    assert made.status_code == 201 and made.json()["name"] == "default"
    account_id = made.json()["id"]
    again = api.post("/provider-accounts", {"provider": "openai"})
    assert again.status_code == 409 and error_of(again)["field"] == "name"
    unknown = api.post("/provider-accounts", {"provider": "nobody"})
    assert unknown.status_code == 422 and error_of(unknown)["field"] == "provider"
    bad_url = api.patch(f"/provider-accounts/{account_id}", {"base_url": "ftp://x"})
    assert bad_url.status_code == 400 and error_of(bad_url)["field"] == "base_url"
    changed = api.patch(f"/provider-accounts/{account_id}", {"is_enabled": False})
    assert changed.json()["is_enabled"] is False
    assert changed.json()["base_url"] == "http://x.test/v1"  # kept
    assert api.get("/provider-accounts").json()["total"] == 1
    assert api.delete(f"/provider-accounts/{account_id}").status_code == 204
    assert not ProviderAccount.objects.exists()


def test_a_secrets_plaintext_never_appears_in_any_response(api, project):
    plaintext = "sk-test-PLAINTEXT-0123456789abcdef"
    made = api.post("/secrets", {"provider": "openai", "name": "api_key", "value": plaintext})
    assert made.status_code == 201
    listed = api.get("/secrets")
    replaced = api.post("/secrets", {"provider": "openai", "value": plaintext + "2"})
    responses = [made, listed, replaced, api.get("/secrets")]
    for response in responses:
        assert plaintext.encode() not in response.content
        assert b"ciphertext" not in response.content and b"value" not in response.content
    assert set(listed.json()["items"][0]) == {"provider", "name", "hint", "updated_at"}
    assert listed.json()["items"][0]["hint"] == "sk-…cdef"
    assert responses[-1].json()["items"][0]["hint"] == ProjectSecret.objects.get().hint
    assert ProjectSecret.objects.get().reveal() == plaintext + "2"
    audit = json.dumps(list(AuditEvent.objects.values("target", "data")))
    assert plaintext not in audit
    assert api.delete("/secrets/openai/api_key").status_code == 204
    assert api.delete("/secrets/openai/api_key").status_code == 404
    assert not ProjectSecret.objects.exists()


def test_secret_bodies_are_bounded_and_checked(api):
    long = api.post("/secrets", {"provider": "openai", "value": "x" * 4001})
    assert long.status_code == 422 and error_of(long)["field"] == "value"
    extra = api.post("/secrets", {"provider": "openai", "value": "v", "key_id": "k"})
    assert extra.status_code == 422 and error_of(extra)["field"] == "key_id"
    empty = api.post("/secrets", {"provider": "openai", "value": ""})
    assert empty.status_code == 422 and error_of(empty)["field"] == "value"
    plaintext = "sk-refused-PLAINTEXT-42"
    for body in (
        {"provider": "nobody", "value": plaintext},
        {"provider": "openai", "name": "../k", "value": plaintext},
        {"provider": "openai", "value": plaintext, "extra": plaintext},
    ):
        refused = api.post("/secrets", body)
        assert refused.status_code == 422 and plaintext.encode() not in refused.content
    assert not ProjectSecret.objects.exists()


# --- what every route shares ----------------------------------------------------------------

READS = [
    "/characters",
    "/characters/mara",
    "/characters/mara/outfits",
    "/style-guides",
    "/style-guides/house",
    "/provider-accounts",
    "/secrets",
    "/reference-sets",
    "/chapters",
    "/pages",
    "/panels",
]
WRITES = [
    ("post", "/characters", {"name": "Ivo"}),
    ("patch", "/characters/mara", {"name": "Mara B"}),
    ("delete", "/characters/mara", None),
    ("post", "/characters/mara/outfits", {"name": "Hat"}),
    ("post", "/style-guides", {"name": "New"}),
    ("patch", "/style-guides/house", {"rules": "x"}),
    ("post", "/style-guides/house/lock", {}),
    ("delete", "/style-guides/house", None),
    ("post", "/provider-accounts", {"provider": "openai"}),
    ("post", "/secrets", {"provider": "openai", "value": "sk-x"}),
    ("delete", "/secrets/openai/api_key", None),
    ("post", "/reference-sets", {"slug": "s", "name": "S", "kind": "scene"}),
    ("post", "/chapters", {}),
    ("post", "/pages", {}),
    ("post", "/panels", {"title": "P"}),
]


@pytest.fixture
def universe(user, project, other_project, other_user):
    """The same small universe in my project and in another user's."""
    for owner, where in ((user, project), (other_user, other_project)):
        create_character(project=where, actor=owner, name="Mara")
        create_style_guide(project=where, user=owner, name="House")
        set_secret(project=where, user=owner, provider="openai", name="api_key", value="sk-1")


def _call(api: Api, method: str, path: str, body: dict | None):
    return getattr(api, method)(path) if body is None else getattr(api, method)(path, body)


@pytest.mark.parametrize("path", READS)
def test_another_users_project_is_404(theirs, api, universe, path):
    assert api.get(path).status_code == 200
    response = theirs.get(path)
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


@pytest.mark.parametrize("path", ["/characters", "/secrets", "/reference-sets", "/panels"])
def test_without_a_token_it_is_401(client, project, path):
    response = client.get(f"/api/projects/{project.slug}{path}")
    assert response.status_code == 401 and error_of(response)["code"] == "unauthenticated"


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_writes_to_another_users_project_are_404(theirs, universe, method, path, body):
    before = AuditEvent.objects.count()
    assert _call(theirs, method, path, body).status_code == 404
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_read_token_may_not_write(reader, universe, method, path, body):
    before = AuditEvent.objects.count()
    response = _call(reader, method, path, body)
    assert response.status_code == 403 and error_of(response)["code"] == "not_allowed"
    assert AuditEvent.objects.count() == before


def test_a_project_token_reaches_only_its_project(client, user, project, universe):
    from projects.services.projects import create_project

    second = create_project(owner=user, name="Second", slug="second")
    token = create_token(user=user, name="one", scopes=["write"], project=project).plaintext
    assert Api(client, token, project.slug).get("/characters").status_code == 200
    assert Api(client, token, second.slug).get("/characters").status_code == 404
    assert Api(client, token, second.slug).post("/chapters").status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/characters", {"name": "A", "slug": "a"}, "slug"),
        ("/style-guides", {"name": "A", "status": "locked"}, "status"),
        ("/provider-accounts", {"provider": "openai", "config": {}}, "config"),
        ("/reference-sets", {"slug": "a", "name": "A", "kind": "scene", "x": 1}, "x"),
        ("/chapters", {"position": 3}, "position"),
        ("/pages", {"panels": []}, "panels"),
        ("/panels", {"title": "A", "project": "noir_city"}, "project"),
    ],
)
def test_unknown_fields_are_422_with_their_field(api, path, body, field):
    response = api.post(path, body)
    assert response.status_code == 422 and error_of(response)["field"] == field


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/panels", {"title": "A", "key": "../../etc/passwd"}, "key"),
        ("/panels", {"title": "A", "key": "..%2F..%2Fx"}, "key"),
        ("/reference-sets", {"slug": "../up", "name": "A", "kind": "scene"}, "slug"),
        ("/reference-sets", {"slug": "a/b", "name": "A", "kind": "scene"}, "slug"),
        ("/secrets", {"provider": "../openai", "value": "v"}, "provider"),
        ("/secrets", {"provider": "openai", "name": "../../key", "value": "v"}, "name"),
        ("/secrets", {"provider": "openai", "name": "a\\..\\b", "value": "v"}, "name"),
        ("/provider-accounts", {"provider": "openai", "name": "../x"}, "name"),
    ],
)
def test_path_traversal_strings_are_refused(api, path, body, field):
    response = api.post(path, body)
    assert response.status_code == 422 and error_of(response)["field"] == field
    assert not Panel.objects.exists() and not ReferenceSet.objects.exists()
    assert not ProjectSecret.objects.exists() and not ProviderAccount.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/characters/..",
        "/characters/..%2F..%2Fsecret_world",
        "/style-guides/..%2Fhouse",
        "/secrets/..%2F../api_key",
    ],
)
def test_path_traversal_in_paths_finds_nothing(api, universe, path):
    assert api.get(path).status_code in (404, 405)
    assert api.delete(path).status_code == 404
    assert ProjectSecret.objects.count() == 2 and Character.objects.count() == 2


def test_lists_paginate_in_a_stable_order(api, user, project):
    for name in ("Cato", "Abe", "Bea"):
        create_character(project=project, actor=user, name=name)
    first = api.get("/characters?limit=2").json()
    rest = api.get("/characters?limit=2&offset=2").json()
    assert (first["total"], first["limit"], rest["offset"]) == (3, 2, 2)
    assert [c["name"] for c in first["items"] + rest["items"]] == ["Abe", "Bea", "Cato"]
    assert api.get("/characters?limit=201").status_code == 422
    assert api.get("/panels?offset=-1").status_code == 422


def _add_universe(user, project, numbers: range, image: Asset) -> None:
    from projects.services.story import create_panel, set_cast

    for i in numbers:
        character = create_character(project=project, actor=user, name=f"C{i}")
        outfit = add_outfit(character=character, actor=user, name="Coat")
        guide = create_style_guide(project=project, user=user, name=f"G{i}")
        guide.references.create(asset=image, position=1)
        panel = create_panel(project=project, actor=user, title=f"P{i}")
        set_cast(panel=panel, actor=user, entries=[{"character": character, "outfit": outfit}])
        ReferenceSet.objects.create(
            project=project, slug=f"s{i}", name="S", kind="character", character=character
        )


@pytest.mark.parametrize("path", ["/characters", "/style-guides", "/panels", "/reference-sets"])
def test_lists_take_the_same_queries_for_1_and_3_items(
    api, user, project, image, django_assert_max_num_queries, path
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _add_universe(user, project, range(1), image)
    with CaptureQueriesContext(connection) as one:
        assert api.get(path).json()["total"] == 1
    _add_universe(user, project, range(1, 3), image)
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert api.get(path).json()["total"] == 3


def test_the_browser_session_writes_with_its_csrf_token(user, project):
    from django.middleware.csrf import get_token
    from django.test import Client, RequestFactory

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    path, body = f"/api/projects/{project.slug}/characters", json.dumps({"name": "Mara"})
    assert browser.post(path, body, "application/json").status_code == 403
    page = RequestFactory().get("/")
    token = get_token(page)  # what a page's form carries; its cookie holds the secret
    browser.cookies["csrftoken"] = page.META["CSRF_COOKIE"]
    made = browser.post(path, body, "application/json", HTTP_X_CSRFTOKEN=token)
    assert made.status_code == 201 and Character.objects.get().name == "Mara"
