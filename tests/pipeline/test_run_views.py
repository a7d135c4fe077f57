from __future__ import annotations

import pytest
from django.urls import reverse
from django_q.models import OrmQ

from pipeline.models import Run
from pipeline.services.runs import submit_run
from tests.conftest import FAST_RETRIES, local_run

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def test_new_run_page_lists_stages_and_scenes(artist_client, scene_project):
    body = artist_client.get(reverse("pipeline:run_new", args=["noir_city"])).content.decode()
    assert "Style lock" in body and "harbor" in body and "rooftop" in body


def test_new_run_plans_a_dry_run_and_redirects_to_it(artist_client, scene_project, fake_openai):
    response = artist_client.post(
        reverse("pipeline:run_new", args=["noir_city"]),
        {"stage": "style", "panels": ["alley"], "candidates": 2, "provider": "openai"},
    )
    run = Run.objects.get()
    assert response.status_code == 302
    assert response.headers["Location"] == reverse(
        "pipeline:run_detail", args=["noir_city", run.uid]
    )
    assert (run.mode, run.candidates_per_job) == ("dry", 2)
    assert list(run.jobs.values_list("scene_key", flat=True)) == ["alley"]
    page = artist_client.get(response.headers["Location"]).content.decode()
    assert "This is a plan." in page and "Run it — spend about $" in page
    assert fake_openai.calls == []


def test_new_run_refusal_is_shown_on_the_form(artist_client, scene_project):
    response = artist_client.post(
        reverse("pipeline:run_new", args=["noir_city"]),
        {"stage": "characters", "candidates": 2, "provider": "openai"},
    )
    assert response.status_code == 400
    assert "needs a locked style" in response.content.decode()
    assert Run.objects.count() == 0


def test_new_run_validates_candidates(artist_client, scene_project):
    response = artist_client.post(
        reverse("pipeline:run_new", args=["noir_city"]),
        {"stage": "style", "candidates": 9, "provider": "openai"},
    )
    assert response.status_code == 400
    assert "less than or equal to 6" in response.content.decode()


