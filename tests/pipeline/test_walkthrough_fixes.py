"""What a first-time user tripped on in a walkthrough, each kept fixed."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from pipeline.errors import GuardError
from pipeline.models import Run, RunCandidate, RunJob
from pipeline.services.lab import create_lab_job, lab_results, process_lab_job
from pipeline.services.plan import plan_run
from pipeline.services.postprocess import run_pass
from pipeline.services.runs import override_selection, submit_run
from projects.models import Project, StyleGuide
from tests.conftest import FAST_RETRIES, NO_POSTPROCESS, local_run

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"


def test_reserved_slugs_are_refused(artist_client):
    response = artist_client.post(reverse("projects:new"), {"name": "X", "slug": "new"}, **HX)
    assert response.status_code == 400
    assert "reserved" in response.content.decode()
    assert not Project.objects.exists()


def test_renaming_a_project_reloads_the_page_and_plain_posts_redirect(artist_client, project):
    url = reverse("projects:edit_story", args=[project.slug])
    renamed = artist_client.post(url, {"name": "Noir City II"}, **HX)
    assert renamed.headers["HX-Refresh"] == "true"
    plain = artist_client.post(url, {"name": "Noir City III", "logline": "x"})
    assert plain.headers["Location"] == reverse("projects:universe", args=[project.slug])
    saved = artist_client.post(url, {"name": "Noir City III", "logline": "y"}, **HX)
    assert "saved" in saved.content.decode()


def test_a_canceled_run_keeps_updating_while_scenes_still_run(artist_client, scene_project, user):
    run = local_run(scene_project, user, dispatch="none")
    RunJob.objects.filter(run=run, index=0).update(status="running")
    Run.objects.filter(pk=run.pk).update(status="canceled")
    live = artist_client.get(reverse("pipeline:run_detail", args=["noir_city", run.uid]), **HX)
    assert live.status_code == 200 and "hx-trigger" in live.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_new_pick_is_post_processed_again(
    scene_project, user, django_capture_on_commit_callbacks
):
    scene_project.manifest_overrides = {
        **FAST_RETRIES,
        "postprocess": {**NO_POSTPROCESS, "color": {"enabled": True, "profile": "cold_rain"}},
    }
    scene_project.save()
    run = local_run(scene_project, user, candidates=2, panels=["harbor"])
    job = run.jobs.get()
    old_final = job.final_asset_id
    other = RunCandidate.objects.get(job=job, selected=False)
    override_selection(candidate=other, user=user)
    assert RunJob.objects.get(pk=job.pk).final_asset is None
    run_pass(job.postprocess_jobs.get().pk)  # what the worker does with the queued task
    job.refresh_from_db()
    new_final = job.final_asset
    assert new_final.pk != old_final
    assert new_final.links_out.filter(target=other.asset).exists()  # derived from the new pick


def test_dashboard_counts_real_runs_and_mentions_plans(artist_client, scene_project, user):
    submit_run(project=scene_project, user=user, stage="style", provider="local")
    body = artist_client.get(reverse("pipeline:dashboard", args=["noir_city"])).content.decode()
    assert '<div class="value">0</div><div class="stat-note">+ 1 dry plan</div>' in body


def test_characters_without_any_style_guide_says_to_create_one(scene_project):
    StyleGuide.objects.filter(project=scene_project).delete()
    with pytest.raises(GuardError, match="has no style guide"):
        plan_run(project=scene_project, stage="characters")


def test_lab_generate_without_a_server_key_is_refused_up_front(user, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    params = {"prompt": "x", "quality": "low", "size": "1024x1024", "n": 1}
    with pytest.raises(GuardError, match="OPENAI_API_KEY"):
        create_lab_job(user=user, operation="generate", params=params, files=[], confirm_spend=True)


def test_lab_save_twice_says_nothing_new_and_downloads_are_named(
    artist_client, user, project, settings, tmp_path
):
    settings.SCRATCH_ROOT = tmp_path
    job = create_lab_job(
        user=user,
        operation="color",
        params={"profile": "neutral"},
        files=[("wolf.jpg", (TESTDATA / "esrgan-inputs" / "wolf_gray.jpg").read_bytes())],
    )
    process_lab_job(str(job.pk))
    job.refresh_from_db()
    url = reverse("pipeline:lab_save", args=[job.pk])
    artist_client.post(url, {"project": "noir_city"})
    page = artist_client.post(url, {"project": "noir_city"}, follow=True).content.decode()
    assert "Saved 0 new image(s) to Noir City (1 already there)." in page
    download = artist_client.get(
        reverse("pipeline:lab_file", args=[job.pk, lab_results(job)[0]["file"]]) + "?download=1"
    )
    assert 'filename="wolf.color.png"' in download["Content-Disposition"]


def test_new_run_defaults_to_local_when_no_key_is_set_up(artist_client, scene_project, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    body = artist_client.get(reverse("pipeline:run_new", args=["noir_city"])).content.decode()
    assert '<option value="local" selected>' in body
    assert "No OpenAI key is set up" in body


def test_not_found_page_is_kroma_styled(artist_client):
    response = artist_client.get("/projects/nope/")
    assert response.status_code == 404
    assert "Nothing here." in response.content.decode()
