"""The JSON API's frame: tokens, scopes, project scope, the error shape, the OpenAPI file."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from projects.models import ApiToken, AuditEvent, Project
from projects.services.tokens import create_token, revoke_token, rotate_token

pytestmark = pytest.mark.django_db


def bearer(plaintext: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


@pytest.fixture
def write_token(user):
    return create_token(user=user, name="script", scopes=["write"]).plaintext


@pytest.fixture
def read_token(user):
    return create_token(user=user, name="reader").plaintext


def test_a_token_is_shown_once_and_stored_as_prefix_and_digest(user):
    issued = create_token(user=user, name="script", scopes=["write"])
    assert issued.plaintext.startswith(f"kroma_{issued.token.prefix}_")
    row = ApiToken.objects.get()
    assert issued.plaintext not in json.dumps(
        {f.name: str(getattr(row, f.name)) for f in ApiToken._meta.concrete_fields}
    )
    assert row.scopes == ["read", "write"]  # writing implies reading
    assert AuditEvent.objects.filter(action="token.created").count() == 1


def test_list_and_get_projects_with_a_token(client, project, other_project, read_token):
    body = client.get("/api/projects", **bearer(read_token)).json()
    assert [p["slug"] for p in body["items"]] == [project.slug] and body["total"] == 1
    assert client.get(f"/api/projects/{project.slug}", **bearer(read_token)).status_code == 200
    theirs = client.get(f"/api/projects/{other_project.slug}", **bearer(read_token))
    assert theirs.status_code == 404
    assert theirs.json() == {
        "error": {"code": "not_found", "message": "No such project.", "field": None}
    }


@pytest.mark.parametrize("header", ["", "Bearer nope", "Bearer kroma_0000_x", "Basic abc"])
def test_missing_or_unknown_tokens_are_401_with_the_error_shape(client, project, header):
    response = client.get("/api/projects", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_and_expired_tokens_are_401(client, user, project):
    revoked = create_token(user=user, name="old")
    revoke_token(token=revoked.token, user=user)
    expired = create_token(user=user, name="short", expires_at=timezone.now() + timedelta(1))
    ApiToken.objects.filter(pk=expired.token.pk).update(expires_at=timezone.now())
    for issued in (revoked, expired):
        assert client.get("/api/projects", **bearer(issued.plaintext)).status_code == 401


def test_a_read_token_may_not_write(client, read_token):
    body = json.dumps({"name": "Nope"})
    response = client.post(
        "/api/projects", body, content_type="application/json", **bearer(read_token)
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "not_allowed"
    assert not Project.objects.filter(name="Nope").exists()


def test_a_project_token_sees_only_its_project(client, user, project):
    second = Project.objects.create(owner=user, slug="second", name="Second")
    scoped = create_token(user=user, name="one project", project=project).plaintext
    body = client.get("/api/projects", **bearer(scoped)).json()
    assert [p["slug"] for p in body["items"]] == [project.slug]
    assert client.get(f"/api/projects/{second.slug}", **bearer(scoped)).status_code == 404
    assert client.get(f"/api/projects/{second.slug}/runs", **bearer(scoped)).status_code == 404


def test_create_a_project_and_bad_bodies(client, write_token):
    post = lambda body: client.post(  # noqa: E731
        "/api/projects", body, content_type="application/json", **bearer(write_token)
    )
    created = post(json.dumps({"name": "Harbor Two", "tone": "quiet"}))
    assert created.status_code == 201 and created.json()["slug"] == "harbor_two"
    unknown = post(json.dumps({"name": "X", "colour": "red"}))
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "colour"
    wrong = post(json.dumps({"name": 5}))
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "name"
    assert post("{not json").status_code == 400
    taken = post(json.dumps({"name": "Again", "slug": "harbor_two"}))
    assert taken.status_code == 409 and taken.json()["error"]["field"] == "slug"
    assert Project.objects.filter(slug__startswith="harbor_two").count() == 1


def test_pagination_is_bounded_and_stable(client, user, read_token):
    for n in range(3):
        Project.objects.create(owner=user, slug=f"p{n}", name=f"P {n}")
    first = client.get("/api/projects?limit=2", **bearer(read_token)).json()
    rest = client.get("/api/projects?limit=2&offset=2", **bearer(read_token)).json()
    assert first["total"] == rest["total"] == 3
    assert [p["slug"] for p in first["items"] + rest["items"]] == ["p0", "p1", "p2"]
    assert client.get("/api/projects?limit=201", **bearer(read_token)).status_code == 422
    assert client.get("/api/projects?offset=-1", **bearer(read_token)).status_code == 422


def test_token_by_password_then_rotate_and_revoke(client, user, project):
    user.set_password("pw-for-tests")
    user.save()
    body = {"name": "ci", "scopes": ["read", "write"], "project": project.slug}
    issued = client.post(
        "/auth/token",
        json.dumps({**body, "username": user.username, "password": "pw-for-tests"}),
        content_type="application/json",
    )
    assert issued.status_code == 201
    plaintext = issued.json()["token"]
    assert issued.json()["details"]["project"] == project.slug
    wrong = client.post(
        "/auth/token",
        json.dumps({**body, "username": user.username, "password": "wrong"}),
        content_type="application/json",
    )
    assert wrong.status_code == 401
    token_id = issued.json()["details"]["id"]
    rotated = client.post(f"/auth/tokens/{token_id}/rotate", **bearer(plaintext))
    assert rotated.status_code == 201
    assert client.get("/api/projects", **bearer(plaintext)).status_code == 401  # the old one
    new = rotated.json()["token"]
    assert client.get("/api/projects", **bearer(new)).status_code == 200
    new_id = rotated.json()["details"]["id"]
    assert client.post(f"/auth/tokens/{new_id}/revoke", **bearer(new)).status_code == 200
    assert client.get("/api/projects", **bearer(new)).status_code == 401


def test_an_expired_token_is_not_rotated(user):
    from kroma.lib.errors import UserError

    issued = create_token(user=user, name="short", expires_at=timezone.now() + timedelta(1))
    ApiToken.objects.filter(pk=issued.token.pk).update(expires_at=timezone.now())
    with pytest.raises(UserError, match="expired"):
        rotate_token(token=ApiToken.objects.get(pk=issued.token.pk), user=user)


def test_last_used_is_written_at_most_once_a_minute(client, user, project, read_token):
    client.get("/api/projects", **bearer(read_token))
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    client.get("/api/projects", **bearer(read_token))
    assert ApiToken.objects.get().last_used_at == first
    ApiToken.objects.update(last_used_at=first - timedelta(minutes=2))
    client.get("/api/projects", **bearer(read_token))
    assert ApiToken.objects.get().last_used_at > first


def test_the_browser_session_reads_and_writes_with_csrf(user, project):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    assert browser.get("/api/projects").status_code == 200
    refused = browser.post("/api/projects", json.dumps({"name": "X"}), "application/json")
    assert refused.status_code == 403  # no CSRF token: a session cannot be ridden
    assert not Project.objects.filter(name="X").exists()


def test_the_committed_openapi_file_is_what_the_code_serves(client):
    call_command("kroma_openapi", "--check")
    served = client.get("/api/openapi.json").json()
    assert "/api/projects/{slug}/runs" in served["paths"]
    assert "bearer" in json.dumps(served["components"]["securitySchemes"]).lower()


def test_the_api_docs_load_swagger_from_our_own_static_files(artist_client):
    body = artist_client.get("/api/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle" in body
    assert "cdn" not in body.lower() and "https://" not in body
