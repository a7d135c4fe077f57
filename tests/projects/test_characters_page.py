"""Characters and outfits in the browser: the services, the Characters pages, the universe
page's character-reference upload."""

from __future__ import annotations

import itertools
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

from kroma.lib.errors import UserError
from kroma.lib.images import ImageRejectedError
from projects.models import (
    Asset,
    AuditEvent,
    CastMember,
    Chapter,
    Character,
    Outfit,
    Page,
    Panel,
    Project,
    ReferenceSet,
    ReferenceSetItem,
)
from projects.services.characters import (
    add_outfit,
    create_character,
    create_character_with_sheets,
    delete_character,
    delete_outfit,
    remove_reference,
    update_character,
    update_outfit,
)
from projects.services.references import add_references

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
_WIDTHS = itertools.count(40)


def _actions(project: Project) -> list[str]:
    events = AuditEvent.objects.filter(project=project).exclude(action="project.created")
    return list(events.order_by("pk").values_list("action", flat=True))


def _png(make_png, name: str = "mara.png", width: int = 64) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, make_png(width, 48), content_type="image/png")


def _sheets(project: Project, character: Character, make_png, n: int = 1, outfit=None):
    """n new sheets; each image is a new size, so no two calls share an asset."""
    files = [(f"sheet{i}.png", make_png(next(_WIDTHS), 40)) for i in range(n)]
    return add_references(
        project=project,
        user=None,
        kind="character",
        files=files,
        character=character,
        outfit=outfit,
    )


def _panel(project: Project, title: str, key: str) -> Panel:
    chapter, _ = Chapter.objects.get_or_create(project=project, position=1)
    page, _ = Page.objects.get_or_create(project=project, chapter=chapter, position=1)
    return Panel.objects.create(project=project, page=page, key=key, title=title)


def _cast(panel: Panel, character: Character, outfit: Outfit | None = None) -> CastMember:
    return CastMember.objects.create(panel=panel, character=character, outfit=outfit)


def _url(name: str, project: Project, *args: object) -> str:
    return reverse(f"projects:{name}", args=[project.slug, *args])


@pytest.fixture
def mara(project, user) -> Character:
    return create_character(
        project=project,
        actor=user,
        name="Mara Voss",
        description="A dock worker with a scar over her left brow.",
        continuity_notes="Scar over the left brow; grey eyes.",
    )


# --- services ---


def test_creating_updating_and_deleting_a_character_is_audited(project, user):
    character = create_character(project=project, actor=user, name="  Ivo  ", description="Tall.")
    assert (character.name, character.slug, character.description) == ("Ivo", "ivo", "Tall.")
    update_character(character=character, actor=user, name="Ivo", description="Tall.")
    update_character(character=character, actor=user, continuity_notes="Left-handed.")
    delete_character(character=character, actor=user)
    assert not Character.objects.exists()
    assert _actions(project) == ["character.created", "character.changed", "character.deleted"]
    changed = AuditEvent.objects.get(action="character.changed")
    assert (changed.actor, changed.data["fields"]) == (user, ["continuity_notes"])


def test_a_taken_character_name_is_refused_at_the_name_field(project, user, mara):
    with pytest.raises(UserError, match="There is already a character named mara voss") as err:
        create_character(project=project, actor=user, name="mara voss")
    assert (err.value.field, err.value.code) == ("name", "taken")
    ivo = create_character(project=project, actor=user, name="Ivo")
    with pytest.raises(UserError) as err:
        update_character(character=ivo, actor=user, name="MARA VOSS")
    assert err.value.field == "name"
    assert Character.objects.get(pk=ivo.pk).name == "Ivo"


def test_deleting_a_character_leaves_every_cast_and_keeps_its_images(project, user, mara, make_png):
    coat = add_outfit(character=mara, actor=user, name="Raincoat")
    assets = _sheets(project, mara, make_png) + _sheets(project, mara, make_png, outfit=coat)
    panel = _panel(project, "Harbour", "harbour")
    _cast(panel, mara, coat)
    delete_character(character=mara, actor=user)
    assert not CastMember.objects.exists() and Panel.objects.filter(pk=panel.pk).exists()
    assert Asset.objects.filter(pk__in=[a.pk for a in assets]).count() == 2
    assert not ReferenceSet.objects.exists() and not Outfit.objects.exists()
    event = AuditEvent.objects.get(action="character.deleted")
    assert event.data["left_panels"] == ["harbour"]
    assert sorted(event.data["kept_assets"]) == sorted(a.pk for a in assets)
    # A new character of the same name starts with no sheets, and its own are filed under it.
    again = create_character(project=project, actor=user, name="Mara Voss")
    assert again.slug == "mara-voss"
    _sheets(project, again, make_png)
    assert ReferenceSetItem.objects.get().reference_set.character == again


