"""The asset browser's pages: list with filters and search, detail, bulk actions, uploads."""

from __future__ import annotations

import pytest
from django.urls import reverse

from projects.models import (
    Asset,
    AssetLink,
    AuditEvent,
    CastMember,
    Chapter,
    Character,
    Page,
    Panel,
    ReferenceSet,
    ReferenceSetItem,
    StyleGuide,
    StyleReference,
)
from projects.services.assets import store_image

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _output(project, n: int, *, kind="candidate", run="run_a", panel="p1", stage="style", **extra):
    """A run output as the pipeline stores it: metadata with its recipe (prompt and QA)."""
    passed = extra.pop("passed", True)
    recipe = {"run": run, "panel": panel, "stage": stage, "prompt": extra.pop("prompt", "")}
    recipe["qa"] = {"passed": passed, "hard_failures": [] if passed else ["too dark"]}
    recipe["model"] = "gpt-image-1"
    return Asset.objects.create(
        project=project,
        kind=kind,
        path=f"runs/{run}/{panel}/c{n}.png",
        sha256=f"{n:064x}",
        size_bytes=10,
        width=8,
        height=8,
        mime="image/png",
        title=f"{run} {panel} c{n}",
        metadata={"run": run, "panel": panel, "stage": stage, "candidate": n, "recipe": recipe},
        **extra,
    )


def _tiles(response) -> int:
    return response.content.decode().count('name="assets" value="')


def _url(project, name="asset_list", *args) -> str:
    return reverse(f"projects:{name}", args=[project.slug, *args])


def test_asset_list_page_and_partial(artist_client, project):
    _output(project, 1)
    page = artist_client.get(_url(project))
    assert page.status_code == 200 and "<html" in page.content.decode()
    assert 'id="asset-upload"' in page.content.decode() and _tiles(page) == 1
    partial = artist_client.get(_url(project), **HX)
    body = partial.content.decode()
    assert partial.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<div id="asset-results"') and _tiles(partial) == 1


def test_asset_views_of_another_users_project_are_404(artist_client, other_project, make_png):
    asset = store_image(project=other_project, data=make_png(), kind="upload", name="a.png")
    for name, args in (
        ("asset_list", ()),
        ("asset_detail", (asset.pk,)),
        ("asset_file", (asset.pk,)),
        ("asset_thumb", (asset.pk,)),
    ):
        assert artist_client.get(_url(other_project, name, *args)).status_code == 404
        assert artist_client.get(_url(other_project, name, *args), **HX).status_code == 404
    bulk = {"action": "delete", "assets": [asset.pk], "confirm": "on"}
    assert artist_client.post(_url(other_project, "asset_bulk"), bulk).status_code == 404
    upload = {"images": [_file("x.png", make_png())]}
    assert artist_client.post(_url(other_project, "asset_upload"), upload).status_code == 404
    assert Asset.objects.filter(pk=asset.pk).exists()
    assert Asset.objects.filter(project=other_project).count() == 1


def test_an_asset_of_another_project_under_ones_own_slug_is_404(
    artist_client, project, other_project, make_png
):
    asset = store_image(project=other_project, data=make_png(), kind="upload", name="a.png")
    assert artist_client.get(_url(project, "asset_detail", asset.pk)).status_code == 404


def test_failed_candidates_are_hidden_unless_asked_for(artist_client, project):
    _output(project, 1)
    _output(project, 2, passed=False)
    assert _tiles(artist_client.get(_url(project))) == 1
    shown = artist_client.get(_url(project), {"failed": "on"})
    assert _tiles(shown) == 2 and "failed QA" in shown.content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"kind": "derived"}, {3}),
        ({"stage": "weather"}, {2}),
        ({"panel": "p2"}, {2, 3}),
        ({"run": "run_b"}, {3}),
        ({"rating": "4"}, {1}),
        ({"rating": "unrated"}, {2, 3}),
        ({"rating": "rejected"}, {2}),
        ({"q": "LIGHTHOUSE"}, {1}),
        ({"q": "c3"}, {3}),
        ({"since": "2000-01-01", "until": "2999-01-01"}, {1, 2, 3}),
        ({"until": "2000-01-01"}, set()),
    ],
)
def test_asset_list_filters_and_search(artist_client, project, query, expected):
    made = {
        1: _output(project, 1, rating=4, prompt="A lighthouse in the rain"),
        2: _output(project, 2, panel="p2", stage="weather", rejected=True),
        3: _output(project, 3, kind="derived", panel="p2", run="run_b"),
    }
    Chapter.objects.create(project=project, position=1)
    Panel.objects.create(
        project=project,
        page=Page.objects.create(project=project, chapter=project.chapters.get(), position=1),
        key="p2",
        position=1,
    )
    body = artist_client.get(_url(project), query).content.decode()
    shown = {n for n, asset in made.items() if f'name="assets" value="{asset.pk}"' in body}
    assert shown == expected


