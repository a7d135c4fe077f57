"""The asset browser's pipeline actions: export a selection, post-process picks again, apply a
colour profile; through the bulk view, as the artist does."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pipeline.models import PostprocessJob, RunCandidate
from projects.models import AuditEvent, ProjectExport
from tests.conftest import local_run

pytestmark = pytest.mark.django_db


def _post(client, project, **data):
    url = reverse("projects:asset_bulk", args=[project.slug])
    return client.post(url, data, follow=True)


def _picks(run) -> list[int]:
    return list(
        RunCandidate.objects.filter(job__run=run, selected=True).values_list("asset_id", flat=True)
    )


def test_export_of_a_selection_queues_a_zip_of_those_images(artist_client, scene_project, user):
    run = local_run(scene_project, user, panels=["harbor"], candidates=1)
    picks = _picks(run)
    response = _post(artist_client, scene_project, action="export", assets=picks)
    export = ProjectExport.objects.get(project=scene_project)
    assert (export.kind, export.options["assets"]) == ("zip", picks)
    assert f"Export {export.pk} is queued" in response.content.decode()


def test_postprocess_queues_a_pass_per_pick_and_leaves_other_images(
    artist_client, scene_project, user
):
    run = local_run(scene_project, user, candidates=1)
    picks = _picks(run)
    scene = scene_project.assets.filter(kind="scene_ref").first()
    response = _post(
        artist_client,
        scene_project,
        action="postprocess",
        assets=[*picks, scene.pk],
        postprocess_choice=["upscale", "color"],
    )
    passes = PostprocessJob.objects.filter(run=run)
    assert passes.count() == len(picks) == 3
    assert {tuple(p.only) for p in passes} == {("upscale", "color")}
    body = response.content.decode()
    assert "Queued 3 post-processing pass(es) (upscale, color)." in body
    assert "1 other image(s) are not a run&#x27;s pick" in body
    assert AuditEvent.objects.get(action="asset.postprocess").data["steps"] == ["upscale", "color"]


def test_colour_profile_runs_only_the_colour_step_with_that_profile(
    artist_client, scene_project, user
):
    from pipeline.postprocess.config import load_color_profiles

    run = local_run(scene_project, user, panels=["harbor"], candidates=1)
    profile = sorted(load_color_profiles())[0]
    _post(artist_client, scene_project, action="colour", assets=_picks(run), colour_choice=profile)
    item = PostprocessJob.objects.get(run=run)
    assert item.only == ["color"]
    assert item.config["color"]["profile"] == profile and item.config["color"]["enabled"]


def test_pipeline_actions_refuse_bad_choices_and_non_picks(artist_client, scene_project, user):
    run = local_run(scene_project, user, panels=["harbor"], candidates=1)
    picks = _picks(run)
    none = _post(artist_client, scene_project, action="postprocess", assets=picks)
    assert "Choose steps among" in none.content.decode()
    bad = _post(artist_client, scene_project, action="colour", assets=picks, colour_choice="x")
    assert "Choose one of the colour profiles." in bad.content.decode()
    scene = scene_project.assets.filter(kind="scene_ref").first()
    other = _post(
        artist_client,
        scene_project,
        action="postprocess",
        assets=[scene.pk],
        postprocess_choice=["color"],
    )
    assert "None of these images is a finished run" in other.content.decode()
    assert not PostprocessJob.objects.exists()


def test_pipeline_actions_on_another_users_project_are_404(
    artist_client, other_project, scene_project, user
):
    run = local_run(scene_project, user, panels=["harbor"], candidates=1)
    url = reverse("projects:asset_bulk", args=[other_project.slug])
    data = {"action": "export", "assets": _picks(run)}
    assert artist_client.post(url, data).status_code == 404
    assert not ProjectExport.objects.exists()