def test_outfits_are_added_changed_and_deleted_with_audit(project, user, mara):
    coat = add_outfit(character=mara, actor=user, name="Raincoat", description="Yellow.")
    update_outfit(outfit=coat, actor=user, name="Raincoat", description="Yellow, torn.")
    update_outfit(outfit=coat, actor=user, name="Raincoat", description="Yellow, torn.")
    panel = _panel(project, "Harbour", "harbour")
    member = _cast(panel, mara, coat)
    delete_outfit(outfit=coat, actor=user)
    member.refresh_from_db()
    assert (member.character, member.outfit) == (mara, None)
    assert _actions(project) == [
        "character.created",
        "outfit.created",
        "outfit.changed",
        "outfit.deleted",
    ]


def test_a_taken_outfit_name_is_refused_at_the_name_field(project, user, mara):
    add_outfit(character=mara, actor=user, name="Raincoat")
    suit = add_outfit(character=mara, actor=user, name="Suit")
    with pytest.raises(UserError, match="Mara Voss already has an outfit named raincoat") as err:
        add_outfit(character=mara, actor=user, name="raincoat")
    assert err.value.field == "name"
    with pytest.raises(UserError) as err:
        update_outfit(outfit=suit, actor=user, name="RAINCOAT")
    assert err.value.field == "name"
    assert list(mara.outfits.values_list("name", flat=True)) == ["Raincoat", "Suit"]
    # Another character may have an outfit of that name.
    ivo = create_character(project=project, actor=user, name="Ivo")
    assert add_outfit(character=ivo, actor=user, name="Raincoat").name == "Raincoat"


def test_remove_reference_takes_the_sheet_out_and_keeps_the_image(project, user, mara, make_png):
    coat = add_outfit(character=mara, actor=user, name="Raincoat")
    (own,) = _sheets(project, mara, make_png)
    (worn,) = _sheets(project, mara, make_png, outfit=coat)
    own_item = ReferenceSetItem.objects.get(asset=own)
    worn_item = ReferenceSetItem.objects.get(asset=worn)
    with pytest.raises(UserError, match="not one of this character's sheets") as err:
        remove_reference(character=mara, actor=user, item_id=worn_item.pk)  # not its own sheet
    assert err.value.code == "not_found"
    remove_reference(character=mara, actor=user, item_id=worn_item.pk, outfit=coat)
    remove_reference(character=mara, actor=user, item_id=own_item.pk)
    assert not ReferenceSetItem.objects.exists()
    assert Asset.objects.filter(pk__in=[own.pk, worn.pk]).count() == 2
    events = AuditEvent.objects.filter(action="character.sheet_removed").order_by("pk")
    assert [(e.target, e.data["asset"]) for e in events] == [
        ("mara-voss/Raincoat", worn.pk),
        ("mara-voss", own.pk),
    ]
    ivo = create_character(project=project, actor=user, name="Ivo")
    (theirs,) = _sheets(project, ivo, make_png)
    with pytest.raises(UserError):
        remove_reference(
            character=mara, actor=user, item_id=ReferenceSetItem.objects.get(asset=theirs).pk
        )


def test_a_new_character_with_a_bad_sheet_is_not_left_behind(project, user, make_png):
    files = [("ok.png", make_png()), ("bad.png", b"not an image")]
    with pytest.raises(ImageRejectedError, match=r"bad\.png"):
        create_character_with_sheets(project=project, actor=user, name="Mara", files=files)
    assert not Character.objects.exists() and not Asset.objects.exists()
    character, _assets = create_character_with_sheets(
        project=project, actor=user, name="Mara", files=files[:1]
    )
    assert ReferenceSetItem.objects.get().reference_set.character == character
    with pytest.raises(UserError) as err:
        create_character_with_sheets(project=project, actor=user, name="mara", files=files[:1])
    assert err.value.field == "name" and Asset.objects.count() == 1


# --- the list page ---


