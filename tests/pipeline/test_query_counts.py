"""Pages run a fixed number of queries, however many scenes, candidates or characters."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from projects.models import Asset, Character, ReferenceSet, ReferenceSetItem
from projects.services.assets import store_image
from tests.conftest import local_run

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _queries(client, url: str, **headers) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **headers)
    assert response.status_code in (200, 286)
    return len(captured)


def test_run_page_and_its_live_partial_do_not_grow_with_candidates(
    artist_client, scene_project, user
):
    small = local_run(scene_project, user, panels=["harbor"], candidates=1)
    large = local_run(scene_project, user, candidates=3)  # 3 scenes x 3 candidates
    for headers in ({}, HX):
        counts = [
            _queries(
                artist_client, reverse("pipeline:run_detail", args=["noir_city", r.uid]), **headers
            )
            for r in (small, large)
        ]
        assert counts[0] == counts[1], counts


def _character(project, index: int, make_png) -> None:
    character = Character.objects.create(project=project, slug=f"c{index}", name=f"C{index}")
    refs = ReferenceSet.objects.create(
        project=project, slug=f"c{index}-refs", name="refs", kind="character", character=character
    )
    for k in range(2):
        asset = store_image(
            project=project, data=make_png(30 + index, 20 + k), kind=Asset.Kind.CHARACTER_REF
        )
        ReferenceSetItem.objects.create(reference_set=refs, asset=asset, position=k)


def test_universe_page_does_not_grow_with_characters_or_scenes(
    artist_client, scene_project, make_png
):
    url = reverse("projects:universe", args=["noir_city"])
    _character(scene_project, 0, make_png)
    one = _queries(artist_client, url)
    for index in (1, 2):
        _character(scene_project, index, make_png)
    for index in range(5):
        store_image(project=scene_project, data=make_png(70 + index, 50), kind="scene_ref")
    three = _queries(artist_client, url)
    assert one == three, (one, three)


def _story(project, panels: int, user) -> None:
    from projects.services.characters import add_outfit, create_character
    from projects.services.story import panels_from_script, set_cast

    mara = create_character(project=project, actor=None, name=f"Mara {panels}")
    coat = add_outfit(character=mara, actor=None, name="Coat")
    script = "\n".join(f"PANEL {n}: Beat {n}." for n in range(1, panels + 1))
    for panel in panels_from_script(project=project, actor=None, text=script):
        set_cast(panel=panel, actor=None, entries=[{"character": mara, "outfit": coat}])
    local_run(project, user, candidates=1)


def test_story_page_panel_page_and_new_run_do_not_grow_with_panels(
    artist_client, user, scene_project
):
    """1 panel and 20 panels (each with a cast, an outfit and a pick): the Story page, its
    partial, the New Run page and a panel page run the same queries."""
    from projects.models import Panel

    counts = []
    for n in (1, 20):
        Panel.objects.filter(project=scene_project).delete()
        _story(scene_project, n, user=user)
        panel = Panel.objects.filter(project=scene_project).last()
        counts.append(
            [
                _queries(artist_client, reverse("pipeline:story", args=["noir_city"])),
                _queries(artist_client, reverse("pipeline:story", args=["noir_city"]), **HX),
                _queries(artist_client, reverse("pipeline:run_new", args=["noir_city"])),
                _queries(artist_client, reverse("pipeline:panel", args=["noir_city", panel.pk])),
            ]
        )
    assert counts[0] == counts[1], counts
