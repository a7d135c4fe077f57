"""The assets' JSON API: the browser's filters, one asset with its lineage, links by hand."""

from __future__ import annotations

import json

import pytest

from projects.models import Asset, AssetLink, AuditEvent
from projects.services.assets import store_image
from projects.services.tokens import create_token
from projects.storage import read_file

pytestmark = pytest.mark.django_db

ASSET_KEYS = [
    "api_file_url", "api_thumbnail_url", "created_at", "download_name", "download_url",
    "failed", "file_url", "height", "id",
    "kind", "mime", "panel", "path", "rating", "rejected", "run", "sha256", "size_bytes",
    "stage", "thumbnail_url", "title", "width",
]  # fmt: skip


def _output(project, n: int, *, run="run_a", panel="p1", stage="style", passed=True, **extra):
    """A run output as the pipeline stores it: metadata with its recipe (prompt and QA)."""
    recipe = {"run": run, "panel": panel, "stage": stage, "prompt": f"prompt {n}"}
    recipe["qa"] = {"passed": passed, "hard_failures": [] if passed else ["too dark"]}
    return Asset.objects.create(
        project=project,
        kind=extra.pop("kind", "candidate"),
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


@pytest.fixture
def token(user):
    return create_token(user=user, name="script", scopes=["write"]).plaintext


@pytest.fixture
def read_token(user):
    return create_token(user=user, name="reader").plaintext


def _auth(plaintext: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def _get(client, token, path: str, **query):
    return client.get(f"/api/projects/noir_city{path}", query, **_auth(token))


def _post(client, token, path: str, body: dict):
    url = f"/api/projects/noir_city{path}"
    return client.post(url, json.dumps(body), "application/json", **_auth(token))


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]


def test_list_assets_newest_first_paginated_with_the_browsers_filters(client, token, project):
    a = _output(project, 1, run="run_a", panel="p1", stage="style", rating=5)
    b = _output(project, 2, run="run_b", panel="p2", stage="characters", rating=2)
    c = _output(project, 3, run="run_b", panel="p2", stage="characters", passed=False)
    body = _get(client, token, "/assets").json()
    assert [x["id"] for x in body["items"]] == [b.pk, a.pk]  # the failed one is left out
    assert body["total"] == 2 and sorted(body["items"][0]) == ASSET_KEYS
    ids = lambda **q: [x["id"] for x in _get(client, token, "/assets", **q).json()["items"]]  # noqa: E731
    assert ids(failed=True) == [c.pk, b.pk, a.pk]
    assert ids(stage="style") == [a.pk]
    assert ids(panel="p2") == [b.pk]
    assert ids(run="run_b", failed=True) == [c.pk, b.pk]
    assert ids(rating="4") == [a.pk]
    assert ids(rating="unrated", failed=True) == [c.pk]
    assert ids(kind="upload") == []
    assert ids(sort="rating") == [a.pk, b.pk]
    assert ids(limit=1, offset=1) == [a.pk]
    item = _get(client, token, "/assets", stage="style").json()["items"][0]
    assert item["file_url"] == f"/projects/noir_city/assets/{a.pk}/file"
    assert item["thumbnail_url"] == f"/projects/noir_city/assets/{a.pk}/thumb"
    assert (item["run"], item["panel"], item["rating"]) == ("run_a", "p1", 5)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"kind": "poster"}, "kind"),
        ({"stage": "dawn"}, "stage"),
        ({"rating": "9"}, "rating"),
        ({"panel": "p" * 65}, "panel"),
        ({"sort": "random"}, "sort"),
        ({"limit": 201}, "limit"),
    ],
)
def test_bad_filters_are_422_with_the_field(client, token, project, query, field):
    assert _error(_get(client, token, "/assets", **query), 422)["field"] == field


def test_one_asset_with_metadata_recipe_and_lineage(client, token, project):
    made = _output(project, 1)
    derived = _output(project, 2, kind="derived")
    AssetLink.objects.create(project=project, source=derived, target=made, relation="derived_from")
    body = _get(client, token, f"/assets/{made.pk}").json()
    assert body["recipe"]["prompt"] == "prompt 1"
    assert body["metadata"]["candidate"] == 1
    assert body["lineage"]["derived_from"] == []
    (into,) = body["lineage"]["derived_into"]
    assert (into["source"], into["target"], into["relation"]) == (
        derived.pk,
        made.pk,
        "derived_from",
    )
    upstream = _get(client, token, f"/assets/{derived.pk}").json()["lineage"]["derived_from"]
    assert [link["target"] for link in upstream] == [made.pk]
    assert body["download_url"] == f"/projects/noir_city/assets/{made.pk}/file?download=1"
    assert _get(client, token, "/assets/999999").status_code == 404


def test_an_assets_file_and_thumbnail_through_the_api_with_a_token(
    client, token, project, make_png
):
    png = make_png(64, 48)
    asset = store_image(project=project, data=png, kind=Asset.Kind.UPLOAD, name="moon.png")
    item = _get(client, token, f"/assets/{asset.pk}").json()
    assert item["api_file_url"] == f"/api/projects/noir_city/assets/{asset.pk}/file"
    file = client.get(item["api_file_url"], **_auth(token))
    stored = read_file(project, asset.path)
    assert file.status_code == 200 and b"".join(file.streaming_content) == stored
    download = client.get(item["api_file_url"], {"download": "1"}, **_auth(token))
    assert download["Content-Disposition"].startswith("attachment")
    thumb = client.get(item["api_thumbnail_url"], **_auth(token))
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/webp"
    assert client.get(item["file_url"], **_auth(token)).status_code == 302  # the browser's view