def test_characters_page_lists_cards_with_first_sheet_and_counts(
    artist_client, project, user, mara, make_png
):
    coat = add_outfit(character=mara, actor=user, name="Raincoat")
    _sheets(project, mara, make_png, n=1, outfit=coat)
    (first, _second) = _sheets(project, mara, make_png, n=2)
    _cast(_panel(project, "Harbour", "harbour"), mara, coat)
    _cast(_panel(project, "Alley", "alley"), mara)
    create_character(project=project, actor=user, name="Ivo")
    response = artist_client.get(_url("characters", project))
    body = response.content.decode()
    assert response.status_code == 200 and "<html" in body
    assert _url("asset_thumb", project, first.pk) in body  # its own first sheet, not the outfit's
    assert "3 sheets" in body and "1 outfit" in body and "cast in 2 panels" in body
    assert "A dock worker with a scar" in body and _url("character", project, "ivo") in body
    assert f'href="{_url("characters", project)}" aria-current="page">Characters</a>' in body


def test_characters_page_htmx_request_gets_the_cards_only(artist_client, project, mara):
    response = artist_client.get(_url("characters", project), **HX)
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<ul class="character-cards" id="character-cards">')
    assert "Mara Voss" in body


def test_characters_page_query_count_is_the_same_for_one_and_three(
    artist_client, project, user, make_png
):
    def add(name: str) -> None:
        character = create_character(project=project, actor=user, name=name)
        add_outfit(character=character, actor=user, name="Coat")
        _sheets(project, character, make_png)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert artist_client.get(_url("characters", project)).status_code == 200
        return len(captured)

    add("A")
    one = queries()
    add("B")
    add("C")
    assert queries() == one


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_new_character_is_created_and_opens_its_page(artist_client, project, headers):
    data = {"name": "Mara", "description": "Dock worker.", "continuity_notes": "Scar."}
    response = artist_client.post(_url("character_new", project), data, **headers)
    character = Character.objects.get(project=project)
    url = _url("character", project, "mara")
    if headers:
        assert response.headers["HX-Redirect"] == url
    else:
        assert (response.status_code, response.headers["Location"]) == (302, url)
    assert (character.description, character.continuity_notes) == ("Dock worker.", "Scar.")
    assert _actions(project) == ["character.created"]


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
@pytest.mark.parametrize(
    ("name", "message"),
    [("", "This field is required."), ("mara voss", "There is already a character named")],
)
def test_a_refused_new_character_is_400_at_the_field_with_the_values_kept(
    artist_client, project, mara, headers, name, message
):
    data = {"name": name, "description": "Kept description", "continuity_notes": "Kept notes"}
    response = artist_client.post(_url("character_new", project), data, **headers)
    body = response.content.decode()
    assert response.status_code == 400
    assert f'<div class="field-error" id="id_new_name_error">{message}' in body
    assert "Kept description</textarea>" in body and "Kept notes</textarea>" in body
    assert ("<html" in body) is not bool(headers)
    assert Character.objects.count() == 1


# --- the character page ---


