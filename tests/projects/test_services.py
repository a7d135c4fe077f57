"""Project command services: create_project's rules, style locks, secrets (audited, masked)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from kroma.lib.errors import Conflict, UserError
from projects.models import AuditEvent, ProjectSecret, StyleGuide
from projects.services.projects import create_project
from projects.services.security import (
    delete_secret,
    lock_style_guide,
    set_secret,
    unlock_style_guide,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("name", "slug", "code", "field"),
    [
        ("New", "new", "slug_reserved", "slug"),
        ("Admin", "", "slug_reserved", "name"),
        ("!!!", "", "slug_empty", "name"),
        ("Noir", "noir_city", "slug_taken", "slug"),
        ("Bad", "Has Spaces", "slug_invalid", "slug"),
        ("  ", "", "name_missing", "name"),
    ],
)
def test_create_project_keeps_its_rules_without_a_form(user, project, name, slug, code, field):
    with pytest.raises(UserError) as refused:
        create_project(owner=user, name=name, slug=slug)
    assert (refused.value.code, refused.value.field) == (code, field)


def test_lock_and_unlock_are_audited_and_refused_twice(project, user, make_png):
    from projects.models import StyleReference
    from projects.services.assets import store_image

    guide = StyleGuide.objects.create(project=project, slug="ink", name="Ink")
    with pytest.raises(UserError, match="no style references"):
        lock_style_guide(guide=guide, user=user)
    asset = store_image(project=project, data=make_png(), kind="style_ref", name="a.png")
    StyleReference.objects.create(style_guide=guide, asset=asset, position=1)
    lock_style_guide(guide=guide, user=user)
    with pytest.raises(Conflict):
        lock_style_guide(guide=guide, user=user)
    unlock_style_guide(guide=guide, user=user)
    actions = list(AuditEvent.objects.filter(target="ink").values_list("action", flat=True))
    assert sorted(actions) == ["style_guide.locked", "style_guide.unlocked"]


def test_secrets_are_encrypted_audited_with_the_hint_only_and_deleted(project, user):
    secret = set_secret(
        project=project, user=user, provider="openai", name="api_key", value="sk-live-123456789"
    )
    assert secret.reveal() == "sk-live-123456789"
    assert b"sk-live" not in bytes(secret.ciphertext)
    set_secret(project=project, user=user, provider="openai", name="api_key", value="sk-new-99999")
    assert ProjectSecret.objects.get().reveal() == "sk-new-99999"
    delete_secret(project=project, user=user, provider="openai", name="api_key")
    assert not ProjectSecret.objects.exists()
    events = list(AuditEvent.objects.filter(target="openai/api_key").order_by("pk"))
    assert [e.action for e in events] == ["secret.created", "secret.replaced", "secret.deleted"]
    assert "sk-live" not in json.dumps([e.data for e in events])
    with pytest.raises(UserError, match="No secret openai/api_key"):
        delete_secret(project=project, user=user, provider="openai", name="api_key")


def test_a_missing_master_key_is_a_form_error_not_a_500(
    monkeypatch, settings, tmp_path, project, admin_client
):
    monkeypatch.delenv("IAT_MASTER_KEY")
    settings.MASTER_KEY_FILE = tmp_path / "nowhere.key"
    with pytest.raises(UserError) as refused:
        set_secret(project=project, user=None, provider="openai", name="api_key", value="sk-1")
    assert refused.value.code == "master_key"
    response = admin_client.post(
        reverse("admin:projects_projectsecret_add"),
        {"project": project.pk, "provider": "openai", "name": "api_key", "value": "sk-1234567"},
    )
    assert response.status_code == 200
    assert "No master key" in response.content.decode()
    assert not ProjectSecret.objects.exists()
