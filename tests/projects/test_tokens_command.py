"""`manage.py kroma_token`: create / list / revoke / rotate, the plaintext printed only once."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from projects.models import ApiToken, AuditEvent
from projects.services.tokens import authenticate

pytestmark = pytest.mark.django_db


def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("kroma_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_prints_a_working_token_once(user, project):
    out, err = _run(
        "create", "--user", "artist", "--name", "ci", "--scopes", "read,write",
        "--project", "noir_city", "--expires-days", "30",
    )  # fmt: skip
    plaintext = out.strip()
    token = ApiToken.objects.get()
    assert plaintext.startswith(f"kroma_{token.prefix}_")
    assert (token.user, token.project, token.scopes) == (user, project, ["read", "write"])
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert "not shown again" in err and plaintext not in err
    assert authenticate(plaintext) == token
    response = Client().get("/api/projects", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert [p["slug"] for p in response.json()["items"]] == ["noir_city"]
    assert AuditEvent.objects.filter(action="token.created", project=project).count() == 1


def test_list_shows_prefixes_and_states_never_a_plaintext(user, other_user):
    plaintext = _run("create", "--user", "artist", "--name", "ci")[0].strip()
    _run("create", "--user", "stranger", "--name", "theirs")
    mine = ApiToken.objects.get(name="ci")
    _run("revoke", mine.prefix)
    out, _ = _run("list")
    assert plaintext not in out and plaintext.split("_", 2)[2] not in out
    lines = out.splitlines()[1:]
    assert len(lines) == 2
    assert lines[1].split() == [mine.prefix, "artist", "ci", "read", "*", "-", "-", "revoked"]
    only, _ = _run("list", "--user", "stranger")
    assert [line.split()[1] for line in only.splitlines()[1:]] == ["stranger"]


def test_revoke_stops_the_token_and_is_audited(user):
    plaintext = _run("create", "--user", "artist", "--name", "ci")[0].strip()
    token = ApiToken.objects.get()
    out, _ = _run("revoke", token.prefix)
    assert out == f"Revoked ci ({token.prefix}).\n"
    assert authenticate(plaintext) is None
    assert AuditEvent.objects.filter(action="token.revoked").count() == 1


def test_rotate_prints_the_new_token_and_revokes_the_old(user, project):
    old = _run("create", "--user", "artist", "--name", "ci", "--project", "noir_city")[0].strip()
    old_prefix = ApiToken.objects.get().prefix
    out, err = _run("rotate", old_prefix)
    new = out.strip()
    assert new != old and authenticate(old) is None
    fresh = authenticate(new)
    assert (fresh.name, fresh.project, fresh.scopes) == ("ci", project, ["read"])
    assert f"old token {old_prefix} is revoked" in err
    with pytest.raises(CommandError, match="revoked: create a new one"):
        _run("rotate", old_prefix)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--user", "nobody", "--name", "x"], "No user 'nobody'"),
        (["create", "--user", "artist", "--name", "x", "--scopes", "admin"], "Unknown scope"),
        (["create", "--user", "artist", "--name", "x", "--project", "nope"], "No project 'nope'"),
        (["create", "--user", "artist", "--name", "x", "--expires-days", "0"], "between 1 and"),
        (["create", "--user", "artist", "--name", " "], "name of 1 to 80"),
        (["revoke", "abcd1234"], "No token with prefix 'abcd1234'"),
    ],
)
def test_bad_input_is_a_clear_error(user, args, message):
    with pytest.raises(CommandError, match=message):
        _run(*args)
    assert ApiToken.objects.count() == 0


def test_a_token_for_another_users_project_is_refused(user, other_project):
    with pytest.raises(CommandError, match="cannot make a token for this project"):
        _run("create", "--user", "artist", "--name", "x", "--project", "secret_world")
