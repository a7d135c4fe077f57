"""The review pages: a run's and a panel's candidates with QA, source, ratings, rejects, picks;
filters and sorts; every view as a page, as an htmx partial and for another user's project."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pipeline.models import Run, RunCandidate
from projects.models import AuditEvent, Panel
from projects.services.story import panels_from_script
from tests.conftest import local_run

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _url(name, *args, slug="noir_city"):
    return reverse(f"pipeline:{name}", args=[slug, *args])


@pytest.fixture
def run(scene_project, user) -> Run:
    """A finished local run: three panels, three candidates each."""
    run = local_run(scene_project, user, candidates=3)
    assert run.status == "done"
    return run


def _candidate(run: Run, job: int = 0, index: int = 0) -> RunCandidate:
    return RunCandidate.objects.select_related("asset").get(
        job__run=run, job__index=job, index=index
    )


def test_run_review_shows_every_candidate_with_metrics_source_and_actions(artist_client, run):
    body = artist_client.get(_url("review_run", run.uid)).content.decode()
    assert body.count('class="review-card') == 9
    assert "9 of 9 candidates shown." in body
    assert "chroma excess" in body and "contrast" in body  # QA beside each, not in a tooltip
    assert "Source: base image" in body
    assert "Vary from this" in body and "Re-run this panel" in body
    assert "Use these settings again" in body
    assert 'id="review-lightbox"' in body and 'id="compare-slider"' in body
    assert "kroma/review.js" in body and "kroma/review.css" in body


def test_run_review_partial_is_the_review_region_only(artist_client, run):
    body = artist_client.get(_url("review_run", run.uid), {"show": "all"}, **HX).content.decode()
    assert body.lstrip().startswith('<div id="review"') and "<html" not in body


def test_review_of_another_users_run_or_panel_is_404(artist_client, other_project, run):
    assert artist_client.get(_url("review_run", run.uid, slug="secret_world")).status_code == 404
    panel = Panel.objects.get(project=run.project, key="harbor")
    assert artist_client.get(_url("review_panel", panel.pk, slug="secret_world")).status_code == 404
    other_panel = panels_from_script(project=other_project, actor=None, text="PANEL 1: Hidden.")[0]
    assert artist_client.get(_url("review_panel", other_panel.pk)).status_code == 404


def test_panel_review_shows_candidates_of_its_runs_newest_first(
    artist_client, run, scene_project, user
):
    second = local_run(scene_project, user, candidates=2, panels=["harbor"])
    panel = Panel.objects.get(project=scene_project, key="harbor")
    body = artist_client.get(_url("review_panel", panel.pk)).content.decode()
    assert body.count('class="review-card') == 5
    assert body.index(second.uid) < body.index(run.uid)
    partial = artist_client.get(_url("review_panel", panel.pk), **HX).content.decode()
    assert partial.lstrip().startswith('<div id="review"')


def test_rating_a_candidate_stores_it_audits_it_and_answers_its_card(artist_client, run):
    candidate = _candidate(run, index=1)
    response = artist_client.post(_url("review_rate", candidate.pk), {"rating": "4"}, **HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<li class="review-card')
    assert f'id="cand-{candidate.pk}"' in body
    assert 'data-rate="4" aria-pressed="true"' in body
    assert 'hx-swap-oob="true"' in body  # the group's heading: the best now may have changed
    candidate.asset.refresh_from_db()
    assert candidate.asset.rating == 4
    event = AuditEvent.objects.get(action="asset.rate")
    assert event.data["rating"] == 4


def test_rejecting_and_taking_back(artist_client, run):
    candidate = _candidate(run)
    artist_client.post(_url("review_rate", candidate.pk), {"rejected": "1"}, **HX)
    candidate.asset.refresh_from_db()
    assert candidate.asset.rejected is True
    body = artist_client.post(_url("review_rate", candidate.pk), {"rejected": "0"}, **HX)
    candidate.asset.refresh_from_db()
    assert candidate.asset.rejected is False and "Reject</button>" in body.content.decode()


def test_the_clear_button_clears_a_rating(artist_client, run):
    """The card's clear button (and the 0 key) sends rating="0"."""
    candidate = _candidate(run, index=2)
    artist_client.post(_url("review_rate", candidate.pk), {"rating": "3"}, **HX)
    response = artist_client.post(_url("review_rate", candidate.pk), {"rating": "0"}, **HX)
    assert response.status_code == 200
    assert 'data-rate="3" aria-pressed="true"' not in response.content.decode()
    candidate.asset.refresh_from_db()
    assert candidate.asset.rating is None
    assert AuditEvent.objects.filter(action="asset.rate").order_by("pk").last().data == {
        "assets": [candidate.asset_id],
        "rating": None,
    }