def test_confirm_turns_the_plan_into_a_queued_run(
    artist_client, scene_project, user, django_capture_on_commit_callbacks
):
    dry = submit_run(
        project=scene_project,
        user=user,
        stage="style",
        candidates=2,
        panels=["harbor"],
        provider="local",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = artist_client.post(reverse("pipeline:run_confirm", args=["noir_city", dry.uid]))
    run = Run.objects.exclude(pk=dry.pk).get()
    assert response.headers["Location"] == reverse(
        "pipeline:run_detail", args=["noir_city", run.uid]
    )
    assert (run.mode, run.status, run.provider) == ("run", "queued", "local")
    assert list(run.jobs.values_list("scene_key", flat=True)) == ["harbor"]
    assert OrmQ.objects.count() == 1  # handed to the workers


def test_run_detail_partial_polls_until_final_then_answers_286(artist_client, scene_project, user):
    run = local_run(scene_project, user, dispatch="none")
    url = reverse("pipeline:run_detail", args=["noir_city", run.uid])
    live = artist_client.get(url, **HX)
    assert live.status_code == 200
    assert 'hx-trigger="every 2s"' in live.content.decode()
    assert live.content.decode().lstrip().startswith('<div id="run-live"')
    canceled = artist_client.post(reverse("pipeline:run_cancel", args=["noir_city", run.uid]), **HX)
    assert "canceled" in canceled.content.decode()
    final = artist_client.get(url, **HX)
    assert final.status_code == 286
    assert "hx-trigger" not in final.content.decode()


def test_run_pages_of_another_users_project_are_404(artist_client, other_project, other_user):
    run = Run.objects.create(project=other_project, stage="style")
    for name in ("run_detail",):
        assert (
            artist_client.get(
                reverse(f"pipeline:{name}", args=[other_project.slug, run.uid])
            ).status_code
            == 404
        )
    for name in ("run_confirm", "run_cancel"):
        assert (
            artist_client.post(
                reverse(f"pipeline:{name}", args=[other_project.slug, run.uid])
            ).status_code
            == 404
        )
    # Nor through one's own project slug.
    assert (
        artist_client.get(reverse("pipeline:run_new", args=[other_project.slug])).status_code == 404
    )
    run.refresh_from_db()
    assert run.status == "planned"


def test_confirming_a_plan_twice_makes_one_run(
    artist_client, scene_project, user, django_capture_on_commit_callbacks
):
    dry = submit_run(
        project=scene_project, user=user, stage="style", provider="local", candidates=1
    )
    url = reverse("pipeline:run_confirm", args=["noir_city", dry.uid])
    with django_capture_on_commit_callbacks(execute=True):
        first = artist_client.post(url)
        second = artist_client.post(url)
    assert Run.objects.filter(mode="run").count() == 1
    assert first.headers["Location"] == second.headers["Location"]
    dry.refresh_from_db()
    assert dry.confirmed_as == Run.objects.get(mode="run").uid
    page = artist_client.get(reverse("pipeline:run_detail", args=["noir_city", dry.uid]))
    assert "This plan was confirmed." in page.content.decode()


def test_confirm_uses_the_plans_manifest_not_a_later_edit(artist_client, scene_project, user):
    dry = submit_run(
        project=scene_project, user=user, stage="style", provider="local", candidates=1
    )
    scene_project.manifest_overrides = {**FAST_RETRIES, "generation": {"quality": "high"}}
    scene_project.save()
    artist_client.post(reverse("pipeline:run_confirm", args=["noir_city", dry.uid]))
    run = Run.objects.get(mode="run")
    assert run.manifest_hash == dry.manifest_hash
    assert run.manifest_snapshot["generation"]["quality"] == "medium"


@pytest.mark.django_db(transaction=True)
def test_user_can_override_the_pick_and_the_log_says_so(artist_client, scene_project, user):
    import json

    from django.conf import settings

    from pipeline.models import RunCandidate

    run = local_run(scene_project, user, candidates=2, panels=["harbor"])
    other = RunCandidate.objects.get(job__run=run, selected=False)
    response = artist_client.post(
        reverse("pipeline:run_pick", args=["noir_city", run.uid, other.pk])
    )
    assert response.status_code == 302
    assert RunCandidate.objects.get(job__run=run, selected=True).pk == other.pk
    log = json.loads((settings.PROJECTS_ROOT / "noir_city" / run.log_path).read_text())
    job = log["jobs"][0]
    assert job["candidates"][other.index]["selected"] is True
    page = artist_client.get(reverse("pipeline:run_detail", args=["noir_city", run.uid]))
    assert "use this" in page.content.decode()


def test_run_page_counts_scenes_done(artist_client, scene_project, user):
    from pipeline.models import RunJob

    run = local_run(scene_project, user, dispatch="none")
    RunJob.objects.filter(run=run, index=0).update(status="done")
    body = artist_client.get(
        reverse("pipeline:run_detail", args=["noir_city", run.uid])
    ).content.decode()
    assert '<div class="value">1/3</div>' in body


def test_downloads_have_readable_names(artist_client, scene_project, user):
    from pipeline.models import RunCandidate
    from tests.conftest import local_run

    run = local_run(scene_project, user, panels=["alley"], candidates=2)
    candidate = RunCandidate.objects.filter(job__run=run).order_by("index").last()
    url = reverse("projects:asset_file", args=["noir_city", candidate.asset_id])
    response = artist_client.get(url, {"download": "1"})
    assert response["Content-Disposition"] == (
        'attachment; filename="noir_city_alley_style_c1.png"'
    )
    assert "attachment" not in artist_client.get(url).get("Content-Disposition", "")
    base = scene_project.panels.get(key="alley").base_asset  # an upload: its own name
    response = artist_client.get(
        reverse("projects:asset_file", args=["noir_city", base.pk]), {"download": "1"}
    )
    assert response["Content-Disposition"].endswith('filename="noir_city_alley.png"')


def test_cancel_with_a_panel_still_running_says_so_then_nothing_says_running(
    artist_client, scene_project, user
):
    from django.utils import timezone

    from pipeline.models import RunJob
    from pipeline.services.execute import finalize_run

    run = local_run(scene_project, user, dispatch="none")
    running = run.jobs.get(index=0)
    RunJob.objects.filter(pk=running.pk).update(
        status="running", step="generate", lease_expires_at=timezone.now() + timezone.timedelta(60)
    )
    url = reverse("pipeline:run_detail", args=["noir_city", run.uid])
    page = artist_client.post(
        reverse("pipeline:run_cancel", args=["noir_city", run.uid]), **HX
    ).content.decode()
    assert "waiting for 1 running panel to stop at its next step" in page
    assert "Cancel run" not in page and "Updating every 2 s" not in page
    assert 'hx-trigger="every 2s"' in page  # it still follows the panel that is stopping
    assert "0/3" in page and "1 running, 2 canceled" in page
    # The running panel stops at its step boundary: the run is final, and the page says so.
    RunJob.objects.filter(pk=running.pk).update(status="canceled", error_code="canceled")
    finalize_run(run.pk)
    final = artist_client.get(url, **HX)
    body = final.content.decode()
    assert final.status_code == 286
    assert "running" not in body.lower() and "Updating every" not in body
    assert "0/3" in body and "3 canceled" in body


def test_a_finished_run_post_processing_a_new_pick_offers_no_cancel(
    artist_client, scene_project, user
):
    from pipeline.models import PostprocessJob

    run = local_run(scene_project, user, panels=["harbor"])
    job = run.jobs.get()
    PostprocessJob.objects.create(project=scene_project, run=run, job=job, status="queued")
    url = reverse("pipeline:run_detail", args=["noir_city", run.uid])
    live = artist_client.get(url, **HX)
    body = live.content.decode()
    assert live.status_code == 200 and 'hx-trigger="every 2s"' in body
    assert "Post-processing the new pick" in body and "Cancel run" not in body
    PostprocessJob.objects.filter(run=run).update(status="done")
    assert artist_client.get(url, **HX).status_code == 286


def test_a_run_page_links_to_its_review_and_qa_report_and_back_to_all_runs(
    artist_client, scene_project, user
):
    run = local_run(scene_project, user, panels=["harbor"])
    body = artist_client.get(reverse("pipeline:run_detail", args=["noir_city", run.uid])).content
    for name in ("review_run", "run_report"):
        assert reverse(f"pipeline:{name}", args=["noir_city", run.uid]).encode() in body
    assert reverse("pipeline:run_list", args=["noir_city"]).encode() in body
    for tab in ("pages", "reports"):  # the project's tabs reach the new pages
        assert f'href="{reverse(f"pipeline:{tab}", args=["noir_city"])}"'.encode() in body


def test_new_run_starts_on_the_style_stage(artist_client, scene_project):
    body = artist_client.get(reverse("pipeline:run_new", args=["noir_city"])).content.decode()
    assert 'value="style" id="id_stage_0" required checked>' in body
