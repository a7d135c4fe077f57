"""A locked style guide means it: model, services, admin and the Style page all refuse edits."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kroma.lib.errors import UserError
from kroma.lib.images import ImageRejectedError
from projects.errors import StyleLocked
from projects.models import Asset, AuditEvent, Project, StyleGuide, StyleReference
from projects.services.assets import store_image
from projects.services.references import add_references
from projects.services.security import lock_style_guide, unlock_style_guide
from projects.services.style import (
    add_style_references,
    create_style_guide,
    remove_style_reference,
    update_style_guide,
)

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
LOCKED_MESSAGE = (
    "Style guide &#x27;Ink&#x27; is locked: unlock it first (audited) to change its rules or "
    "references."
)


def _guide(project: Project, make_png, *, refs: int = 1, locked: bool = False) -> StyleGuide:
    guide = StyleGuide.objects.create(
        project=project, slug="ink", name="Ink", description="Brush ink.", rules="Ink lines."
    )
    for i in range(refs):
        asset = store_image(
            project=project, data=make_png(40 + i, 40), kind="style_ref", name=f"ink{i}.png"
        )
        StyleReference.objects.create(style_guide=guide, asset=asset, position=i)
    if locked:
        guide.status = StyleGuide.Status.LOCKED
        guide.save()
    return guide


def _actions(project: Project) -> list[str]:
    events = AuditEvent.objects.filter(project=project, action__startswith="style_guide.")
    return list(events.order_by("pk").values_list("action", flat=True))


# --- the model ---------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["name", "description", "rules"])
def test_locked_guide_refuses_a_content_change_and_keeps_it(project, make_png, field):
    guide = _guide(project, make_png, locked=True)
    setattr(guide, field, "Changed after locking")
    with pytest.raises(StyleLocked, match="Style guide 'Ink' is locked: unlock it first"):
        guide.save()
    stored = StyleGuide.objects.get(pk=guide.pk)
    assert (stored.name, stored.description, stored.rules) == ("Ink", "Brush ink.", "Ink lines.")


def test_locked_guide_saves_unchanged_and_unlocks(project, make_png):
    guide = _guide(project, make_png, locked=True)
    guide.save()
    guide.status = StyleGuide.Status.DRAFT
    guide.save()
    guide.rules = "Now editable."
    guide.save()
    assert StyleGuide.objects.get(pk=guide.pk).rules == "Now editable."


def test_unlocking_and_editing_in_one_save_is_refused(project, make_png):
    guide = _guide(project, make_png, locked=True)
    guide.status, guide.rules = StyleGuide.Status.DRAFT, "Sneaked in with the unlock"
    with pytest.raises(StyleLocked):
        guide.save()
    assert StyleGuide.objects.get(pk=guide.pk).is_locked


def test_locked_guide_refuses_adding_changing_and_deleting_references(project, make_png):
    guide = _guide(project, make_png, locked=True)
    ref = guide.references.get()
    extra = store_image(project=project, data=make_png(70, 70), kind="style_ref", name="x.png")
    with pytest.raises(StyleLocked):
        StyleReference.objects.create(style_guide=guide, asset=extra, position=5)
    ref.position = 9
    with pytest.raises(StyleLocked):
        ref.save()
    with pytest.raises(StyleLocked):
        ref.delete()
    assert list(guide.references.values_list("asset_id", "position")) == [(ref.asset_id, 0)]


def test_a_reference_cannot_be_moved_out_of_a_locked_guide(project, make_png):
    guide = _guide(project, make_png, locked=True)
    draft = StyleGuide.objects.create(project=project, slug="draft", name="Draft")
    ref = guide.references.get()
    ref.style_guide = draft
    with pytest.raises(StyleLocked):
        ref.save()
    assert guide.references.count() == 1


def test_locked_guide_is_not_deleted_but_its_project_is(project, make_png):
    guide = _guide(project, make_png, locked=True)
    with pytest.raises(StyleLocked):
        guide.delete()
    assert StyleGuide.objects.filter(pk=guide.pk).exists()
    StyleReference.objects.filter(style_guide__project=project).delete()  # as in test_models
    project.delete()
    assert not StyleGuide.objects.exists() and not StyleReference.objects.exists()


# --- the content hash --------------------------------------------------------------------


def test_content_hash_is_the_documented_sha256(project, make_png):
    guide = _guide(project, make_png, refs=2)
    shas = [ref.asset.sha256 for ref in guide.references.order_by("position")]
    payload = json.dumps(
        ["kroma.style-guide.v1", "Ink", "Brush ink.", "Ink lines.", shas],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    assert guide.content_sha256 == hashlib.sha256(payload.encode()).hexdigest()


@pytest.mark.parametrize(
    "change",
    ["name", "description", "rules", "add reference", "remove reference", "reorder references"],
)
def test_content_hash_changes_with_the_content(project, make_png, change):
    guide = _guide(project, make_png, refs=2)
    before = guide.content_sha256
    first, second = guide.references.order_by("position")
    if change in ("name", "description", "rules"):
        setattr(guide, change, getattr(guide, change) + " More.")
        guide.save()
    elif change == "add reference":
        asset = store_image(project=project, data=make_png(90, 90), kind="style_ref", name="n.png")
        StyleReference.objects.create(style_guide=guide, asset=asset, position=3)
    elif change == "remove reference":
        second.delete()
    else:
        first.position, second.position = 1, 0
        first.save()
        second.save()
    assert StyleGuide.objects.get(pk=guide.pk).content_sha256 != before


def test_content_hash_ignores_slug_status_notes_and_line_endings(project, make_png):
    guide = _guide(project, make_png, refs=2)
    before = guide.content_sha256
    lock_style_guide(guide=guide, user=None)
    assert guide.content_sha256 == before
    unlock_style_guide(guide=guide, user=None)
    guide.slug = "ink-renamed"
    guide.save()
    ref = guide.references.first()
    ref.notes = "the cleanest hatching"
    ref.save()
    assert StyleGuide.objects.get(pk=guide.pk).content_sha256 == before
    guide.rules = "A\r\nB"
    crlf = guide.content_sha256
    guide.rules = "A\nB"
    assert guide.content_sha256 == crlf != before


def test_content_hash_reads_prefetched_references_in_order(project, make_png):
    guide = _guide(project, make_png, refs=3)
    plain = guide.content_sha256
    prefetched = StyleGuide.objects.prefetch_related("references__asset").get(pk=guide.pk)
    with CaptureQueriesContext(connection) as queries:
        assert prefetched.content_sha256 == plain
    assert len(queries) == 0


# --- the services ------------------------------------------------------------------------


def test_create_style_guide_is_a_draft_with_a_free_slug_and_audited(project, user):
    first = create_style_guide(project=project, user=user, name="Ink wash", rules="Soft.")
    second = create_style_guide(project=project, user=user, name="Ink  wash")
    assert (first.slug, second.slug) == ("ink-wash", "ink-wash-2")
    assert not first.is_locked and first.rules == "Soft."
    assert _actions(project) == ["style_guide.created", "style_guide.created"]
    with pytest.raises(UserError, match="Give the style guide a name") as exc:
        create_style_guide(project=project, user=user, name="  ")
    assert exc.value.field == "name"


def test_update_style_guide_changes_text_and_audits_the_fields(project, user, make_png):
    guide = _guide(project, make_png)
    updated = update_style_guide(
        guide=guide, user=user, name="Ink", rules="Cross-hatching.\r\nNo greys."
    )
    assert updated.rules == "Cross-hatching.\nNo greys."
    event = AuditEvent.objects.get(action="style_guide.updated")
    assert event.target == "ink" and event.actor == user
    assert event.data == {"fields": ["rules"], "content_sha256": updated.content_sha256}
    # The same text again (as a browser sends it) is no change and no audit event.
    update_style_guide(guide=guide, user=user, rules="Cross-hatching.\r\nNo greys.")
    assert _actions(project) == ["style_guide.updated"]


def test_update_of_a_locked_guide_is_refused_and_not_audited(project, user, make_png):
    guide = _guide(project, make_png, locked=True)
    with pytest.raises(StyleLocked) as exc:
        update_style_guide(guide=guide, user=user, rules="Changed.")
    assert exc.value.code == "style_locked"
    assert StyleGuide.objects.get(pk=guide.pk).rules == "Ink lines."
    assert _actions(project) == []


def test_update_refuses_a_guide_locked_since_it_was_read(project, user, make_png):
    guide = _guide(project, make_png)
    stale = StyleGuide.objects.get(pk=guide.pk)
    lock_style_guide(guide=guide, user=user)
    with pytest.raises(StyleLocked):
        update_style_guide(guide=stale, user=user, rules="Changed.")
    assert StyleGuide.objects.get(pk=guide.pk).rules == "Ink lines."


def test_add_style_references_appends_in_order_and_audits(project, user, make_png):
    guide = _guide(project, make_png)
    files = [("a.png", make_png(50, 50)), ("b.png", make_png(51, 50))]
    assets = add_style_references(guide=guide, user=user, files=files)
    refs = list(guide.references.order_by("position").select_related("asset"))
    assert [r.asset.title for r in refs] == ["ink0.png", "a.png", "b.png"]
    assert [r.position for r in refs] == [0, 1, 2]
    assert {a.kind for a in assets} == {Asset.Kind.STYLE_REF}
    event = AuditEvent.objects.get(action="style_guide.references_added")
    assert event.data == {
        "assets": [a.pk for a in assets],
        "content_sha256": StyleGuide.objects.get(pk=guide.pk).content_sha256,
    }


def test_one_bad_reference_file_stores_nothing_and_is_named(project, user, make_png):
    guide = _guide(project, make_png)
    files = [("good.png", make_png(60, 60)), ("broken.png", b"not an image")]
    with pytest.raises(ImageRejectedError, match=r"broken\.png"):
        add_style_references(guide=guide, user=user, files=files)
    assert Asset.objects.count() == 1 and guide.references.count() == 1
    assert _actions(project) == []


def test_adding_references_to_a_locked_guide_is_refused_before_storing(project, user, make_png):
    guide = _guide(project, make_png, locked=True)
    with pytest.raises(StyleLocked) as exc:
        add_style_references(guide=guide, user=user, files=[("n.png", make_png(61, 61))])
    assert exc.value.field == "images"
    assert Asset.objects.count() == 1 and _actions(project) == []


def test_remove_style_reference_audits_and_keeps_the_asset(project, user, make_png):
    guide = _guide(project, make_png, refs=2)
    ref = guide.references.order_by("position").first()
    remove_style_reference(guide=guide, user=user, reference_id=ref.pk)
    assert guide.references.count() == 1
    assert Asset.objects.filter(pk=ref.asset_id).exists()
    event = AuditEvent.objects.get(action="style_guide.reference_removed")
    assert event.data["asset"] == ref.asset_id and event.data["sha256"] == ref.asset.sha256
    with pytest.raises(UserError, match="not one of this guide's references"):
        remove_style_reference(guide=guide, user=user, reference_id=ref.pk)


def test_remove_from_a_locked_guide_is_refused(project, user, make_png):
    guide = _guide(project, make_png, locked=True)
    with pytest.raises(StyleLocked):
        remove_style_reference(guide=guide, user=user, reference_id=guide.references.get().pk)
    assert guide.references.count() == 1


def test_lock_and_unlock_are_audited_with_the_content_hash(project, user, make_png):
    guide = _guide(project, make_png)
    content = guide.content_sha256
    lock_style_guide(guide=guide, user=user)
    unlock_style_guide(guide=guide, user=user)
    events = AuditEvent.objects.filter(project=project, action__startswith="style_guide.")
    assert [(e.action, e.actor, e.data) for e in events.order_by("pk")] == [
        ("style_guide.locked", user, {"content_sha256": content}),
        ("style_guide.unlocked", user, {"content_sha256": content}),
    ]


def test_universe_style_upload_refuses_a_locked_guide_instead_of_filing_into_it(
    project, user, make_png
):
    guide = _guide(project, make_png, locked=True)
    with pytest.raises(StyleLocked) as exc:
        add_references(project=project, user=user, kind="style", files=[("n.png", make_png(3))])
    assert exc.value.field == "images"
    assert guide.references.count() == 1 and Asset.objects.count() == 1


# --- the admin ---------------------------------------------------------------------------


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "pw"))
    return client


def _admin_form(guide: StyleGuide, **changes: object) -> dict[str, object]:
    ref = guide.references.get()
    return {
        "project": guide.project_id,
        "slug": guide.slug,
        "name": guide.name,
        "description": guide.description,
        "rules": guide.rules,
        "references-TOTAL_FORMS": "1",
        "references-INITIAL_FORMS": "1",
        "references-MIN_NUM_FORMS": "0",
        "references-MAX_NUM_FORMS": "1000",
        "references-0-id": ref.pk,
        "references-0-style_guide": guide.pk,
        "references-0-asset": ref.asset_id,
        "references-0-position": ref.position,
        "references-0-notes": "",
        **changes,
    }


def test_admin_post_changing_a_locked_guides_rules_is_refused(superuser_client, project, make_png):
    guide = _guide(project, make_png, locked=True)
    url = reverse("admin:projects_styleguide_change", args=[guide.pk])
    response = superuser_client.post(
        url, _admin_form(guide, rules="Changed in the admin", **{"references-0-DELETE": "on"})
    )
    guide.refresh_from_db()
    assert guide.rules == "Ink lines." and guide.is_locked
    assert guide.references.count() == 1
    page = superuser_client.get(response["Location"]).content.decode()
    assert LOCKED_MESSAGE in page


def test_admin_shows_a_locked_guide_read_only_with_the_reason(superuser_client, project, make_png):
    guide = _guide(project, make_png, locked=True)
    page = superuser_client.get(reverse("admin:projects_styleguide_change", args=[guide.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert 'name="rules"' not in body and 'name="references-0-position"' not in body
    assert LOCKED_MESSAGE in body and "Use “Unlock selected style guides” in the list." in body
    assert guide.content_sha256 in body


def test_admin_cannot_lock_or_unlock_through_the_form(superuser_client, project, make_png):
    guide = _guide(project, make_png)
    url = reverse("admin:projects_styleguide_change", args=[guide.pk])
    superuser_client.post(url, _admin_form(guide, status="locked", rules="Draft edit"))
    guide.refresh_from_db()
    assert not guide.is_locked and guide.rules == "Draft edit"


def test_admin_does_not_delete_a_locked_guide(superuser_client, project, make_png):
    guide = _guide(project, make_png, locked=True)
    url = reverse("admin:projects_styleguide_delete", args=[guide.pk])
    superuser_client.post(url, {"post": "yes"})
    assert StyleGuide.objects.filter(pk=guide.pk).exists()


# --- the Style page ----------------------------------------------------------------------


def _png_upload(make_png) -> SimpleUploadedFile:
    return SimpleUploadedFile("new.png", make_png(83, 61))


def _url(name: str, project: Project, *args: object) -> str:
    return reverse(f"projects:{name}", args=[project.slug, *args])


def test_style_page_shows_each_guide_with_status_hash_thumbnails_and_forms(
    artist_client, project, make_png
):
    guide = _guide(project, make_png, locked=True)
    draft = StyleGuide.objects.create(project=project, slug="pencil", name="Pencil")
    response = artist_client.get(_url("style", project))
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" in body and 'aria-current="page">Style</a>' in body
    assert guide.content_sha256[:12] in body and draft.content_sha256[:12] in body
    ref = guide.references.get()
    assert reverse("projects:asset_thumb", args=[project.slug, ref.asset_id]) in body
    assert "Unlock…" in body and "Locked: unlock it first (audited)" in body
    assert body.count(" disabled ") >= 2  # the locked guide's text and upload forms
    assert _url("style_lock", project, "pencil") in body
    assert _url("style_remove_image", project, "ink", ref.pk) not in body  # locked: no remove
    assert "New style guide" in body


def test_style_page_htmx_request_gets_the_guides_region_only(artist_client, project, make_png):
    _guide(project, make_png)
    response = artist_client.get(_url("style", project), **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div class="style-guides" id="style-guides">')
    assert "<html" not in body and "Ink" in body


def test_style_pages_of_another_users_project_are_404(artist_client, other_project, make_png):
    guide = _guide(other_project, make_png)
    assert artist_client.get(_url("style", other_project)).status_code == 404
    assert artist_client.get(_url("style_unlock", other_project, "ink"), **HX).status_code == 404
    posts = [
        (_url("style_edit", other_project, "ink"), {"name": "Mine", "rules": "x"}),
        (_url("style_lock", other_project, "ink"), {}),
        (_url("style_new", other_project), {"name": "Mine"}),
        (_url("style_remove_image", other_project, "ink", guide.references.get().pk), {}),
        (_url("style_unlock", other_project, "ink"), {"confirm": "on"}),
        (_url("style_add_images", other_project, "ink"), {"images": [_png_upload(make_png)]}),
    ]
    for url, data in posts:
        assert artist_client.post(url, data).status_code == 404
    guide.refresh_from_db()
    assert (guide.name, guide.is_locked, guide.references.count()) == ("Ink", False, 1)
    assert StyleGuide.objects.count() == 1 and Asset.objects.count() == 1


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_editing_a_locked_guide_is_400_with_the_message(artist_client, project, make_png, headers):
    _guide(project, make_png, locked=True)
    response = artist_client.post(
        _url("style_edit", project, "ink"),
        {"name": "Ink", "description": "", "rules": "Changed."},
        **headers,
    )
    assert response.status_code == 400
    assert LOCKED_MESSAGE in response.content.decode()
    assert StyleGuide.objects.get().rules == "Ink lines."


def test_editing_a_draft_saves_through_the_service(artist_client, project, make_png):
    _guide(project, make_png)
    data = {"name": "Ink", "description": "Brush ink.", "rules": "Heavier blacks."}
    response = artist_client.post(_url("style_edit", project, "ink"), data, **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<article class="card style-guide" id="guide-ink"')
    assert "Saved." in body and "Heavier blacks." in body
    assert StyleGuide.objects.get().rules == "Heavier blacks."
    assert _actions(project) == ["style_guide.updated"]
    empty = artist_client.post(_url("style_edit", project, "ink"), {**data, "name": ""}, **HX)
    assert empty.status_code == 400
    assert 'aria-invalid="true"' in empty.content.decode()
    plain = artist_client.post(_url("style_edit", project, "ink"), {**data, "rules": "Plain."})
    assert plain.status_code == 302 and plain["Location"].endswith("/style/#guide-ink")


def test_uploading_references_on_the_page(artist_client, project, make_png):
    guide = _guide(project, make_png)
    files = [SimpleUploadedFile(f"new{i}.png", make_png(80 + i, 60)) for i in range(2)]
    response = artist_client.post(_url("style_add_images", project, "ink"), {"images": files}, **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div class="style-refs" id="refs-ink">')
    assert "Added 2 reference images." in body
    fresh = StyleGuide.objects.get(pk=guide.pk)
    assert 'id="meta-ink" hx-swap-oob="true"' in body and fresh.content_sha256[:12] in body
    assert guide.references.count() == 3


def test_one_bad_upload_is_400_naming_it_and_nothing_is_added(artist_client, project, make_png):
    guide = _guide(project, make_png)
    files = [SimpleUploadedFile("fine.png", make_png(81, 60)), SimpleUploadedFile("bad.png", b"x")]
    response = artist_client.post(_url("style_add_images", project, "ink"), {"images": files})
    assert response.status_code == 400
    assert "bad.png is not an image Kroma can read" in response.content.decode()
    assert guide.references.count() == 1 and Asset.objects.count() == 1
    nothing = artist_client.post(_url("style_add_images", project, "ink"), {}, **HX)
    assert nothing.status_code == 400 and "Choose at least one image." in nothing.content.decode()


def test_uploading_to_a_locked_guide_is_400(artist_client, project, make_png):
    _guide(project, make_png, locked=True)
    files = [SimpleUploadedFile("late.png", make_png(82, 60))]
    response = artist_client.post(_url("style_add_images", project, "ink"), {"images": files}, **HX)
    assert response.status_code == 400 and LOCKED_MESSAGE in response.content.decode()
    assert Asset.objects.count() == 1


def test_removing_a_reference_on_the_page(artist_client, project, make_png):
    guide = _guide(project, make_png, refs=2)
    ref = guide.references.order_by("position").first()
    response = artist_client.post(_url("style_remove_image", project, "ink", ref.pk), **HX)
    assert response.status_code == 200 and "Reference image removed." in response.content.decode()
    assert list(guide.references.all()) == [guide.references.get()]
    again = artist_client.post(_url("style_remove_image", project, "ink", ref.pk), **HX)
    assert again.status_code == 400


def test_lock_then_unlock_asks_for_confirmation(artist_client, project, make_png):
    _guide(project, make_png)
    locked = artist_client.post(_url("style_lock", project, "ink"), **HX)
    assert locked.status_code == 200 and "Locked." in locked.content.decode()
    assert StyleGuide.objects.get().is_locked
    question = artist_client.get(_url("style_unlock", project, "ink"), **HX)
    assert "Yes, unlock" in question.content.decode()
    assert StyleGuide.objects.get().is_locked
    unconfirmed = artist_client.post(_url("style_unlock", project, "ink"), **HX)
    assert unconfirmed.status_code == 400 and StyleGuide.objects.get().is_locked
    done = artist_client.post(_url("style_unlock", project, "ink"), {"confirm": "on"}, **HX)
    assert done.status_code == 200 and not StyleGuide.objects.get().is_locked
    assert _actions(project) == ["style_guide.locked", "style_guide.unlocked"]


def test_locking_a_guide_without_references_is_400_with_the_reason(artist_client, project):
    StyleGuide.objects.create(project=project, slug="bare", name="Bare")
    response = artist_client.post(_url("style_lock", project, "bare"))
    assert response.status_code == 400
    assert "has no style references: add some before locking it" in response.content.decode()


def test_new_style_guide_on_the_page(artist_client, project):
    response = artist_client.post(_url("style_new", project), {"name": "Watercolour"}, **HX)
    body = response.content.decode()
    assert response.status_code == 200 and 'id="guide-watercolour"' in body
    assert StyleGuide.objects.get().name == "Watercolour"
    refused = artist_client.post(_url("style_new", project), {"name": ""})
    assert refused.status_code == 400 and "This field is required." in refused.content.decode()


def test_style_page_query_count_is_the_same_for_one_and_three_guides(
    artist_client, project, make_png
):
    def add_guide(i: int) -> None:
        guide = StyleGuide.objects.create(project=project, slug=f"g{i}", name=f"G{i}")
        asset = store_image(project=project, data=make_png(30 + i, 30), kind="style_ref")
        StyleReference.objects.create(style_guide=guide, asset=asset)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert artist_client.get(_url("style", project)).status_code == 200
        return len(captured)

    add_guide(0)
    one = queries()
    add_guide(1)
    add_guide(2)
    assert queries() == one


# --- in a real browser -------------------------------------------------------------------


@pytest.fixture
def browser_page(monkeypatch):
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser.new_page(viewport={"width": 1440, "height": 900})
        browser.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_style_page_in_the_browser_at_three_widths(
    live_server, browser_page, project, make_png, tmp_path
):
    """Set up, lock and unlock a guide with the keyboard; screenshots at 1440, 768 and 390 px
    (in $KROMA_SCREENSHOTS when set); no sideways scroll and no CSP violation at any width."""
    import os
    from pathlib import Path

    from playwright.sync_api import expect

    shots = Path(os.environ.get("KROMA_SCREENSHOTS") or tmp_path)
    # caret="initial": Playwright's caret hiding leaves style="" on inputs, which htmx then
    # copies onto swapped-in inputs, and the CSP (rightly) blocks that.
    shots.mkdir(parents=True, exist_ok=True)
    _guide(project, make_png, refs=3, locked=True)
    pencil = create_style_guide(
        project=project,
        user=None,
        name="Pencil and wash",
        description="Graphite under thin watercolour washes.",
        rules="Soft graphite lines, visible paper grain, two-tone washes; never pure black.",
    )
    for i in range(2):
        asset = store_image(
            project=project, data=make_png(90 + i, 70), kind="style_ref", name=f"wash-{i}.png"
        )
        StyleReference.objects.create(style_guide=pencil, asset=asset, position=i)
    page = browser_page
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text else 0)
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "artist")
    page.fill("#id_password", "pw-artist-123")
    page.click("button[type=submit]")
    url = f"{live_server.url}{_url('style', project)}"
    for width in (1440, 768, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(url)
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{overflow}px sideways scroll at {width}px"
        page.screenshot(path=str(shots / f"style-{width}.png"), full_page=True, caret="initial")

    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(url)
    card = page.locator("#guide-pencil-and-wash")
    # Edit the rules with the keyboard: Save answers in place.
    card.get_by_label("Rules").fill("Soft graphite, paper grain, two-tone washes.")
    card.get_by_role("button", name="Save").press("Enter")
    expect(card.locator(".note")).to_have_text("Saved.")
    # A bad file among good ones is named; nothing is added.
    card = page.locator("#guide-pencil-and-wash")
    card.locator("input[type=file]").set_input_files(
        [
            {"name": "good.png", "mimeType": "image/png", "buffer": make_png(77, 77)},
            {"name": "notes.png", "mimeType": "image/png", "buffer": b"plain text"},
        ]
    )
    card.get_by_role("button", name="Add images").click()
    expect(card.locator(".style-refs .field-error")).to_contain_text("notes.png")
    assert pencil.references.count() == 2
    page.screenshot(path=str(shots / "style-upload-error.png"), full_page=True, caret="initial")
    # Lock, then unlock: unlocking asks first.
    card.get_by_role("button", name="Lock").press("Enter")
    expect(card.locator(".badge-status")).to_have_text("locked")
    expect(card.get_by_label("Rules")).to_be_disabled()
    card.get_by_role("button", name="Unlock…").press("Enter")
    expect(card.get_by_text("Unlock “Pencil and wash”?")).to_be_visible()
    expect(card.get_by_role("link", name="Keep it locked")).to_be_focused()
    page.set_viewport_size({"width": 390, "height": 900})
    page.screenshot(
        path=str(shots / "style-confirm-unlock-390.png"), full_page=True, caret="initial"
    )
    card.get_by_role("button", name="Yes, unlock").press("Enter")
    expect(card.locator(".badge-status")).to_have_text("draft")
    assert not StyleGuide.objects.get(pk=pencil.pk).is_locked
    assert violations == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_locking_with_unsaved_rules_asks_first(live_server, browser_page, project, make_png):
    from playwright.sync_api import expect

    guide = _guide(project, make_png)
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "artist")
    page.fill("#id_password", "pw-artist-123")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}{_url('style', project)}")
    card = page.locator("#guide-ink")
    card.get_by_label("Rules").fill("Ink lines, no greys.")
    asked: list[str] = []

    def answer(dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss() if len(asked) == 1 else dialog.accept()

    page.on("dialog", answer)
    card.get_by_role("button", name="Lock", exact=True).click()
    expect(card.get_by_label("Rules")).to_have_value("Ink lines, no greys.")  # kept
    guide.refresh_from_db()
    assert not guide.is_locked and "unsaved changes" in asked[0]
    card.get_by_role("button", name="Lock", exact=True).click()
    expect(page.locator("#guide-ink .badge-status")).to_have_text("locked")
    guide.refresh_from_db()
    assert guide.is_locked and guide.rules == "Ink lines."
