from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from pipeline.services.plan import plan_run
from projects.models import Asset, Character, ReferenceSetItem, StyleGuide, StyleReference

pytestmark = pytest.mark.django_db


def _post(client, slug, kind, files, **extra):
    return client.post(
        reverse("projects:add_reference_images", args=[slug]),
        {"kind": kind, "images": files, **extra},
    )


def test_scenes_and_style_images_added_from_the_universe_page_make_a_runnable_project(
    artist_client, project, make_png
):
    scenes = [SimpleUploadedFile(f"street-{i}.png", make_png(64 + i, 48)) for i in range(2)]
    response = _post(artist_client, project.slug, "scene", scenes)
    assert response.status_code == 302
    style = [SimpleUploadedFile("ink.png", make_png(40, 40))]
    _post(artist_client, project.slug, "style", style)
    assert Asset.objects.filter(project=project, kind="scene_ref").count() == 2
    guide = StyleGuide.objects.get(project=project)
    assert (
        guide.name == "Main style" and StyleReference.objects.filter(style_guide=guide).count() == 1
    )
    plan = plan_run(project=project, stage="style", provider="local")
    assert [job.scene_key for job in plan.jobs] == ["street-0", "street-1"]
    page = artist_client.get(reverse("projects:universe", args=[project.slug])).content.decode()
    assert "street-0.png" in page and "Added 1 style reference image(s)" in page


def test_character_references_go_to_that_characters_set(artist_client, project, make_png):
    mara = Character.objects.create(project=project, slug="mara", name="Mara")
    _post(
        artist_client,
        project.slug,
        "character",
        [SimpleUploadedFile("mara.png", make_png())],
        character=mara.pk,
    )
    item = ReferenceSetItem.objects.get()
    assert item.reference_set.character == mara and item.asset.kind == "character_ref"


def test_one_bad_file_stores_nothing_and_says_which(artist_client, project, make_png, settings):
    files = [SimpleUploadedFile("ok.png", make_png()), SimpleUploadedFile("bad.png", b"nope")]
    response = _post(artist_client, project.slug, "scene", files)
    assert response.status_code == 400
    assert "bad.png is not an image Kroma can read" in response.content.decode()
    assert Asset.objects.count() == 0


def test_character_kind_needs_a_character(artist_client, project, make_png):
    response = _post(
        artist_client, project.slug, "character", [SimpleUploadedFile("x.png", make_png())]
    )
    assert response.status_code == 400
    assert "Choose one of this project" in response.content.decode()


def test_adding_images_to_another_users_project_is_404(artist_client, other_project, make_png):
    response = _post(
        artist_client, other_project.slug, "scene", [SimpleUploadedFile("x.png", make_png())]
    )
    assert response.status_code == 404
    assert Asset.objects.count() == 0


def test_a_character_that_is_not_a_number_or_not_ours_is_a_form_error(
    artist_client, project, other_project, make_png
):
    theirs = Character.objects.create(project=other_project, slug="spy", name="Spy")
    for value in ("abc", str(theirs.pk)):
        files = [SimpleUploadedFile("mara.png", make_png())]
        response = _post(artist_client, project.slug, "character", files, character=value)
        assert response.status_code == 400
        assert "Choose one of this project&#x27;s characters." in response.content.decode()
    assert not Asset.objects.filter(project=project).exists()
