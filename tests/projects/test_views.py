from __future__ import annotations

import pytest
from django.urls import reverse

from projects.models import AuditEvent, Project
from projects.services.assets import store_image

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def test_new_project_form_partial_renders_only_the_form(artist_client):
    response = artist_client.get(reverse("projects:new"), **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith("<form")
    assert "<html" not in body


def test_new_project_full_page_renders(artist_client):
    response = artist_client.get(reverse("projects:new"))
    assert response.status_code == 200
    assert "<html" in response.content.decode()


def test_new_project_htmx_creates_project_and_redirects(artist_client, user):
    response = artist_client.post(reverse("projects:new"), {"name": "Eugenia Prod"}, **HX)
    project = Project.objects.get(owner=user)
    assert (project.name, project.slug) == ("Eugenia Prod", "eugenia_prod")
    assert response.headers["HX-Redirect"] == reverse("pipeline:dashboard", args=["eugenia_prod"])
    assert project.storage.backend == "local"
    assert AuditEvent.objects.filter(project=project, action="project.created").exists()


def test_new_project_without_htmx_redirects_with_303(artist_client):
    response = artist_client.post(reverse("projects:new"), {"name": "Plain Form"})
    assert response.status_code == 303
    assert response.headers["Location"] == reverse("pipeline:dashboard", args=["plain_form"])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"name": "!!!"}, "The name needs at least one letter or digit."),
        ({"name": "Ok", "slug": "Bad Slug!"}, "Use 1-64 lowercase letters"),
        ({"name": "Noir City"}, "already exists"),
    ],
)
def test_new_project_invalid_input_shows_inline_error_and_creates_nothing(
    artist_client, project, data, message
):
    response = artist_client.post(reverse("projects:new"), data, **HX)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert 'aria-invalid="true"' in response.content.decode()
    assert Project.objects.count() == 1


def test_universe_full_page_shows_story_characters_and_guides(artist_client, project):
    from projects.models import Character, StyleGuide

    project.logline = "Rain never stops in Noir City."
    project.save()
    Character.objects.create(project=project, slug="vic", name="Vic Lane")
    StyleGuide.objects.create(project=project, slug="ink", name="Ink wash", status="locked")
    response = artist_client.get(reverse("projects:universe", args=[project.slug]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Rain never stops in Noir City." in body
    assert "Vic Lane" in body
    assert "Ink wash" in body and "locked" in body


def test_universe_partial_returns_story_section_only(artist_client, project):
    response = artist_client.get(reverse("projects:universe", args=[project.slug]), **HX)
    body = response.content.decode()
    assert body.lstrip().startswith('<section class="card story"')
    assert "<html" not in body


def test_universe_of_another_users_project_is_404(artist_client, other_project):
    response = artist_client.get(reverse("projects:universe", args=[other_project.slug]))
    assert response.status_code == 404


def test_story_edit_form_and_save(artist_client, project):
    url = reverse("projects:edit_story", args=[project.slug])
    form = artist_client.get(url, **HX)
    assert form.status_code == 200 and 'name="logline"' in form.content.decode()
    response = artist_client.post(
        url, {"name": "Noir City", "logline": "New logline", "tone": "bleak"}, **HX
    )
    assert response.status_code == 200
    assert "New logline" in response.content.decode()
    project.refresh_from_db()
    assert (project.logline, project.tone) == ("New logline", "bleak")


def test_story_edit_rejects_empty_name_and_keeps_the_old_one(artist_client, project):
    url = reverse("projects:edit_story", args=[project.slug])
    response = artist_client.post(url, {"name": "", "logline": "x"}, **HX)
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    project.refresh_from_db()
    assert project.name == "Noir City"


def test_story_edit_of_another_users_project_is_404(artist_client, other_project):
    url = reverse("projects:edit_story", args=[other_project.slug])
    assert artist_client.post(url, {"name": "Hijacked"}, **HX).status_code == 404
    other_project.refresh_from_db()
    assert other_project.name == "Secret World"


def test_asset_file_and_thumbnail_are_served_to_the_owner(artist_client, project, make_png):
    asset = store_image(project=project, data=make_png(600, 400), kind="upload", name="a.png")
    file_response = artist_client.get(asset.get_absolute_url())
    assert file_response.status_code == 200
    assert file_response["Content-Type"] == "image/png"
    thumb = artist_client.get(asset.thumbnail_url())
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/webp"


def test_asset_of_another_users_project_is_404(artist_client, other_project, make_png):
    asset = store_image(project=other_project, data=make_png(), kind="upload", name="a.png")
    assert artist_client.get(asset.get_absolute_url()).status_code == 404
    assert artist_client.get(asset.thumbnail_url()).status_code == 404
    # Guessing the id under one's own project slug does not help either.
    url = reverse("projects:asset_file", args=["noir_city", asset.pk])
    assert artist_client.get(url).status_code == 404


def test_asset_pages_require_login(client, project, make_png):
    asset = store_image(project=project, data=make_png(), kind="upload", name="a.png")
    response = client.get(asset.get_absolute_url())
    assert response.status_code == 302
    assert response.headers["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("feature", ["copilot", "export", "settings"])
def test_coming_soon_pages_render_for_project_actions(artist_client, project, feature):
    response = artist_client.get(reverse("projects:project_soon", args=[project.slug, feature]))
    assert response.status_code == 200
    assert "Coming soon" in response.content.decode()


def test_coming_soon_unknown_feature_is_404(artist_client):
    assert artist_client.get(reverse("projects:soon", args=["nope"])).status_code == 404


def test_asset_list_filters_by_kind_and_paginates(
    artist_client, project, make_png, django_assert_num_queries
):
    for i in range(3):
        store_image(project=project, data=make_png(20 + i, 20), kind="scene_ref", name=f"s{i}.png")
    store_image(project=project, data=make_png(50, 50), kind="style_ref", name="ink.png")
    url = reverse("projects:asset_list", args=[project.slug])
    body = artist_client.get(url).content.decode()
    assert "4 images" in body and body.count('class="asset-tile"') == 4
    scenes = artist_client.get(url, {"kind": "scene_ref"}).content.decode()
    assert scenes.count('class="asset-tile"') == 3
    bad = artist_client.get(url, {"kind": "nonsense", "page": "-3"})
    assert bad.status_code == 200 and bad.content.decode().count('class="asset-tile"') == 4
    with django_assert_num_queries(9):
        artist_client.get(url)
    for i in range(6):
        store_image(project=project, data=make_png(30 + i, 30), kind="candidate", name=f"c{i}.png")
    with django_assert_num_queries(9):  # the same with more images
        artist_client.get(url)


def test_asset_list_of_another_users_project_is_404(artist_client, other_project):
    assert (
        artist_client.get(reverse("projects:asset_list", args=[other_project.slug])).status_code
        == 404
    )


def test_story_text_has_a_length_limit_and_the_form_says_so(artist_client, project):
    url = reverse("projects:edit_story", args=[project.slug])
    response = artist_client.post(
        url, {"name": project.name, "setting": "x" * 5_000_000, "notes": "ok"}
    )
    assert response.status_code in (200, 400)
    assert "Ensure this value has at most 4000 characters" in response.content.decode()
    project.refresh_from_db()
    assert project.setting == ""
