"""The asset browser runs a fixed number of queries, with 1 image or 20, for every filter."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from projects.models import Asset, AssetLink, Character

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _asset(project, n: int, **extra) -> Asset:
    recipe = {"run": "run_q", "panel": "p1", "stage": "style", "prompt": f"harbor at night {n}"}
    return Asset.objects.create(
        project=project,
        kind="candidate",
        path=f"runs/q/c{n}.png",
        sha256=f"{n:064x}",
        size_bytes=10,
        width=8,
        height=8,
        mime="image/png",
        title=f"candidate {n}",
        rating=4,
        metadata={"recipe": recipe},
        **extra,
    )


def _queries(client, url: str, params: dict, **headers) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params, **headers)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"page": "1", "sort": "old"},
        {"kind": "candidate", "stage": "style"},
        {"panel": "p1", "run": "run_q"},
        {"rating": "4", "failed": "on"},
        {"q": "harbor"},
        {"character": "mara"},
        {"since": "2000-01-01", "until": "2999-12-31", "sort": "rating"},
    ],
)
def test_asset_list_queries_do_not_grow_with_images(artist_client, project, params):
    Character.objects.create(project=project, slug="mara", name="Mara")
    url = reverse("projects:asset_list", args=[project.slug])
    _asset(project, 0)
    one = [_queries(artist_client, url, params), _queries(artist_client, url, params, **HX)]
    for n in range(1, 20):
        _asset(project, n)
    body = artist_client.get(url, params).content.decode()
    expected = 0 if params.get("character") else 20
    assert body.count('name="assets" value="') == expected
    twenty = [_queries(artist_client, url, params), _queries(artist_client, url, params, **HX)]
    assert one == twenty


def test_asset_detail_queries_do_not_grow_with_lineage(artist_client, project):
    asset = _asset(project, 0)
    url = reverse("projects:asset_detail", args=[project.slug, asset.pk])
    derived = _asset(
        project,
        1,
    )
    AssetLink.objects.create(project=project, source=derived, target=asset, relation="derived_from")
    one = _queries(artist_client, url, {})
    for n in range(2, 21):
        AssetLink.objects.create(
            project=project, source=_asset(project, n), target=asset, relation="derived_from"
        )
    assert _queries(artist_client, url, {}) == one