def test_link_list_and_unlink_two_assets_audited(client, token, project):
    a, b = _output(project, 1), _output(project, 2)
    made = _post(
        client, token, "/asset-links", {"source": b.pk, "target": a.pk, "relation": "variant_of"}
    )
    assert made.status_code == 201, made.content
    link = made.json()
    assert (link["source"], link["target"], link["relation"]) == (b.pk, a.pk, "variant_of")
    again = _post(
        client, token, "/asset-links", {"source": b.pk, "target": a.pk, "relation": "variant_of"}
    )
    assert _error(again, 409)["code"] == "exists"
    listed = _get(client, token, "/asset-links", asset=a.pk).json()
    assert [x["id"] for x in listed["items"]] == [link["id"]] and listed["total"] == 1
    assert _get(client, token, "/asset-links", relation="reference_of").json()["total"] == 0
    url = f"/api/projects/noir_city/asset-links/{link['id']}"
    assert client.delete(url, **_auth(token)).status_code == 204
    assert client.delete(url, **_auth(token)).status_code == 404
    assert not AssetLink.objects.exists()
    actions = list(
        AuditEvent.objects.filter(action__startswith="asset_link.").values_list("action", flat=True)
    )
    assert sorted(actions) == ["asset_link.created", "asset_link.deleted"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"source": 1, "target": 2, "relation": "cousin_of"}, 422, "relation"),
        ({"source": 1, "target": 2, "relation": "variant_of", "extra": 1}, 422, "extra"),
        ({"source": "one", "target": 2, "relation": "variant_of"}, 422, "source"),
        ({"source": 1, "relation": "variant_of"}, 422, "target"),
        ({"source": 1, "target": 1, "relation": "variant_of"}, 400, "target"),
        ({"source": 1, "target": 999999, "relation": "variant_of"}, 400, "target"),
        ({"source": 1, "target": 2**63, "relation": "variant_of"}, 422, "target"),
    ],
)
def test_bad_links_are_refused_with_the_field(client, token, project, body, status, field):
    first = _output(project, 1)
    body = {**body, "source": first.pk if body.get("source") == 1 else body.get("source")}
    if body.get("target") == 1:
        body["target"] = first.pk
    body = {k: v for k, v in body.items() if v is not None}
    assert _error(_post(client, token, "/asset-links", body), status)["field"] == field
    assert not AssetLink.objects.exists()


def test_both_ends_must_be_assets_of_the_project(client, token, project, other_project):
    mine, theirs = _output(project, 1), _output(other_project, 2)
    body = {"source": mine.pk, "target": theirs.pk, "relation": "reference_of"}
    error = _error(_post(client, token, "/asset-links", body), 400)
    assert (error["code"], error["field"]) == ("not_found", "target")
    assert not AssetLink.objects.exists()


def test_another_users_project_is_404(client, token, other_project):
    theirs, second = _output(other_project, 1), _output(other_project, 2)
    link = AssetLink.objects.create(
        project=other_project, source=second, target=theirs, relation="variant_of"
    )
    base = f"/api/projects/{other_project.slug}"
    paths = ("/assets", f"/assets/{theirs.pk}", "/asset-links")
    for path in (*paths, f"/assets/{theirs.pk}/file", f"/assets/{theirs.pk}/thumb"):
        assert client.get(base + path, **_auth(token)).status_code == 404, path
    body = {"source": second.pk, "target": theirs.pk, "relation": "reference_of"}
    made = client.post(base + "/asset-links", json.dumps(body), "application/json", **_auth(token))
    assert made.status_code == 404
    gone = client.delete(f"{base}/asset-links/{link.pk}", **_auth(token))
    assert gone.status_code == 404
    # Nor through one's own project.
    assert _get(client, token, f"/assets/{theirs.pk}").status_code == 404
    assert (
        client.delete(f"/api/projects/noir_city/asset-links/{link.pk}", **_auth(token)).status_code
        == 404
    )
    assert AssetLink.objects.count() == 1


def test_a_read_token_reads_but_may_not_link(client, read_token, project):
    a, b = _output(project, 1), _output(project, 2)
    assert _get(client, read_token, "/assets").status_code == 200
    body = {"source": a.pk, "target": b.pk, "relation": "variant_of"}
    assert _error(_post(client, read_token, "/asset-links", body), 403)["code"] == "not_allowed"
    link = AssetLink.objects.create(project=project, source=a, target=b, relation="variant_of")
    gone = client.delete(f"/api/projects/noir_city/asset-links/{link.pk}", **_auth(read_token))
    assert gone.status_code == 403 and AssetLink.objects.count() == 1


@pytest.mark.parametrize("count", [1, 3])
def test_the_list_costs_the_same_queries_for_one_or_three_assets(
    client, token, project, count, django_assert_num_queries
):
    for n in range(count):
        _output(project, n)
    _get(client, token, "/assets")  # the token's last use is written once a minute
    with django_assert_num_queries(4):  # token, project, count, page
        body = _get(client, token, "/assets").json()
    assert body["total"] == count
