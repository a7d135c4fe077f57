"""Review services: the rating as ranking's tie-breaker, review order, recipes recalled into
New Run, an edited prompt, and a panel's version tree across stages."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.html import escape

from pipeline.models import Run, RunCandidate, RunJob
from pipeline.qa import QAResult, rank_candidates
from pipeline.services.picks import panel_picks
from pipeline.services.review import ranked, recipe_initial, review_run, version_tree
from pipeline.services.runs import submit_run
from projects.models import Panel
from projects.services.ratings import rate_assets
from tests.conftest import local_run

pytestmark = pytest.mark.django_db


def _result(hard: int, soft: int, excess: float) -> QAResult:
    return QAResult({"mean_chroma_excess": excess}, ["h"] * hard, ["s"] * soft)


def test_rating_breaks_ties_after_qa_higher_first_unrated_after_rated():
    results = {
        0: _result(0, 0, 0.5),  # unrated, lowest excess
        1: _result(0, 0, 2.0),  # rated 3
        2: _result(0, 0, 3.0),  # rated 5
        3: _result(0, 1, 0.0),  # a soft warning beats any rating
        4: _result(1, 0, 0.0),  # rated 5 but failed QA
        5: _result(0, 0, 1.0),  # unrated
    }
    ratings = {1: 3, 2: 5, 4: 5}
    assert rank_candidates(results, ratings) == [2, 1, 0, 5, 3, 4]
    assert rank_candidates(results) == [0, 5, 1, 2, 3, 4]  # without ratings: as before


@pytest.fixture
def run(scene_project, user) -> Run:
    return local_run(scene_project, user, candidates=3, panels=["harbor"])


def test_review_order_uses_current_ratings_and_puts_rejected_last(run, user):
    candidates = list(RunCandidate.objects.filter(job__run=run).select_related("asset"))
    by_index = {c.index: c for c in candidates}
    rate_assets(project=run.project, user=user, asset_ids=[by_index[2].asset_id], rating=5)
    rate_assets(project=run.project, user=user, asset_ids=[by_index[0].asset_id], rejected=True)
    group = review_run(run=run)[0]
    order = [c.index for c in group.candidates]
    assert order[0] == 2 and order[-1] == 0
    assert group.best.index == 2
    assert [c.review_rank for c in group.candidates] == [1, 2, 3]
    # The automatic pick stays until the artist picks: the page says the ratings disagree.
    assert group.selected.index != 2 and group.best_is_not_picked


def test_ranked_puts_unchecked_candidates_after_checked_ones(run):
    candidates = list(RunCandidate.objects.filter(job__run=run).select_related("asset"))
    candidates[0].qa_summary = {}
    assert ranked(candidates)[-1] is candidates[0]


def test_recipe_of_a_run_is_its_request(run):
    initial = recipe_initial(run=run, exact=False)
    assert initial["stage"] == "style" and initial["panels"] == ["harbor"]
    assert initial["candidates"] == 3 and initial["provider"] == "local"
    assert initial["build_on"] == "pick" and initial["prompt"] == ""


def test_recipe_of_a_candidate_varies_from_it_with_its_prompt(run):
    job = RunJob.objects.get(run=run)
    candidate = RunCandidate.objects.get(job=job, index=1)
    initial = recipe_initial(run=run, job=job, candidate=candidate, exact=False)
    assert initial["from_candidate"] == candidate.pk
    assert initial["prompt"] == job.prompt and initial["panels"] == ["harbor"]
    rerun = recipe_initial(run=run, job=job, exact=False)
    assert rerun["build_on"] == "base" and "from_candidate" not in rerun  # as it started
    assert rerun["prompt"] == ""


def test_rerunning_a_job_that_started_from_a_candidate_builds_on_it_again(run, user):
    source = RunCandidate.objects.get(job__run=run, selected=True)
    later = local_run(
        run.project, user, stage="time", panels=["harbor"], variation="night", candidates=1
    )
    job = RunJob.objects.get(run=later)
    assert job.input_asset_id == source.asset_id
    initial = recipe_initial(run=later, job=job, exact=True)
    assert initial["from_candidate"] == source.pk and initial["prompt"] == job.prompt
    assert initial["variation"] == "night" and initial["stage"] == "time"


def test_an_edited_prompt_is_sent_instead_of_the_template_and_survives_confirm(run, user):
    plan = submit_run(
        project=run.project,
        user=user,
        stage="style",
        panels=["harbor"],
        provider="local",
        prompt="  Ink wash, heavy rain  ",
    )
    assert plan.jobs.get().prompt == "Ink wash, heavy rain"
    assert plan.plan["request"]["prompt"] == "Ink wash, heavy rain"


def test_new_run_recalls_a_recipe_into_the_form(artist_client, run):
    job = RunJob.objects.get(run=run)
    candidate = RunCandidate.objects.get(job=job, index=2)
    url = reverse("pipeline:run_new", args=["noir_city"])
    body = artist_client.get(url, {"recipe": run.uid, "job": job.pk, "from": candidate.pk})
    page = body.content.decode()
    assert "Filled in from run" in page
    assert f'name="from_candidate" value="{candidate.pk}"' in page
    assert f"Builds on candidate c{candidate.index} of style lock run {run.uid}" in page
    assert escape(job.prompt)[:60] in page
    assert artist_client.get(url, {"recipe": "run_nope"}).status_code == 404


def test_new_run_plans_a_variation_with_the_edited_prompt(artist_client, run):
    job = RunJob.objects.get(run=run)
    candidate = RunCandidate.objects.get(job=job, index=2)
    response = artist_client.post(
        reverse("pipeline:run_new", args=["noir_city"]),
        {
            "stage": "style",
            "panels": ["harbor"],
            "candidates": 2,
            "provider": "local",
            "from_candidate": candidate.pk,
            "prompt": "Same panel, harder shadows.",
        },
    )
    assert response.status_code == 302
    plan = Run.objects.filter(mode="dry").get()
    planned = plan.jobs.get()
    assert planned.prompt == "Same panel, harder shadows."
    assert planned.input_asset_id == candidate.asset_id


def test_version_tree_links_stages_by_the_pick_each_used(run, user, scene_project):
    time_run = local_run(
        scene_project, user, stage="time", panels=["harbor"], variation="dusk", candidates=1
    )
    again = local_run(scene_project, user, stage="style", panels=["harbor"], candidates=1)
    panel = Panel.objects.get(project=scene_project, key="harbor")
    tree = version_tree(panel=panel, current=panel_picks([panel])[panel.pk])
    assert [node.job.run.uid for node in tree] == [run.uid, again.uid]  # two style roots
    child = tree[0].children[0]
    assert child.job.run.uid == time_run.uid and child.stage == "time"
    assert child.current and tree[1].current and not tree[0].current
    assert tree[0].pick.selected and tree[0].pick.job_id == tree[0].job.pk


def test_a_version_built_on_a_candidate_no_longer_picked_says_so(run, user, scene_project):
    from pipeline.services.runs import override_selection

    job = run.jobs.get(scene_key="harbor")
    first, other = RunCandidate.objects.filter(job=job).order_by("index")[:2]
    picked = first if first.selected else other
    time_run = local_run(
        scene_project, user, stage="time", panels=["harbor"], variation="dusk", candidates=1
    )
    panel = Panel.objects.get(project=scene_project, key="harbor")
    child = version_tree(panel=panel)[0].children[0]
    assert child.job.run.uid == time_run.uid
    assert (child.source_index, child.stale) == (picked.index, False)
    override_selection(candidate=other if picked == first else first, user=user)
    child = version_tree(panel=panel)[0].children[0]
    assert (child.source_index, child.stale) == (picked.index, True)


def test_a_canceled_run_picks_nothing(run, user, scene_project):
    panel = Panel.objects.get(project=scene_project, key="harbor")
    before = panel_picks([panel])[panel.pk]["style"]
    later = local_run(scene_project, user, panels=["harbor"], candidates=1)
    assert panel_picks([panel])[panel.pk]["style"].job.run_id == later.pk
    Run.objects.filter(pk=later.pk).update(status="canceled")
    assert panel_picks([panel])[panel.pk]["style"].pk == before.pk