def test_character_filter_finds_sheets_and_outputs_of_panels_they_are_cast_in(
    artist_client, project, make_png
):
    mara = Character.objects.create(project=project, slug="mara", name="Mara")
    sheets = ReferenceSet.objects.create(
        project=project, slug="mara-refs", name="refs", kind="character", character=mara
    )
    sheet = store_image(project=project, data=make_png(), kind="character_ref", name="m.png")
    ReferenceSetItem.objects.create(reference_set=sheets, asset=sheet, position=0)
    chapter = Chapter.objects.create(project=project, position=1)
    page = Page.objects.create(project=project, chapter=chapter, position=1)
    panel = Panel.objects.create(project=project, page=page, key="p1", position=1)
    CastMember.objects.create(panel=panel, character=mara, position=0)
    cast_in = _output(project, 1, panel="p1")
    elsewhere = _output(project, 2, panel="p9")
    body = artist_client.get(_url(project), {"character": "mara"}).content.decode()
    for asset, shown in ((sheet, True), (cast_in, True), (elsewhere, False)):
        assert (f'name="assets" value="{asset.pk}"' in body) is shown


def test_asset_list_sorts_and_paginates(artist_client, project):
    assets = [_output(project, n, rating=n % 5 + 1) for n in range(50)]

    def at(body: str, n: int) -> int:
        return body.index(f'name="assets" value="{assets[n].pk}"')

    first = artist_client.get(_url(project)).content.decode()
    assert at(first, 49) < at(first, 48)
    assert "Page 1 of 2" in first and "50 images" in first
    second = artist_client.get(_url(project), {"page": 2})
    assert _tiles(second) == 2
    oldest = artist_client.get(_url(project), {"sort": "old"}).content.decode()
    assert at(oldest, 0) < at(oldest, 1)
    rated = artist_client.get(_url(project), {"sort": "rating"}).content.decode()
    assert at(rated, 4) < at(rated, 45)  # an old 5 stars before a new 1 star


def test_a_bad_filter_is_shown_and_ignored(artist_client, project):
    _output(project, 1)
    response = artist_client.get(_url(project), {"kind": "nonsense", "since": "soon"})
    body = response.content.decode()
    assert response.status_code == 200 and 'role="alert"' in body and _tiles(response) == 1
    partial = artist_client.get(_url(project), {"since": "soon"}, **HX).content.decode()
    assert "From: Enter a valid date." in partial  # shown when htmx swaps the results too


def test_asset_detail_shows_metadata_recipe_lineage_and_download(artist_client, project):
    source = _output(project, 1, prompt="Mara on the pier at dawn")
    derived = _output(project, 2, kind="derived")
    AssetLink.objects.create(
        project=project,
        source=derived,
        target=source,
        relation="derived_from",
        metadata={"step": "upscale"},
    )
    page = artist_client.get(_url(project, "asset_detail", source.pk))
    body = page.content.decode()
    assert page.status_code == 200 and "<html" in body
    assert "Mara on the pier at dawn" in body and "gpt-image-1" in body
    assert source.download_url() in body and "noir_city_p1_style_c1.png" in body
    assert f'href="{_url(project, "asset_detail", derived.pk)}"' in body  # derived into
    partial = artist_client.get(_url(project, "asset_detail", derived.pk), **HX)
    text = partial.content.decode()
    assert partial.status_code == 200 and "<html" not in text
    assert f'href="{_url(project, "asset_detail", source.pk)}"' in text  # derived from
    assert "by upscale" in text


def test_bulk_rate_and_reject_are_audited(artist_client, project):
    a, b = _output(project, 1), _output(project, 2)
    url = _url(project, "asset_bulk")
    response = artist_client.post(
        url, {"action": "rate", "assets": [a.pk, b.pk], "rate_choice": "5"}
    )
    assert response.status_code == 302
    assert set(Asset.objects.values_list("rating", flat=True)) == {5}
    artist_client.post(url, {"action": "reject", "assets": [a.pk]}, **HX)
    assert Asset.objects.get(pk=a.pk).rejected and not Asset.objects.get(pk=b.pk).rejected
    assert AuditEvent.objects.filter(action="asset.rate").count() == 2


def test_bulk_rate_without_a_rating_or_selection_says_so(artist_client, project):
    a = _output(project, 1)
    url = _url(project, "asset_bulk")
    response = artist_client.post(url, {"action": "rate", "assets": [a.pk]}, follow=True)
    assert "Choose a rating from 1 to 5." in response.content.decode()
    response = artist_client.post(url, {"action": "rate", "rate_choice": "3"}, follow=True)
    assert "Select at least one image first." in response.content.decode()
    assert Asset.objects.get(pk=a.pk).rating is None


