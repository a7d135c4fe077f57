from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pipeline.models import CostEvent, QualityReport, Run, RunJob
from projects.services.projects import create_project

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _run(project, status="done", jobs=(("done", 2), ("failed", 1))):
    run = Run.objects.create(project=project, stage="style", mode="run", status=status)
    index = 0
    for job_status, count in jobs:
        for _ in range(count):
            RunJob.objects.create(
                project=project, run=run, index=index, scene_key=f"s{index}", status=job_status
            )
            index += 1
    return run


def test_dashboard_shows_figures_and_recent_runs(artist_client, project):
    run = _run(project, status="partial")
    for i, passed in enumerate([True, True, True, False]):
        QualityReport.objects.create(project=project, run=run, passed=passed)
        CostEvent.objects.create(
            project=project,
            run=run,
            provider="openai",
            operation="edit",
            usd=Decimal("0.25"),
            idempotency_key=f"k{i}",
        )
    response = artist_client.get(reverse("pipeline:dashboard", args=[project.slug]))
    body = response.content.decode()
    assert response.status_code == 200
    assert run.uid in body
    assert "2/3" in body  # jobs done / total
    assert "$1.00" in body
    assert "75%" in body
    assert 'class="badge-status status-partial"' in body


def test_dashboard_with_no_runs_shows_an_empty_state(artist_client, project):
    body = artist_client.get(reverse("pipeline:dashboard", args=[project.slug])).content.decode()
    assert "No runs yet." in body


def test_dashboard_partial_renders_main_region_only(artist_client, project):
    response = artist_client.get(reverse("pipeline:dashboard", args=[project.slug]), **HX)
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="dashboard"')
    assert "sidebar" not in body


def test_dashboard_of_another_users_project_is_404(artist_client, other_project):
    url = reverse("pipeline:dashboard", args=[other_project.slug])
    assert artist_client.get(url).status_code == 404
    assert artist_client.get(url, **HX).status_code == 404


def test_dashboard_sidebar_lists_only_own_projects_with_run_counts(
    artist_client, project, other_project
):
    _run(project)
    _run(project)
    body = artist_client.get(reverse("pipeline:dashboard", args=[project.slug])).content.decode()
    assert "Secret World" not in body
    assert 'title="2 runs">2</span>' in body


def _dashboard_queries(client, slug) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("pipeline:dashboard", args=[slug])).status_code == 200
    return len(ctx.captured_queries)


def test_dashboard_query_count_is_constant_in_projects_and_runs(
    artist_client, user, project, django_assert_num_queries
):
    _run(project)
    with django_assert_num_queries(11):
        artist_client.get(reverse("pipeline:dashboard", args=[project.slug]))
    for i in range(19):
        other = create_project(owner=user, name=f"World {i}", slug=f"world_{i}")
        _run(other)
        _run(project)
    with django_assert_num_queries(11):
        artist_client.get(reverse("pipeline:dashboard", args=[project.slug]))


def test_home_redirects_to_first_project(artist_client, project):
    response = artist_client.get(reverse("pipeline:home"))
    assert response.status_code == 302
    assert response.headers["Location"] == reverse("pipeline:dashboard", args=[project.slug])


def test_home_without_projects_shows_welcome_with_form(artist_client):
    body = artist_client.get(reverse("pipeline:home")).content.decode()
    assert "Welcome to Kroma" in body
    assert 'name="name"' in body


def test_projects_page_lists_own_projects_with_covers_and_runs(
    artist_client, user, project, other_project, make_png, django_assert_num_queries
):
    from projects.services.assets import store_image

    store_image(project=project, data=make_png(), kind="scene_ref", name="s.png")
    _run(project)
    Run.objects.create(project=project, stage="style", mode="dry")
    url = reverse("pipeline:project_list")
    body = artist_client.get(url).content.decode()
    assert "Noir City" in body and "Secret World" not in body
    assert "1 run ·" in body  # real runs only: the dry plan is not counted
    assert "/assets/" in body and "/thumb" in body  # the first scene is the cover
    with django_assert_num_queries(5):
        artist_client.get(url)
    for i in range(4):
        create_project(owner=user, name=f"World {i}", slug=f"world_{i}")
    with django_assert_num_queries(5):
        artist_client.get(url)


def test_dashboard_export_button_opens_the_exports_of_the_pages_page(artist_client, project):
    body = artist_client.get(reverse("pipeline:dashboard", args=[project.slug])).content.decode()
    assert f'href="{reverse("pipeline:pages", args=[project.slug])}#exports"' in body
    assert "/soon/export/" not in body