def test_a_bad_rating_is_refused_at_the_card(artist_client, run):
    candidate = _candidate(run)
    response = artist_client.post(_url("review_rate", candidate.pk), {"rating": "9"}, **HX)
    assert response.status_code == 400
    assert "A rating is from 1 to 5 (got 9)." in response.content.decode()
    candidate.asset.refresh_from_db()
    assert candidate.asset.rating is None


def test_plain_post_rating_returns_to_the_review(artist_client, run):
    candidate = _candidate(run)
    back = _url("review_run", run.uid) + "?sort=rating"
    response = artist_client.post(_url("review_rate", candidate.pk), {"rating": "2", "next": back})
    assert (response.status_code, response.headers["Location"]) == (302, back)
    elsewhere = artist_client.post(
        _url("review_rate", candidate.pk), {"rating": "2", "next": "https://evil.example/"}
    )
    assert elsewhere.headers["Location"] == _url("review_run", run.uid)


def test_rating_or_picking_in_another_users_project_is_404(artist_client, other_project, run):
    candidate = _candidate(run)
    for name in ("review_rate", "review_pick"):
        url = _url(name, candidate.pk, slug="secret_world")
        assert artist_client.post(url, {"rating": "3"}, **HX).status_code == 404
    candidate.asset.refresh_from_db()
    assert candidate.asset.rating is None


def test_picking_a_candidate_uses_it_and_answers_the_group(artist_client, run):
    candidate = _candidate(run, index=2)
    assert not candidate.selected
    response = artist_client.post(_url("review_pick", candidate.pk), **HX)
    assert response.status_code == 200
    body = response.content.decode()
    head = f'<section class="review-group card" id="group-{candidate.job_id}"'
    assert body.lstrip().startswith(head)
    assert "in use: <strong>c2</strong>" in body
    candidate.refresh_from_db()
    assert candidate.selected
    assert AuditEvent.objects.filter(action="run.selection_overridden").count() == 1


def test_filters_and_sorts(artist_client, run):
    first, second = _candidate(run, index=0), _candidate(run, index=1)
    artist_client.post(_url("review_rate", first.pk), {"rating": "2"}, **HX)
    artist_client.post(_url("review_rate", second.pk), {"rating": "5"}, **HX)
    rated = artist_client.get(_url("review_run", run.uid), {"show": "rated"}).content.decode()
    assert rated.count('class="review-card') == 2
    top = artist_client.get(_url("review_run", run.uid), {"min_rating": "5"}).content.decode()
    assert top.count('class="review-card') == 1 and f'id="cand-{second.pk}"' in top
    by_rating = artist_client.get(_url("review_run", run.uid), {"sort": "rating"}).content.decode()
    assert by_rating.index(f'id="cand-{second.pk}"') < by_rating.index(f'id="cand-{first.pk}"')
    artist_client.post(_url("review_rate", second.pk), {"rejected": "1"}, **HX)
    kept = artist_client.get(_url("review_run", run.uid), {"show": "kept"}).content.decode()
    assert kept.count('class="review-card') == 8 and f'id="cand-{second.pk}"' not in kept
    junk = artist_client.get(_url("review_run", run.uid), {"sort": "nope", "show": "?"})
    assert junk.content.decode().count('class="review-card') == 9  # invalid filters: defaults