def test_character_page_shows_details_sheets_outfits_and_panels(
    artist_client, project, user, mara, make_png
):
    coat = add_outfit(character=mara, actor=user, name="Raincoat", description="Yellow.")
    (own,) = _sheets(project, mara, make_png)
    (worn,) = _sheets(project, mara, make_png, outfit=coat)
    _cast(_panel(project, "Harbour at dusk", "harbour"), mara, coat)
    response = artist_client.get(_url("character", project, "mara-voss"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Scar over the left brow; grey eyes.</textarea>" in body
    assert 'id="sheets-own"' in body and f'id="sheets-outfit-{coat.pk}"' in body
    assert _url("asset_thumb", project, own.pk) in body
    assert _url("asset_thumb", project, worn.pk) in body
    own_item = ReferenceSetItem.objects.get(asset=own)
    assert _url("character_sheet_remove", project, "mara-voss", own_item.pk) in body
    assert "Harbour at dusk" in body and "Cast in 1 panel" in body
    try:  # the story pages (pipeline) may not be there; then the title is plain text
        panel_url = reverse("pipeline:panel", args=[project.slug, Panel.objects.get().pk])
    except NoReverseMatch:
        panel_url = ""
    assert not panel_url or f'<a class="cast-title" href="{panel_url}">Harbour at dusk</a>' in body
    assert 'aria-current="page">Characters</a>' in body


def test_character_page_query_count_is_the_same_for_one_and_three_outfits(
    artist_client, project, user, mara, make_png
):
    def add(name: str) -> None:
        outfit = add_outfit(character=mara, actor=user, name=name)
        _sheets(project, mara, make_png, n=2, outfit=outfit)
        _cast(_panel(project, f"In the {name}", f"in-{name}"), mara, outfit)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert artist_client.get(_url("character", project, "mara-voss")).status_code == 200
        return len(captured)

    add("coat")
    one = queries()
    add("suit")
    add("cape")
    assert queries() == one


def test_character_of_another_project_or_unknown_is_404(artist_client, project, other_project):
    theirs = Character.objects.create(project=other_project, slug="spy", name="Spy")
    assert artist_client.get(_url("character", project, theirs.slug)).status_code == 404
    assert artist_client.get(_url("character", project, "nobody")).status_code == 404


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_editing_a_character_saves_and_answers_the_details_region(
    artist_client, project, mara, headers
):
    data = {"name": "Mara Voss", "description": "Now a smuggler.", "continuity_notes": "Scar."}
    response = artist_client.post(_url("character_edit", project, "mara-voss"), data, **headers)
    mara.refresh_from_db()
    assert (mara.description, mara.continuity_notes) == ("Now a smuggler.", "Scar.")
    if headers:
        body = response.content.decode()
        assert response.status_code == 200 and "<html" not in body
        assert body.lstrip().startswith('<section class="card character-details"')
        assert "Saved." in body and "Now a smuggler.</textarea>" in body
    else:
        assert response.headers["Location"] == _url("character", project, "mara-voss")


def test_renaming_a_character_reloads_the_page_and_keeps_its_address(artist_client, project, mara):
    data = {"name": "Mara Black", "description": "", "continuity_notes": ""}
    response = artist_client.post(_url("character_edit", project, "mara-voss"), data, **HX)
    assert response.headers["HX-Refresh"] == "true"
    mara.refresh_from_db()
    assert (mara.name, mara.slug) == ("Mara Black", "mara-voss")


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_a_refused_character_edit_is_400_at_the_field_with_the_values_kept(
    artist_client, project, user, mara, headers
):
    create_character(project=project, actor=user, name="Ivo")
    data = {"name": "Ivo", "description": "Typed, not lost.", "continuity_notes": ""}
    response = artist_client.post(_url("character_edit", project, "mara-voss"), data, **headers)
    body = response.content.decode()
    assert response.status_code == 400
    assert (
        '<div class="field-error" id="id_name_error">There is already a character named Ivo.'
        in (body)
    )
    assert 'value="Ivo"' in body and "Typed, not lost.</textarea>" in body
    assert 'aria-invalid="true"' in body
    assert ("<html" in body) is not bool(headers)
    mara.refresh_from_db()
    assert (mara.name, mara.description) == (
        "Mara Voss",
        "A dock worker with a scar over her left brow.",
    )
    too_long = {"name": "Mara Voss", "description": "x" * 4001, "continuity_notes": ""}
    response = artist_client.post(_url("character_edit", project, "mara-voss"), too_long, **HX)
    assert response.status_code == 400 and "at most 4000 characters" in response.content.decode()


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_deleting_a_character_asks_first(artist_client, project, mara, headers, make_png):
    (sheet,) = _sheets(project, mara, make_png)
    _cast(_panel(project, "Harbour", "harbour"), mara)
    url = _url("character_delete", project, "mara-voss")
    asked = artist_client.get(url, **headers)
    assert asked.status_code == 200
    assert "Delete Mara Voss and its outfits?" in asked.content.decode()
    assert "It leaves the cast of 1 panel" in asked.content.decode()
    refused = artist_client.post(url, {}, **headers)
    assert refused.status_code == 400 and "Confirm the deletion first." in refused.content.decode()
    assert Character.objects.filter(pk=mara.pk).exists()
    response = artist_client.post(url, {"confirm": "on"}, **headers)
    list_url = _url("characters", project)
    if headers:
        assert response.headers["HX-Redirect"] == list_url
    else:
        assert response.headers["Location"] == list_url
    assert not Character.objects.exists() and Asset.objects.filter(pk=sheet.pk).exists()
    page = artist_client.get(list_url).content.decode()
    assert "Mara Voss deleted: left 1 panel; their reference images stay in Assets." in page


# --- sheets ---


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_uploading_sheets_files_them_under_the_character(
    artist_client, project, mara, make_png, headers
):
    files = [_png(make_png, "face.png", 60), _png(make_png, "body.png", 61)]
    url = _url("character_sheets_add", project, "mara-voss")
    response = artist_client.post(url, {"images": files}, **headers)
    items = ReferenceSetItem.objects.filter(reference_set__character=mara)
    assert [i.asset.metadata["original_name"] for i in items] == ["face.png", "body.png"]
    assert {i.reference_set.outfit for i in items} == {None}
    if headers:
        body = response.content.decode()
        assert body.lstrip().startswith('<div class="sheets" id="sheets-own">')
        assert "Added 2 sheets." in body and "face.png" in body
    else:
        assert response.headers["Location"].endswith("#sheets-own")


def test_an_outfit_sheet_lands_in_the_outfits_set(artist_client, project, user, mara, make_png):
    coat = add_outfit(character=mara, actor=user, name="Raincoat")
    url = _url("outfit_sheets_add", project, "mara-voss", coat.pk)
    response = artist_client.post(url, {"images": [_png(make_png, "coat.png")]}, **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith(f'<div class="sheets" id="sheets-outfit-{coat.pk}">')
    item = ReferenceSetItem.objects.get()
    assert (item.reference_set.character, item.reference_set.outfit) == (mara, coat)
    assert item.asset.kind == Asset.Kind.CHARACTER_REF
    remove = _url("outfit_sheet_remove", project, "mara-voss", coat.pk, item.pk)
    assert remove in body
    response = artist_client.post(remove, **HX)
    assert response.status_code == 200 and "Sheet removed; the image stays in Assets." in (
        response.content.decode()
    )
    assert not ReferenceSetItem.objects.exists() and Asset.objects.count() == 1


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_one_bad_sheet_is_named_and_nothing_is_stored(
    artist_client, project, mara, make_png, headers
):
    (kept,) = _sheets(project, mara, make_png)
    files = [_png(make_png, "good.png", 70), SimpleUploadedFile("broken.png", b"\x89PNG nope")]
    url = _url("character_sheets_add", project, "mara-voss")
    response = artist_client.post(url, {"images": files}, **headers)
    body = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_own_images_error"' in body and "broken.png" in body
    assert list(Asset.objects.values_list("pk", flat=True)) == [kept.pk]
    assert _url("asset_thumb", project, kept.pk) in body  # the sheets already there stay shown
    empty = artist_client.post(url, {}, **HX)
    assert empty.status_code == 400 and "Choose at least one image." in empty.content.decode()


def test_removing_a_sheet_of_another_box_is_400_and_removes_nothing(
    artist_client, project, user, mara, make_png
):
    coat = add_outfit(character=mara, actor=user, name="Raincoat")
    (worn,) = _sheets(project, mara, make_png, outfit=coat)
    item = ReferenceSetItem.objects.get(asset=worn)
    url = _url("character_sheet_remove", project, "mara-voss", item.pk)
    response = artist_client.post(url, **HX)
    assert response.status_code == 400
    assert "That image is not one of this character&#x27;s sheets" in response.content.decode()
    assert ReferenceSetItem.objects.count() == 1


# --- outfits ---


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_adding_an_outfit_answers_the_outfit_list(artist_client, project, mara, headers):
    data = {"name": "Raincoat", "description": "Yellow, hood up."}
    response = artist_client.post(_url("outfit_new", project, "mara-voss"), data, **headers)
    coat = Outfit.objects.get(character=mara)
    assert (coat.name, coat.description) == ("Raincoat", "Yellow, hood up.")
    if headers:
        body = response.content.decode()
        assert body.lstrip().startswith('<section class="universe-section outfits" id="outfits"')
        assert f'id="outfit-{coat.pk}"' in body and "Outfit Raincoat added" in body
    else:
        assert response.headers["Location"].endswith(f"#outfit-{coat.pk}")


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_a_refused_outfit_is_400_at_the_field_with_the_values_kept(
    artist_client, project, user, mara, headers
):
    add_outfit(character=mara, actor=user, name="Raincoat")
    data = {"name": "raincoat", "description": "Kept outfit text"}
    response = artist_client.post(_url("outfit_new", project, "mara-voss"), data, **headers)
    body = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_new_outfit_name_error">Mara Voss already has an outfit named raincoat.' in body
    assert "Kept outfit text</textarea>" in body
    assert Outfit.objects.count() == 1


def test_editing_an_outfit_answers_its_card(artist_client, project, user, mara):
    coat = add_outfit(character=mara, actor=user, name="Raincoat")
    add_outfit(character=mara, actor=user, name="Suit")
    url = _url("outfit_edit", project, "mara-voss", coat.pk)
    response = artist_client.post(url, {"name": "Rain cape", "description": "Green."}, **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith(f'<article class="card outfit" id="outfit-{coat.pk}"')
    assert "Saved." in body
    coat.refresh_from_db()
    assert (coat.name, coat.description) == ("Rain cape", "Green.")
    response = artist_client.post(url, {"name": "Suit", "description": "Kept."}, **HX)
    body = response.content.decode()
    assert response.status_code == 400
    assert f'id="id_outfit{coat.pk}_name_error">Mara Voss already has an outfit named Suit.' in body
    assert "Kept.</textarea>" in body
    response = artist_client.post(url, {"name": "", "description": ""})
    assert response.status_code == 400 and "<html" in response.content.decode()


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_deleting_an_outfit_asks_first(artist_client, project, user, mara, make_png, headers):
    coat = add_outfit(character=mara, actor=user, name="Raincoat")
    (worn,) = _sheets(project, mara, make_png, outfit=coat)
    _cast(_panel(project, "Harbour", "harbour"), mara, coat)
    url = _url("outfit_delete", project, "mara-voss", coat.pk)
    asked = artist_client.get(url, **headers).content.decode()
    assert "Delete the outfit “Raincoat”?" in asked
    assert "Its 1 sheet leaves with it (the images stay in Assets)" in asked
    assert "the 1 panel where Mara Voss wears it keeps Mara Voss, without an outfit." in asked
    refused = artist_client.post(url, {}, **headers)
    assert refused.status_code == 400 and "Confirm the deletion first." in refused.content.decode()
    response = artist_client.post(url, {"confirm": "on"}, **headers)
    assert not Outfit.objects.exists() and Asset.objects.filter(pk=worn.pk).exists()
    assert CastMember.objects.get().outfit is None
    if headers:
        assert response.headers["HX-Retarget"] == "#outfits"
        assert "Outfit Raincoat deleted; its sheets stay in Assets." in response.content.decode()
    else:
        assert response.headers["Location"].endswith("#outfits")
    # A second "Yes, delete" (a double press) finds it gone: no 404 page, the list says so.
    again = artist_client.post(url, {"confirm": "on"}, **headers)
    assert again.status_code in (200, 302)
    if headers:
        assert "that outfit is already deleted" in again.content.decode().lower()


# --- access ---


def _every_url(project: Project, character: Character, outfit: Outfit, item_id: int):
    slug = character.slug
    gets = [
        _url("characters", project),
        _url("character", project, slug),
        _url("character_delete", project, slug),
        _url("outfit_delete", project, slug, outfit.pk),
    ]
    posts = [
        (_url("character_new", project), {"name": "Mine"}),
        (_url("character_edit", project, slug), {"name": "Mine"}),
        (_url("character_delete", project, slug), {"confirm": "on"}),
        (_url("character_sheets_add", project, slug), {}),
        (_url("character_sheet_remove", project, slug, item_id), {}),
        (_url("outfit_new", project, slug), {"name": "Mine"}),
        (_url("outfit_edit", project, slug, outfit.pk), {"name": "Mine"}),
        (_url("outfit_delete", project, slug, outfit.pk), {"confirm": "on"}),
        (_url("outfit_sheets_add", project, slug, outfit.pk), {}),
        (_url("outfit_sheet_remove", project, slug, outfit.pk, item_id), {}),
    ]
    return gets, posts


def test_every_characters_url_of_another_users_project_is_404(
    artist_client, other_project, other_user, make_png
):
    spy = create_character(project=other_project, actor=other_user, name="Spy")
    coat = add_outfit(character=spy, actor=other_user, name="Coat")
    _sheets(other_project, spy, make_png)
    item = ReferenceSetItem.objects.get()
    gets, posts = _every_url(other_project, spy, coat, item.pk)
    for url in gets:
        assert artist_client.get(url).status_code == 404, url
        assert artist_client.get(url, **HX).status_code == 404, url
    for url, data in posts:
        assert artist_client.post(url, data).status_code == 404, url
    assert list(Character.objects.values_list("name", flat=True)) == ["Spy"]
    assert Outfit.objects.get().name == "Coat" and ReferenceSetItem.objects.count() == 1


def test_every_characters_url_sends_an_anonymous_visitor_to_sign_in(
    client, project, mara, user, make_png
):
    coat = add_outfit(character=mara, actor=user, name="Coat")
    _sheets(project, mara, make_png)
    gets, posts = _every_url(project, mara, coat, ReferenceSetItem.objects.get().pk)
    for url in gets:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response.headers["Location"], url
    for url, data in posts:
        response = client.post(url, data)
        assert response.status_code == 302 and "/login/" in response.headers["Location"], url
    assert Character.objects.count() == 1 and Outfit.objects.count() == 1


# --- the universe page ---


def _universe_post(client, project, **data):
    return client.post(_url("add_reference_images", project), {"kind": "character", **data})


def test_universe_upload_with_a_new_character_name_creates_it_and_keeps_the_file(
    artist_client, project, make_png
):
    response = _universe_post(
        artist_client, project, new_character="Mara Voss", images=[_png(make_png, "mara.png")]
    )
    assert response.status_code == 302
    character = Character.objects.get(project=project)
    item = ReferenceSetItem.objects.get()
    assert (character.name, item.reference_set.character) == ("Mara Voss", character)
    assert item.reference_set.outfit is None and item.asset.metadata["original_name"] == "mara.png"
    assert _actions(project) == ["character.created", "references.added"]
    page = artist_client.get(_url("universe", project)).content.decode()
    assert "Created Mara Voss; Added 1 character reference image(s)." in page


def test_universe_upload_without_a_character_or_a_name_is_400_at_the_name(
    artist_client, project, make_png
):
    response = _universe_post(artist_client, project, images=[_png(make_png)])
    body = response.content.decode()
    assert response.status_code == 400
    assert (
        '<div class="field-error" id="add-new-character-error" role="alert">Choose one of this '
        "project&#x27;s characters or type a new character&#x27;s name.</div>"
    ) in body
    assert '<option value="character" selected>' in body
    assert 'aria-invalid="true" aria-describedby="add-new-character-error"' in body
    assert not Character.objects.exists() and not Asset.objects.exists()


def test_universe_upload_with_a_taken_name_is_400_at_the_name_and_keeps_the_values(
    artist_client, project, mara, make_png
):
    response = _universe_post(
        artist_client, project, new_character="mara voss", images=[_png(make_png)]
    )
    body = response.content.decode()
    assert response.status_code == 400
    assert 'id="add-new-character-error" role="alert">There is already a character named' in body
    assert 'value="mara voss"' in body and '<option value="character" selected>' in body
    assert Character.objects.count() == 1 and not Asset.objects.exists()
    both = _universe_post(
        artist_client, project, character=mara.pk, new_character="Ivo", images=[_png(make_png)]
    )
    body = both.content.decode()
    assert both.status_code == 400 and "Choose a character or type a new name, not both." in body
    assert f'<option value="{mara.pk}" selected>Mara Voss</option>' in body


def test_universe_page_points_to_the_characters_pages_not_the_admin(artist_client, project, mara):
    body = artist_client.get(_url("universe", project)).content.decode()
    assert "/admin/" not in body
    assert _url("characters", project) in body and _url("character", project, "mara-voss") in body
    mara.delete()
    body = artist_client.get(_url("universe", project)).content.decode()
    assert "/admin/projects/character/add/" not in body
    assert f'the <a href="{_url("characters", project)}">Characters page</a>' in body


# --- in a real browser ---


@pytest.fixture
def browser_page(monkeypatch):
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser.new_page(viewport={"width": 1440, "height": 900})
        browser.close()


def _seed_cast(project: Project, user, make_png) -> Character:
    mara = create_character(
        project=project,
        actor=user,
        name="Mara Voss",
        description="A dock worker turned smuggler, quick with a hook and slow to trust; "
        "she grew up on the Noir City waterfront and knows every crane by name.",
        continuity_notes="Scar over the left brow; grey eyes; cropped black hair.",
    )
    coat = add_outfit(character=mara, actor=user, name="Raincoat", description="Yellow, torn.")
    add_outfit(character=mara, actor=user, name="Evening suit", description="Black, narrow.")
    _sheets(project, mara, make_png, n=3)
    _sheets(project, mara, make_png, n=2, outfit=coat)
    create_character(project=project, actor=user, name="Ivo", description="Counts the money.")
    create_character(project=project, actor=user, name="Inspector Alessandra Castellanos-Whitfield")
    for i, title in enumerate(["Harbour at dusk", "The crane", "Rain on the pier"]):
        _cast(_panel(project, title, f"p{i}"), mara, coat if i else None)
    return mara


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_characters_pages_in_the_browser_at_three_widths(
    live_server, browser_page, project, user, make_png, tmp_path
):
    """Screenshots of the list, a character page and the universe page at 1440, 768 and 390 px (in
    $KROMA_SCREENSHOTS when set), no sideways scroll and no CSP violation; then outfits and
    sheets with the keyboard."""
    import os
    from pathlib import Path

    from playwright.sync_api import expect

    shots = Path(os.environ.get("KROMA_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    mara = _seed_cast(project, user, make_png)
    page = browser_page
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text else 0)
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "artist")
    page.fill("#id_password", "pw-artist-123")
    page.click("button[type=submit]")
    pages = {
        "characters": f"{live_server.url}{_url('characters', project)}",
        "character": f"{live_server.url}{_url('character', project, mara.slug)}",
        "universe": f"{live_server.url}{_url('universe', project)}",
    }
    for width in (1440, 768, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for name, url in pages.items():
            page.goto(url)
            page.wait_for_load_state("networkidle")
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{overflow}px sideways scroll on {name} at {width}px"
            shot = str(shots / f"{name}-{width}.png")
            page.screenshot(path=shot, full_page=True, caret="initial")

    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(pages["character"])
    # Add an outfit with the keyboard: the list answers in place with the new card.
    new = page.locator(".new-outfit")
    new.get_by_label("Name").fill("Diving suit")
    new.get_by_role("button", name="Add outfit").press("Enter")
    card = page.locator("article.outfit", has_text="Diving suit")
    expect(card).to_be_visible()
    expect(page.locator("#outfits > .note")).to_contain_text("Outfit Diving suit added")
    # A bad file among good ones is named at the field and nothing is added.
    card.locator("input[type=file]").set_input_files(
        [
            {"name": "suit.png", "mimeType": "image/png", "buffer": make_png(81, 81)},
            {"name": "notes.png", "mimeType": "image/png", "buffer": b"plain text"},
        ]
    )
    card.get_by_role("button", name="Add sheets", exact=True).press("Enter")
    expect(card.locator(".field-error")).to_contain_text("notes.png")
    card.locator("input[type=file]").set_input_files(
        [{"name": "suit.png", "mimeType": "image/png", "buffer": make_png(81, 81)}]
    )
    card.get_by_role("button", name="Add sheets", exact=True).press("Enter")
    expect(card.locator(".sheet")).to_have_count(1)
    suit = Outfit.objects.get(name="Diving suit")
    assert ReferenceSetItem.objects.get(reference_set__outfit=suit).asset.title == "suit.png"
    page.screenshot(path=str(shots / "character-outfit-added.png"), full_page=True, caret="initial")
    # Deleting it asks first; "Yes, delete" answers with the list.
    card.get_by_role("button", name="Delete outfit…").press("Enter")
    expect(card.get_by_text("Delete the outfit “Diving suit”?")).to_be_visible()
    card.get_by_role("button", name="Yes, delete").press("Enter")
    question = page.get_by_text("Delete the outfit “Diving suit”?")
    try:  # on a busy machine a press on the just-swapped button can go nowhere: press again
        expect(question).to_be_hidden(timeout=4000)
    except AssertionError:
        card.get_by_role("button", name="Yes, delete").press("Enter")
    # htmx answers with the list and a note; a press that beats htmx to the freshly swapped
    # form submits it as a plain POST, answered by the whole page with the same message.
    # Both at once (the plain POST finds it gone) say that it is deleted, never a 404 page.
    expect(page.locator("main")).to_contain_text(
        re.compile("outfit Diving suit deleted|that outfit is already deleted", re.I)
    )
    expect(page.locator("article.outfit")).to_have_count(2)
    # A refused rename is shown at the field, the other text kept.
    details = page.locator("#character-details")
    details.get_by_label("Name").fill("Ivo")
    details.get_by_role("button", name="Save").press("Enter")
    expect(details.locator(".field-error")).to_have_text("There is already a character named Ivo.")
    expect(details.get_by_label("Continuity notes")).to_have_value(
        "Scar over the left brow; grey eyes; cropped black hair."
    )
    assert violations == []