def test_bulk_delete_asks_first_then_deletes_unused_and_keeps_used(
    artist_client, project, make_png, settings
):
    loose = store_image(project=project, data=make_png(10, 10), kind="upload", name="a.png")
    used = store_image(project=project, data=make_png(12, 10), kind="style_ref", name="s.png")
    guide = StyleGuide.objects.create(project=project, slug="ink", name="Ink")
    StyleReference.objects.create(style_guide=guide, asset=used, position=0)
    url = _url(project, "asset_bulk")
    ask = artist_client.post(url, {"action": "delete", "assets": [loose.pk, used.pk]}, **HX)
    assert ask.status_code == 200 and "Delete 2 images?" in ask.content.decode()
    assert Asset.objects.count() == 2
    done = artist_client.post(
        url, {"action": "delete", "assets": [loose.pk, used.pk], "confirm": "on"}, follow=True
    )
    assert "Deleted 1 image(s). Kept 1 still in use (used by a style reference)" in (
        done.content.decode()
    )
    assert list(Asset.objects.values_list("pk", flat=True)) == [used.pk]
    root = settings.PROJECTS_ROOT / project.slug
    assert not (root / loose.path).exists() and (root / used.path).exists()
    event = AuditEvent.objects.get(action="asset.delete")
    assert event.data["assets"] == [loose.pk] and event.data["kept"] == [used.pk]


def test_deleting_one_of_two_rows_of_the_same_file_keeps_the_file(artist_client, project, settings):
    a = _output(project, 1)
    twin = _output(project, 2, kind="upload")
    Asset.objects.filter(pk=twin.pk).update(path=a.path)
    root = settings.PROJECTS_ROOT / project.slug
    (root / a.path).parent.mkdir(parents=True)
    (root / a.path).write_bytes(b"png")
    artist_client.post(
        _url(project, "asset_bulk"), {"action": "delete", "assets": [a.pk], "confirm": "on"}
    )
    assert not Asset.objects.filter(pk=a.pk).exists() and (root / a.path).exists()


def _file(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def test_upload_keeps_good_files_and_reports_the_bad_one(artist_client, project, make_png):
    files = [_file("good.png", make_png(30, 20)), _file("notes.png", b"not an image at all")]
    response = artist_client.post(_url(project, "asset_upload"), {"images": files})
    body = response.content.decode()
    assert response.status_code == 400 and "<html" in body
    assert "notes.png is not an image Kroma can read" in body and "Stored good.png" in body
    assert list(Asset.objects.values_list("title", flat=True)) == ["good.png"]


def test_upload_answers_json_per_file_for_the_script(artist_client, project, make_png):
    url = _url(project, "asset_upload")
    ok = artist_client.post(
        url, {"images": [_file("a.png", make_png())]}, HTTP_ACCEPT="application/json"
    )
    assert ok.status_code == 200 and ok.json()["errors"] == [] and len(ok.json()["stored"]) == 1
    bad = artist_client.post(
        url, {"images": [_file("b.png", b"nope")]}, HTTP_ACCEPT="application/json"
    )
    assert bad.status_code == 400 and "b.png is not an image" in bad.json()["errors"][0]
    assert AuditEvent.objects.filter(action="asset.upload").count() == 1


def test_upload_page_reloaded_after_an_error_is_not_a_blank_405(artist_client, project):
    response = artist_client.get(_url(project, "asset_upload"))
    assert response.status_code == 302 and response["Location"] == _url(project)
    empty = artist_client.post(_url(project, "asset_upload"), {})
    assert empty.status_code == 400 and "Choose at least one image." in empty.content.decode()


def test_successful_plain_upload_redirects_with_its_notes(artist_client, project, make_png):
    jpeg = _file("looks-like.png", make_png(fmt="JPEG"))
    response = artist_client.post(_url(project, "asset_upload"), {"images": [jpeg]}, follow=True)
    body = response.content.decode()
    assert "Uploaded 1 image(s)." in body
    assert "is a JPEG image although its name ends in .png; it is stored as JPEG" in body


def test_search_matches_word_beginnings_and_follows_edits_and_deletes(artist_client, project):
    asset = _output(project, 1, prompt="An old lighthouse, Inès waving")

    def found(q: str) -> int:
        return _tiles(artist_client.get(_url(project), {"q": q}))

    assert (found("light"), found("LIGHTHOUSE old"), found("ines"), found("house")) == (1, 1, 1, 0)
    asset.metadata["recipe"]["prompt"] = "A new windmill"
    asset.save()
    assert (found("lighthouse"), found("wind")) == (0, 1)
    asset.delete()
    assert found("wind") == 0
    _output(project, 2)
    assert found('%"*') == 1  # punctuation alone is no search: every image is listed


def test_search_index_is_put_back_when_a_table_rebuild_dropped_its_triggers(project):
    from django.db import connection

    from projects.search_index import TRIGGERS, ensure_search_index

    if connection.vendor != "sqlite":
        assert ensure_search_index(connection) is False  # the trigram index is there already
        return
    with connection.cursor() as cursor:
        for name in TRIGGERS:
            cursor.execute(f"DROP TRIGGER {name}")
    assert ensure_search_index(connection) is True
    assert ensure_search_index(connection) is False
    asset = _output(project, 1, prompt="a brass compass")
    from projects.services.asset_browser import browse_assets

    assert list(browse_assets(project=project, filters={"q": "compass"})) == [asset]
