"""The runs list: real runs by default, dry plans behind a toggle, filters, pages, isolation."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pipeline.models import Run
from pipeline.services.runs import confirm_plan
from tests.conftest import local_run

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _list(client, **params):
    return client.get(reverse("pipeline:run_list", args=["noir_city"]), params, **{})


def test_real_runs_by_default_and_plans_behind_the_toggle(artist_client, scene_project, user):
    real = local_run(scene_project, user, panels=["harbor"], candidates=1)
    plan = local_run(scene_project, user, mode="dry")
    body = _list(artist_client).content.decode()
    assert real.uid in body and plan.uid not in body and "1 run." in body
    body = _list(artist_client, plans="on").content.decode()
    assert real.uid in body and plan.uid in body


def test_a_confirmed_plan_shows_as_confirmed_and_links_to_its_run(
    artist_client, scene_project, user
):
    plan = local_run(scene_project, user, mode="dry")
    run = confirm_plan(plan=plan, user=user)
    body = _list(artist_client, plans="on").content.decode()
    link = reverse("pipeline:run_detail", args=["noir_city", run.uid])
    assert f'href="{link}" title="This plan became {run.uid}">confirmed' in body


def test_filters_by_stage_status_panel_and_search(artist_client, scene_project, user):
    harbor = local_run(scene_project, user, panels=["harbor"], candidates=1)
    alley = local_run(scene_project, user, panels=["alley"], candidates=1)
    Run.objects.filter(pk=alley.pk).update(status="failed")
    body = _list(artist_client, panel="harbor").content.decode()
    assert harbor.uid in body and alley.uid not in body
    body = _list(artist_client, status="failed").content.decode()
    assert alley.uid in body and harbor.uid not in body
    body = _list(artist_client, stage="time").content.decode()
    assert "No run matches these filters." in body
    body = _list(artist_client, q=alley.uid[-6:]).content.decode()
    assert alley.uid in body and harbor.uid not in body


def test_bad_filters_are_a_400_with_the_field_and_the_partial_is_just_the_results(
    artist_client, scene_project
):
    response = _list(artist_client, stage="sideways", since="yesterday")
    assert response.status_code == 400
    body = response.content.decode()
    assert "Stage: Select a valid choice." in body and "From: Enter a valid date." in body
    partial = artist_client.get(reverse("pipeline:run_list", args=["noir_city"]), **HX)
    assert partial.content.decode().lstrip().startswith('<div id="run-results">')


def test_pages_of_fifty_newest_first(artist_client, scene_project):
    Run.objects.bulk_create(
        Run(project=scene_project, uid=f"run_bulk_{i:03d}", stage="style", mode="run")
        for i in range(60)
    )
    first = _list(artist_client).content.decode()
    assert "Page 1 of 2" in first and first.count(">run_bulk_") == 50
    second = _list(artist_client, page=2).content.decode()
    assert second.count(">run_bulk_") == 10


def test_another_users_runs_are_not_listed_and_their_list_is_404(
    client, other_user, artist_client, scene_project, other_project, user
):
    mine = local_run(scene_project, user, panels=["harbor"], candidates=1)
    client.force_login(other_user)
    assert client.get(reverse("pipeline:run_list", args=["noir_city"])).status_code == 404
    theirs = client.get(reverse("pipeline:run_list", args=["secret_world"])).content.decode()
    assert mine.uid not in theirs


def test_the_dashboard_links_to_all_runs(artist_client, scene_project, user):
    local_run(scene_project, user, panels=["harbor"], candidates=1)
    body = artist_client.get(reverse("pipeline:dashboard", args=["noir_city"])).content.decode()
    assert f'href="{reverse("pipeline:run_list", args=["noir_city"])}"' in body


def test_a_run_can_be_named_found_by_its_name_and_the_rename_is_audited(
    artist_client, scene_project, user
):
    from projects.models import AuditEvent

    run = local_run(scene_project, user, panels=["harbor"], candidates=1)
    url = reverse("pipeline:run_rename", args=["noir_city", run.uid])
    assert artist_client.post(url, {"name": "  Harbour,  first pass "}).status_code == 302
    run.refresh_from_db()
    assert run.name == "Harbour, first pass"
    page = artist_client.get(reverse("pipeline:run_detail", args=["noir_city", run.uid]))
    assert "Harbour, first pass</h2>" in page.content.decode()
    assert "Harbour, first pass" in _list(artist_client, q="first pass").content.decode()
    event = AuditEvent.objects.get(action="run.renamed")
    assert event.data == {"from": "", "to": "Harbour, first pass"}
    response = artist_client.post(url, {"name": "x" * 121})
    assert response.status_code == 400 and "at most 120" in response.content.decode()
    run.refresh_from_db()
    assert run.name == "Harbour, first pass"


def test_another_user_cannot_rename_a_run(client, other_user, scene_project, user):
    run = local_run(scene_project, user, panels=["harbor"], candidates=1)
    client.force_login(other_user)
    url = reverse("pipeline:run_rename", args=["noir_city", run.uid])
    assert client.post(url, {"name": "mine"}).status_code == 404
    run.refresh_from_db()
    assert run.name == ""


def test_the_runs_list_does_not_grow_in_queries_with_runs(artist_client, scene_project, user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert _list(artist_client, plans="on").status_code == 200
        return len(captured)

    local_run(scene_project, user, panels=["harbor"], candidates=1)
    one = count()
    for _ in range(19):
        Run.objects.create(project=scene_project, stage="style", mode="run", status="done")
    assert count() == one
