"""The project settings page: storage, secrets, provider accounts, generation and QA settings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kroma.lib.errors import Conflict, UserError
from pipeline.config import ConfigError, load_manifest
from pipeline.services.settings import save_manifest_overrides, storage_summary
from projects.models import AuditEvent, Project, ProjectSecret, ProviderAccount
from projects.services.security import (
    add_provider_account,
    delete_provider_account,
    set_secret,
    update_provider_account,
)
from tests import test_browser

pytestmark = pytest.mark.django_db
browser_page = test_browser.browser_page  # the suite's chromium fixture
HX = {"HTTP_HX_REQUEST": "true"}
PLAINTEXT = "sk-live-9f8e7d6c5b4a3210zyxwa1b2"


def _url(name: str, *args: object) -> str:
    return reverse(f"pipeline:{name}", args=["noir_city", *args])


# --- service: manifest overrides ---------------------------------------------------------------


def test_saving_overrides_writes_only_what_differs_from_the_default(project, user):
    save_manifest_overrides(
        project=project,
        user=user,
        values={
            "generation.max_candidates": 4,
            "generation.candidates": 3,  # the default
            "generation.size": "1536x1024",
            "output_guard.min_std": None,
        },
    )
    project.refresh_from_db()
    assert project.manifest_overrides == {"generation": {"max_candidates": 4, "size": "1536x1024"}}
    event = AuditEvent.objects.get(project=project, action="project.overrides_updated")
    assert event.data == {
        "set": {"generation.max_candidates": 4, "generation.size": "1536x1024"},
        "cleared": [],
    }
    assert load_manifest(project)["generation.size"] == "1536x1024"


def test_back_to_the_default_drops_the_key_and_keeps_other_overrides(project, user):
    project.manifest_overrides = {
        "generation": {"max_candidates": 4},
        "postprocess": {"upscale": {"enabled": False}},
    }
    project.save()
    save_manifest_overrides(project=project, user=user, values={"generation.max_candidates": None})
    project.refresh_from_db()
    assert project.manifest_overrides == {"postprocess": {"upscale": {"enabled": False}}}
    event = AuditEvent.objects.get(project=project, action="project.overrides_updated")
    assert event.data == {"set": {}, "cleared": ["generation.max_candidates"]}


def test_saving_nothing_new_writes_no_audit_event(project, user):
    save_manifest_overrides(project=project, user=user, values={"generation.candidates": 3})
    assert not AuditEvent.objects.filter(action="project.overrides_updated").exists()


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"generation.max_candidates": 9}, "generation.max_candidates"),
        ({"output_guard.min_std": -1}, "output_guard.min_std"),
        ({"generation.candidates": 5, "generation.max_candidates": 4}, "generation.candidates"),
        ({"output_guard.chroma_soft": 50}, "output_guard.chroma_soft"),  # above chroma_hard 40
    ],
)
def test_invalid_overrides_are_refused_with_their_field(project, user, values, field):
    with pytest.raises(ConfigError) as caught:
        save_manifest_overrides(project=project, user=user, values=values)
    assert caught.value.field == field
    project.refresh_from_db()
    assert project.manifest_overrides == {}
    assert not AuditEvent.objects.filter(action="project.overrides_updated").exists()


def test_storage_summary_is_the_local_root(project, settings):
    summary = storage_summary(project=project)
    assert (summary.backend, summary.backend_label, summary.is_default_root) == (
        "local",
        "Local disk",
        True,
    )
    assert summary.root == str(settings.PROJECTS_ROOT / "noir_city")


# --- service: provider accounts -------------------------------------------------------------


def test_provider_accounts_are_added_edited_and_deleted_with_audit(project, user):
    account = add_provider_account(
        project=project, user=user, provider="openai", base_url="http://127.0.0.1:9/v1"
    )
    assert (account.name, account.is_enabled) == ("default", True)
    update_provider_account(account=account, user=user, base_url="", is_enabled=False)
    account.refresh_from_db()
    assert (account.base_url, account.is_enabled) == ("", False)
    delete_provider_account(account=account, user=user)
    assert not ProviderAccount.objects.exists()
    actions = list(
        AuditEvent.objects.filter(target="openai/default").order_by("pk").values_list("action")
    )
    assert actions == [
        ("provider_account.created",),
        ("provider_account.updated",),
        ("provider_account.deleted",),
    ]


def test_provider_account_refuses_unknown_provider_bad_url_and_duplicates(project, user):
    with pytest.raises(UserError) as caught:
        add_provider_account(project=project, user=user, provider="nope")
    assert caught.value.field == "provider"
    with pytest.raises(UserError) as caught:
        add_provider_account(project=project, user=user, provider="openai", base_url="ftp://x")
    assert caught.value.field == "base_url"
    add_provider_account(project=project, user=user, provider="openai")
    with pytest.raises(Conflict) as caught:
        add_provider_account(project=project, user=user, provider="openai")
    assert caught.value.field == "name"


# --- views: access ------------------------------------------------------------------------------


def test_settings_page_renders_every_section(artist_client, project):
    response = artist_client.get(_url("settings"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" in body
    for section in ("storage", "secrets", "accounts", "generation"):
        assert f'id="{section}"' in body
    assert 'aria-current="page">Settings</a>' in body  # the project tab
    assert f'href="{_url("settings")}" class="active"' in body  # the top bar
    # Fields come from the manifest's rule tables, defaults as placeholders.
    assert 'name="generation__max_candidates"' in body
    assert 'name="output_guard__min_std"' in body
    assert 'name="safe_batch_limit"' in body
    assert 'placeholder="6"' in body


def test_settings_page_of_another_users_project_is_404(artist_client, other_project):
    url = reverse("pipeline:settings", args=[other_project.slug])
    assert artist_client.get(url).status_code == 404
    post = reverse("pipeline:settings_generation_save", args=[other_project.slug])
    assert artist_client.post(post, {"generation__max_candidates": "2"}, **HX).status_code == 404
    other_project.refresh_from_db()
    assert other_project.manifest_overrides == {}


def test_others_secret_or_account_cannot_be_deleted_through_my_project(
    artist_client, project, other_project, other_user
):
    secret = set_secret(
        project=other_project, user=other_user, provider="openai", name="api_key", value=PLAINTEXT
    )
    account = add_provider_account(project=other_project, user=other_user, provider="openai")
    assert (
        artist_client.post(_url("settings_secret_delete", secret.pk), {"confirm": "1"}).status_code
        == 404
    )
    assert (
        artist_client.post(
            _url("settings_account_delete", account.pk), {"confirm": "1"}
        ).status_code
        == 404
    )
    assert ProjectSecret.objects.count() == 1 and ProviderAccount.objects.count() == 1


def test_settings_page_needs_login(client, project):
    response = client.get(_url("settings"))
    assert response.status_code == 302
    assert response.headers["Location"].startswith(reverse("login"))
    response = client.post(_url("settings_secret_save"), {"secret-value": "x"})
    assert response.status_code == 302
    assert not ProjectSecret.objects.exists()


def test_settings_page_queries_do_not_grow_with_secrets_or_accounts(artist_client, project, user):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert artist_client.get(_url("settings")).status_code == 200
        return len(captured)

    set_secret(project=project, user=user, provider="openai", name="api_key", value=PLAINTEXT)
    add_provider_account(project=project, user=user, provider="openai")
    one = queries()
    for provider in ("photoroom", "removebg"):
        set_secret(project=project, user=user, provider=provider, name="api_key", value=PLAINTEXT)
        add_provider_account(project=project, user=user, provider=provider)
    assert queries() == one


# --- views: generation and QA -------------------------------------------------------------------


def test_generation_settings_save_as_a_partial(artist_client, project):
    data = {
        "generation__max_candidates": "4",
        "generation__quality": "high",
        "safe_batch_limit": "",
    }
    response = artist_client.post(_url("settings_generation_save"), data, **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section class="card settings-section" id="generation">')
    assert "<html" not in body
    assert "saved" in body
    project.refresh_from_db()
    assert project.manifest_overrides == {"generation": {"max_candidates": 4, "quality": "high"}}


def test_generation_settings_plain_post_redirects_to_the_section(artist_client, project):
    response = artist_client.post(
        _url("settings_generation_save"), {"output_guard__enforce_grayscale": "true"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == _url("settings") + "#generation"
    project.refresh_from_db()
    assert project.manifest_overrides == {"output_guard": {"enforce_grayscale": True}}


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"generation__max_candidates": "9"}, "generation__max_candidates", "must be 1..6, got 9"),
        ({"output_guard__min_std": "-1"}, "output_guard__min_std", "must be a number in 0..128"),
        ({"generation__size": "800x600"}, "generation__size", "Select a valid choice"),
        (
            {"generation__candidates": "5", "generation__max_candidates": "4"},
            "generation__candidates",
            "must not exceed max_candidates (4)",
        ),
    ],
)
def test_invalid_generation_settings_answer_400_with_the_error_at_the_field(
    artist_client, project, data, field, message
):
    for headers in (HX, {}):
        response = artist_client.post(_url("settings_generation_save"), data, **headers)
        assert response.status_code == 400
        form = response.context["generation_form"]
        assert message in " ".join(form.errors[field])
        assert message in response.content.decode().replace("&#x27;", "'")
    project.refresh_from_db()
    assert project.manifest_overrides == {}


def test_page_shows_a_stored_invalid_override_at_its_field(artist_client, project):
    # Saved before the checks existed (or by code that skips them): the page says what is wrong.
    Project.objects.filter(pk=project.pk).update(
        manifest_overrides={"output_guard": {"min_std": -1}}
    )
    response = artist_client.get(_url("settings"))
    rows = [
        row
        for section in response.context["generation_form"].sections()
        for row in section.rows
        if row.dotted == "output_guard.min_std"
    ]
    assert rows[0].errors == ["must be a number in 0..128, got -1"]
    assert 'name="output_guard__min_std" value="-1"' in response.content.decode()


# --- views: secrets ------------------------------------------------------------------------------


def _secret_post(client, value: str = PLAINTEXT, name: str = "api_key", **headers):
    data = {"secret-provider": "openai", "secret-name": name, "secret-value": value}
    return client.post(_url("settings_secret_save"), data, **headers)


def test_secret_is_saved_masked_and_audited(artist_client, project):
    response = _secret_post(artist_client, **HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section class="card settings-section" id="secrets">')
    secret = ProjectSecret.objects.get(project=project)
    assert secret.reveal() == PLAINTEXT
    assert secret.hint == "sk-…a1b2"
    assert "sk-…a1b2" in body
    assert AuditEvent.objects.filter(action="secret.created", target="openai/api_key").exists()


def test_secret_plaintext_never_appears_in_any_response(artist_client, project):
    bodies = []
    for headers in (HX, {}):
        bodies.append(_secret_post(artist_client, name="", **headers))  # 400: name missing
        bodies.append(_secret_post(artist_client, **headers))  # saved
    bodies.append(artist_client.get(_url("settings")))
    secret = ProjectSecret.objects.get()
    bodies.append(artist_client.post(_url("settings_secret_delete", secret.pk), **HX))  # confirm?
    bodies.append(artist_client.post(_url("settings_secret_delete", secret.pk)))
    assert [r.status_code for r in bodies] == [400, 200, 400, 302, 200, 200, 200]
    for response in bodies:
        body = response.content.decode()
        assert PLAINTEXT not in body
        assert PLAINTEXT[3:-4] not in body
    assert "sk-…a1b2" in bodies[4].content.decode()


def test_secret_delete_asks_to_confirm_first(artist_client, project, user):
    secret = set_secret(
        project=project, user=user, provider="openai", name="api_key", value=PLAINTEXT
    )
    response = artist_client.post(_url("settings_secret_delete", secret.pk), **HX)
    assert response.status_code == 200
    assert "Delete openai/api_key?" in response.content.decode()
    assert ProjectSecret.objects.exists()
    response = artist_client.post(_url("settings_secret_delete", secret.pk), {"confirm": "1"}, **HX)
    assert response.status_code == 200
    assert not ProjectSecret.objects.exists()
    assert AuditEvent.objects.filter(action="secret.deleted", target="openai/api_key").exists()


# --- views: provider accounts ------------------------------------------------------------------


def test_provider_account_add_edit_and_delete_through_the_page(artist_client, project):
    data = {
        "account-provider": "openai",
        "account-name": "default",
        "account-base_url": "http://127.0.0.1:9/v1",
        "account-is_enabled": "on",
    }
    response = artist_client.post(_url("settings_account_add"), data, **HX)
    assert response.status_code == 200
    account = ProviderAccount.objects.get(project=project)
    assert (account.base_url, account.is_enabled) == ("http://127.0.0.1:9/v1", True)

    prefix = f"acct{account.pk}"
    response = artist_client.post(
        _url("settings_account_edit", account.pk), {f"{prefix}-base_url": "not a url"}, **HX
    )
    assert response.status_code == 400
    assert "Enter a full http(s) URL" in response.content.decode()
    response = artist_client.post(
        _url("settings_account_edit", account.pk), {f"{prefix}-base_url": ""}
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.base_url, account.is_enabled) == ("", False)

    response = artist_client.post(_url("settings_account_delete", account.pk))
    assert response.status_code == 200
    assert "Delete the account openai/default?" in response.content.decode()
    artist_client.post(_url("settings_account_delete", account.pk), {"confirm": "1"}, **HX)
    assert not ProviderAccount.objects.exists()


def test_duplicate_provider_account_is_400_at_the_name(artist_client, project, user):
    add_provider_account(project=project, user=user, provider="openai")
    data = {"account-provider": "openai", "account-name": "default"}
    response = artist_client.post(_url("settings_account_add"), data, **HX)
    assert response.status_code == 400
    assert "already has a openai account" in response.content.decode().replace("&#x27;", "'")
    assert response.context["account_form"].errors["name"]


# --- the admin and New Run ------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [{"generation": {"max_candidates": 9}}, {"output_guard": {"min_std": -1}}],
)
def test_admin_refuses_an_invalid_override(admin_client, project, overrides):
    url = reverse("admin:projects_project_change", args=[project.pk])
    data = {
        "name": project.name,
        "slug": project.slug,
        "owner": project.owner_id,
        "logline": "",
        "setting": "",
        "tone": "",
        "notes": "",
        "manifest_overrides": json.dumps(overrides),
    }
    response = admin_client.post(url, data)
    assert response.status_code == 200  # the form again, with the error
    errors = response.context["adminform"].form.errors["manifest_overrides"]
    assert "must be" in errors[0]
    project.refresh_from_db()
    assert project.manifest_overrides == {}


def test_new_run_with_unreadable_settings_names_the_error_and_links_settings(
    artist_client, scene_project
):
    Project.objects.filter(pk=scene_project.pk).update(
        manifest_overrides={"generation": {"max_candidates": 9}}
    )
    body = artist_client.get(reverse("pipeline:run_new", args=["noir_city"])).content.decode()
    assert "generation.max_candidates: must be 1..6, got 9" in body
    assert "no scenes yet" not in body
    assert f'href="{_url("settings")}#generation"' in body


# --- in a browser --------------------------------------------------------------------------------


def _shot(page, name: str) -> None:
    """Keep a screenshot when KROMA_SCREENSHOT_DIR is set (to look at the page)."""
    if shots := os.environ.get("KROMA_SCREENSHOT_DIR"):
        Path(shots).mkdir(parents=True, exist_ok=True)
        # caret="initial": hiding the caret injects an inline style, which the CSP blocks.
        page.screenshot(path=f"{shots}/{name}.png", full_page=True, caret="initial")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_settings_page_in_the_browser_at_three_widths(live_server, browser_page, project, user):
    set_secret(project=project, user=user, provider="openai", name="api_key", value=PLAINTEXT)
    add_provider_account(
        project=project, user=user, provider="openai", base_url="https://api.openai.com/v1"
    )
    page = browser_page
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    test_browser._login(page, live_server)
    page.goto(f"{live_server.url}{_url('settings')}")
    # An invalid value is refused at its field, in place (htmx), and nothing is saved.
    page.fill("input[name=generation__max_candidates]", "9")
    page.click("text=Save settings")
    page.locator("#generation .field-error").first.wait_for()
    assert "must be 1..6, got 9" in page.locator("#generation").inner_text()
    _shot(page, "settings-error")
    project.refresh_from_db()
    assert project.manifest_overrides == {}
    page.fill("input[name=generation__max_candidates]", "4")
    page.click("text=Save settings")
    page.locator("#generation .saved-note").wait_for()
    project.refresh_from_db()
    assert project.manifest_overrides == {"generation": {"max_candidates": 4}}
    # Deleting a secret asks first.
    page.click("#secrets >> text=Delete…")
    page.locator("#secrets .confirm-inline").wait_for()
    _shot(page, "settings-confirm")
    page.click("#secrets .confirm-inline >> text=Cancel")
    page.locator("#secrets .confirm-inline").wait_for(state="detached")
    assert ProjectSecret.objects.count() == 1
    page.goto(f"{live_server.url}{_url('settings')}")
    for width in (1440, 768, 390):
        page.set_viewport_size({"width": width, "height": 900})
        _shot(page, f"settings-{width}")
        sideways = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert sideways <= 0, f"{width} px: {sideways} px of sideways scroll"
    assert PLAINTEXT not in page.content()
    page.click("#secrets >> text=Delete…")
    page.click("#secrets .confirm-inline button[type=submit]")
    page.locator("#secrets .saved-note").wait_for()
    assert not ProjectSecret.objects.exists()
    assert violations == []