def test_review_query_count_does_not_grow_with_candidates(
    artist_client, run, scene_project, user, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        artist_client.get(_url("review_run", run.uid))
    bigger = local_run(scene_project, user, candidates=6)
    with django_assert_max_num_queries(12):
        artist_client.get(_url("review_run", bigger.uid))


def test_panel_page_shows_its_version_tree_and_links_to_its_review(
    artist_client, run, scene_project, user
):
    time_run = local_run(scene_project, user, stage="time", panels=["harbor"], variation="dusk")
    panel = Panel.objects.get(project=scene_project, key="harbor")
    body = artist_client.get(_url("panel", panel.pk)).content.decode()
    tree = body[body.index('class="version-tree"') :]  # after the outer <ol
    assert tree.index(run.uid) < tree.index(time_run.uid)  # time is nested under style's pick
    assert tree.count("<ol") == 1 and "current time pick" in tree and "current style pick" in tree
    assert _url("review_panel", panel.pk) in body
    assert artist_client.get(_url("panel", panel.pk, slug="secret_world")).status_code == 404


def test_panel_page_without_runs_says_so(artist_client, scene_project):
    panel = Panel.objects.get(project=scene_project, key="alley")
    body = artist_client.get(_url("panel", panel.pk)).content.decode()
    assert "No runs of this panel yet." in body


@pytest.fixture
def failed_run(scene_project, user) -> Run:
    """Every candidate fails QA (as blank): picking one needs a reason."""
    scene_project.manifest_overrides = {
        **scene_project.manifest_overrides,
        "output_guard": {"min_std": 128},
    }
    scene_project.save()
    return local_run(scene_project, user, candidates=2, panels=["harbor"])


def test_a_failed_candidate_is_used_anyway_only_with_a_reason(artist_client, failed_run):
    candidate = _candidate(failed_run, index=1)
    page = artist_client.get(_url("review_run", failed_run.uid)).content.decode()
    assert "Use anyway…" in page and "failed QA" in page and "blank image" in page
    refused = artist_client.post(_url("review_pick", candidate.pk), **HX)
    assert refused.status_code == 400
    body = refused.content.decode()
    assert "say why you use it anyway" in body and '<details class="use-anyway" open>' in body
    candidate.refresh_from_db()
    assert not candidate.selected
    used = artist_client.post(
        _url("review_pick", candidate.pk), {"reason": "Fog on purpose."}, **HX
    )
    assert used.status_code == 200 and "in use: <strong>c1</strong>" in used.content.decode()
    candidate.refresh_from_db()
    assert candidate.selected and candidate.override_reason == "Fog on purpose."


def test_panel_review_query_count_does_not_grow_with_runs(
    artist_client, run, scene_project, user, django_assert_max_num_queries
):
    panel = Panel.objects.get(project=scene_project, key="harbor")
    with django_assert_max_num_queries(12):
        artist_client.get(_url("review_panel", panel.pk))
    for _ in range(3):
        local_run(scene_project, user, candidates=2, panels=["harbor"])
    with django_assert_max_num_queries(12):
        artist_client.get(_url("review_panel", panel.pk))


def test_when_ratings_put_another_first_the_heading_offers_it(artist_client, run):
    auto = RunCandidate.objects.get(job__run=run, job__index=0, selected=True)
    other = RunCandidate.objects.select_related("asset").filter(job=auto.job).exclude(pk=auto.pk)[0]
    body = artist_client.post(_url("review_rate", other.pk), {"rating": "5"}, **HX).content.decode()
    head = body[body.index('class="review-group-head"') :]
    assert "your ratings put it first" in head and f"Use c{other.index}</button>" in head
    assert _url("review_pick", other.pk) in head
    artist_client.post(_url("review_pick", other.pk), **HX)
    other.refresh_from_db()
    assert other.selected


def test_review_of_a_plan_says_there_is_nothing_to_review_yet(artist_client, scene_project, user):
    plan = local_run(scene_project, user, mode="dry")
    body = artist_client.get(_url("review_run", plan.uid)).content.decode()
    assert "No candidates to review: this is a plan" in body


def test_htmx_answers_keep_the_page_they_came_from(artist_client, run):
    candidate = RunCandidate.objects.filter(job__run=run, job__index=0, selected=False)[0]
    run_page = "http://testserver" + _url("review_run", run.uid) + "?sort=rating"
    body = artist_client.post(
        _url("review_rate", candidate.pk), {"rating": "3"}, HTTP_HX_CURRENT_URL=run_page, **HX
    ).content.decode()
    assert 'id="group-' in body and ">1. <a" in body  # a run's review numbers its panels
    assert f'name="next" value="{_url("review_run", run.uid)}?sort=rating"' in body
    panel_page = "http://testserver" + _url("review_panel", candidate.job.panel_id)
    body = artist_client.post(
        _url("review_rate", candidate.pk), {"rating": "4"}, HTTP_HX_CURRENT_URL=panel_page, **HX
    ).content.decode()
    assert ">1. <a" not in body and _url("review_run", run.uid) in body  # names its run


def test_review_of_a_run_under_way_says_to_reload_for_new_candidates(
    artist_client, scene_project, user
):
    queued = local_run(scene_project, user, dispatch="none")
    body = artist_client.get(_url("review_run", queued.uid)).content.decode()
    assert "This run is still queued" in body
