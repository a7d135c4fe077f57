"""The Pages page and the export views: page, htmx partials, another user's project -> 404."""

from __future__ import annotations

import pytest

from pipeline.services import exports
from projects.models import AuditEvent, Page, ProjectExport

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _url(name, project, *args):
    from django.urls import reverse

    return reverse(f"pipeline:{name}", args=[project.slug, *args])


def test_pages_page_shows_each_page_with_its_frames(artist_client, scene_project):
    response = artist_client.get(_url("pages", scene_project))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="project-tabs"' in html and "kroma/pages.css" in html
    page = Page.objects.get(project=scene_project)
    assert f'id="page-card-{page.pk}"' in html
    assert html.count('class="frame-line"') == 3
    for panel in scene_project.panels.all():
        assert f"/assets/{panel.base_asset_id}/thumb" in html
    assert "No exports yet." in html


def test_an_empty_story_says_so(artist_client, project):
    response = artist_client.get(_url("pages", project))
    assert "The story has no pages yet" in response.content.decode()


def test_the_live_preview_draws_unsaved_settings(artist_client, scene_project):
    response = artist_client.get(
        _url("pages", scene_project), {"page_size": "a4", "margin_mm": "20"}, **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith('\n  <section id="page-previews"') or 'id="page-previews"' in html[:80]
    assert 'viewBox="0 0 210.00 297.00"' in html
    assert 'x="20.00"' in html
    assert "Preview with unsaved settings." in html
    scene_project.refresh_from_db()
    assert scene_project.layout == {}


def test_the_live_preview_says_what_is_wrong(artist_client, scene_project):
    response = artist_client.get(_url("pages", scene_project), {"gutter_mm": "99"}, **HTMX)
    assert response.status_code == 400
    assert "Preview not updated: Gutter: Enter a value from 0 to 30." in response.content.decode()


def test_saving_page_settings_returns_the_region(artist_client, scene_project):
    data = {
        "page_size": "letter",
        "gutter_mm": "5",
        "margin_mm": "10",
        "bleed_mm": "3",
        "dpi": "300",
    }
    response = artist_client.post(_url("layout_settings", scene_project), data, **HTMX)
    assert response.status_code == 200
    assert "Page settings saved." in response.content.decode()
    scene_project.refresh_from_db()
    assert scene_project.layout["page_size"] == "letter"


def test_bad_page_settings_show_field_errors_and_save_nothing(artist_client, scene_project):
    data = {
        "page_size": "letter",
        "gutter_mm": "x",
        "margin_mm": "10",
        "bleed_mm": "30",
        "dpi": "300",
    }
    response = artist_client.post(_url("layout_settings", scene_project), data, **HTMX)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="err-gutter_mm">Enter a number.' in html
    assert 'id="err-bleed_mm">Enter a value from 0 to 12.' in html
    scene_project.refresh_from_db()
    assert scene_project.layout == {}


def test_plain_post_of_settings_redirects(artist_client, scene_project):
    data = {"page_size": "a4", "gutter_mm": "4", "margin_mm": "10", "bleed_mm": "3", "dpi": "300"}
    response = artist_client.post(_url("layout_settings", scene_project), data)
    assert response.status_code == 302


def test_choosing_a_page_layout_redraws_its_card(artist_client, scene_project):
    page = Page.objects.get(project=scene_project)
    response = artist_client.post(
        _url("page_layout", scene_project, page.pk), {"layout": "grid2x3"}, **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith(f'<article class="card page-card" id="page-card-{page.pk}"')
    assert html.count('class="frame-line"') == 6
    assert Page.objects.get(pk=page.pk).layout == "grid2x3"
    assert AuditEvent.objects.filter(action="page.layout").count() == 1


def test_an_unknown_layout_is_an_error_on_the_card(artist_client, scene_project):
    page = Page.objects.get(project=scene_project)
    response = artist_client.post(
        _url("page_layout", scene_project, page.pk), {"layout": "poster"}, **HTMX
    )
    assert response.status_code == 400
    assert "Choose a layout" in response.content.decode()


def test_requesting_an_export_shows_it_queued(artist_client, scene_project):
    response = artist_client.post(
        _url("export_new", scene_project), {"kind": "pdf", "dpi": "150"}, **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    export = ProjectExport.objects.get(project=scene_project)
    assert f"Export {export.pk} queued" in html
    assert 'hx-trigger="every 2s"' in html  # polling while it is queued
    assert export.options["settings"]["dpi"] == 150
    assert '<option value="pdf" selected>' in html  # the form keeps what was sent


def test_a_bad_export_request_says_why_and_creates_nothing(artist_client, scene_project):
    response = artist_client.post(
        _url("export_new", scene_project), {"kind": "pdf", "dpi": "5000"}, **HTMX
    )
    assert response.status_code == 400
    assert "Enter a value from 72 to 600." in response.content.decode()
    assert not ProjectExport.objects.exists()


def test_the_export_list_polls_until_final(artist_client, scene_project, user):
    export = exports.request_export(
        project=scene_project, user=user, kind="cbz", options={"dpi": 72}
    )
    running = artist_client.get(_url("exports", scene_project), **HTMX)
    assert running.status_code == 200
    assert (
        "waiting for the worker" in running.content.decode() or "queued" in running.content.decode()
    )
    exports.run_export(export.pk)
    done = artist_client.get(_url("exports", scene_project), **HTMX)
    assert done.status_code == 286  # htmx stops polling
    assert _url("export_download", scene_project, export.pk) in done.content.decode()


def test_panels_a_layout_left_out_are_named_in_the_list(artist_client, scene_project, user):
    from pipeline.services.layouts import set_page_layout

    page = Page.objects.get(project=scene_project)
    set_page_layout(project=scene_project, user=user, page_id=page.pk, layout="full")
    export = exports.request_export(
        project=scene_project, user=user, kind="cbz", options={"dpi": 72}
    )
    exports.run_export(export.pk)
    html = artist_client.get(_url("exports", scene_project), **HTMX).content.decode()
    assert "2 panels did not fit their page's layout and were left out." in html


def test_a_done_export_downloads_with_its_readable_name(artist_client, scene_project, user):
    export = exports.request_export(project=scene_project, user=user, kind="zip")
    exports.run_export(export.pk)
    export.refresh_from_db()
    response = artist_client.get(_url("export_download", scene_project, export.pk))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{export.file_name}"'
    assert b"".join(response.streaming_content)[:2] == b"PK"


def test_an_unfinished_export_is_not_downloadable(artist_client, scene_project, user):
    export = exports.request_export(project=scene_project, user=user, kind="zip")
    assert artist_client.get(_url("export_download", scene_project, export.pk)).status_code == 404


@pytest.mark.parametrize(
    ("name", "method", "extra"),
    [
        ("pages", "get", ()),
        ("layout_settings", "post", ()),
        ("exports", "get", ()),
        ("export_new", "post", ()),
    ],
)
def test_another_users_project_is_404(artist_client, other_project, name, method, extra):
    response = getattr(artist_client, method)(_url(name, other_project, *extra), **HTMX)
    assert response.status_code == 404


def test_another_projects_page_and_export_are_404(
    artist_client, scene_project, other_project, other_user, make_png
):
    from projects.services.story import add_page

    page = add_page(project=other_project, actor=other_user)
    response = artist_client.post(_url("page_layout", other_project, page.pk), {"layout": "full"})
    assert response.status_code == 404
    # the artist's own project with the other project's page id is 404 too
    response = artist_client.post(_url("page_layout", scene_project, page.pk), {"layout": "full"})
    assert response.status_code == 404
    export = ProjectExport.objects.create(
        project=other_project, kind="zip", status="done", path="x"
    )
    assert artist_client.get(_url("export_download", other_project, export.pk)).status_code == 404
    assert artist_client.get(_url("export_download", scene_project, export.pk)).status_code == 404


def test_the_pages_page_makes_the_same_queries_for_one_page_or_three(
    artist_client, scene_project, user
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from projects.services.story import add_page

    url = _url("pages", scene_project)
    with CaptureQueriesContext(connection) as one:
        artist_client.get(url)
    chapter = Page.objects.get(project=scene_project).chapter
    for _ in range(2):
        add_page(project=scene_project, actor=user, chapter=chapter)
    exports.request_export(project=scene_project, user=user, kind="zip")
    with CaptureQueriesContext(connection) as three:
        response = artist_client.get(url)
    assert response.content.decode().count('class="card page-card"') == 3
    assert len(three.captured_queries) == len(one.captured_queries)
