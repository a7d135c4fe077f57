"""API tokens on a project's Settings page: create (shown once), list, revoke, rotate."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from projects.models import ApiToken, AuditEvent
from projects.services.projects import create_project
from projects.services.tokens import authenticate, create_token, revoke_token

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _url(name: str, *args: object, slug: str = "noir_city") -> str:
    return reverse(f"pipeline:{name}", args=[slug, *args])


def _create(client, **fields):
    data = {"token-name": "export script", "token-access": "read", "token-reach": "project"}
    data.update({f"token-{k}": v for k, v in fields.items()})
    return client.post(_url("settings_token_create"), data, **HX)


def _plaintext(html: str) -> str:
    start = html.index('value="kroma_') + len('value="')
    return html[start : html.index('"', start)]


def test_the_page_lists_this_projects_and_unscoped_tokens_only(artist_client, user, project):
    elsewhere = create_project(owner=user, name="Elsewhere", slug="elsewhere")
    mine = create_token(user=user, name="here", project=project).token
    everywhere = create_token(user=user, name="everywhere", scopes=["write"]).token
    create_token(user=user, name="there", project=elsewhere)
    response = artist_client.get(_url("settings"))
    html = response.content.decode()
    assert response.status_code == 200 and 'id="tokens"' in html
    assert f"kroma_{mine.prefix}_…" in html and f"kroma_{everywhere.prefix}_…" in html
    assert "there" not in html.split('id="tokens"')[1].split("</section>")[0]
    assert "all my projects" in html and "read, write" in html


def test_creating_shows_the_plaintext_once_and_it_works(artist_client, user, project):
    response = _create(artist_client, access="write", expires_days="30")
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<section class="card')
    assert "no-store" in response["Cache-Control"]
    assert "shown only this once" in html and "data-copy-from" in html
    plaintext = _plaintext(html)
    token = authenticate(plaintext)
    assert (token.name, token.project, token.scopes) == (
        "export script",
        project,
        ["read", "write"],
    )
    assert token.expires_at is not None
    api = Client().get(f"/api/projects/{project.slug}", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert api.status_code == 200
    again = artist_client.get(_url("settings")).content.decode()
    assert plaintext not in again and f"kroma_{token.prefix}_…" in again
    assert AuditEvent.objects.filter(action="token.created", project=project).count() == 1


def test_a_plain_post_shows_the_whole_page_with_the_token(artist_client, user, project):
    data = {"token-name": "cli", "token-access": "read", "token-reach": "all"}
    response = artist_client.post(_url("settings_token_create"), data)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    token = authenticate(_plaintext(html))
    assert token.project is None and token.scopes == ["read"] and token.expires_at is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"expires_days": "0"}, "greater than or equal to 1"),
        ({"access": "admin"}, "Select a valid choice."),
        ({"name": "x" * 81}, "at most 80 characters"),
    ],
)
def test_bad_input_is_shown_at_its_field(artist_client, project, fields, message):
    response = _create(artist_client, **fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert ApiToken.objects.count() == 0


def test_revoke_asks_first_then_revokes(artist_client, user, project):
    issued = create_token(user=user, name="old script", project=project)
    url = _url("settings_token_revoke", issued.token.pk)
    ask = artist_client.post(url, **HX).content.decode()
    assert "Revoke old script? Programs using it stop working at once." in ask
    assert authenticate(issued.plaintext) is not None
    done = artist_client.post(url, {"confirm": "1"}, **HX)
    assert done.status_code == 200 and "revoked." in done.content.decode()
    assert authenticate(issued.plaintext) is None
    assert AuditEvent.objects.filter(action="token.revoked").count() == 1
    plain = artist_client.post(url, {"confirm": "1"})
    assert plain.status_code == 302 and plain["Location"].endswith("#tokens")


def test_rotate_asks_first_then_shows_the_new_token_once(artist_client, user, project):
    issued = create_token(user=user, name="ci", project=project, scopes=["write"])
    url = _url("settings_token_rotate", issued.token.pk)
    assert "Replace ci with a new token?" in artist_client.post(url, **HX).content.decode()
    response = artist_client.post(url, {"confirm": "1"}, **HX)
    assert "no-store" in response["Cache-Control"]
    fresh = authenticate(_plaintext(response.content.decode()))
    assert (fresh.name, fresh.scopes, fresh.project) == ("ci", ["read", "write"], project)
    assert authenticate(issued.plaintext) is None
    again = artist_client.post(url, {"confirm": "1"}, **HX)
    assert again.status_code == 400 and "This token is revoked" in again.content.decode()


def test_a_revoked_token_is_listed_without_actions(artist_client, user, project):
    token = revoke_token(
        token=create_token(user=user, name="gone", project=project).token, user=user
    )
    html = artist_client.get(_url("settings"), **HX).content.decode()
    assert "revoked" in html and f"Revoke gone ({token.prefix})" not in html


def test_another_users_project_or_token_is_a_404(
    artist_client, user, other_user, project, other_project
):
    theirs = create_token(user=other_user, name="theirs", project=other_project).token
    their_unscoped = create_token(user=other_user, name="unscoped").token
    slug = other_project.slug
    assert artist_client.get(_url("settings", slug=slug)).status_code == 404
    assert artist_client.post(_url("settings_token_create", slug=slug), **HX).status_code == 404
    for view in ("settings_token_revoke", "settings_token_rotate"):
        assert artist_client.post(_url(view, theirs.pk, slug=slug), **HX).status_code == 404
        mine_page = _url(view, their_unscoped.pk)  # on my project, someone else's token
        assert artist_client.post(mine_page, {"confirm": "1"}, **HX).status_code == 404
    assert ApiToken.objects.filter(revoked_at__isnull=False).count() == 0


def test_anonymous_is_sent_to_log_in(client, project):
    response = client.post(_url("settings_token_create"))
    assert response.status_code == 302 and "/login" in response["Location"]


def _queries_for_the_section(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(_url("settings"), **HX).status_code == 200
    return len(queries)


def test_the_section_costs_the_same_queries_for_1_and_3_tokens(artist_client, user, project):
    create_token(user=user, name="one", project=project)
    one = _queries_for_the_section(artist_client)
    create_token(user=user, name="two")
    revoke_token(token=create_token(user=user, name="three", project=project).token, user=user)
    assert _queries_for_the_section(artist_client) == one
