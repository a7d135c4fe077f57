"""Every saved PNG of a run carries its recipe (pipeline.recipes), and its asset row too."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from pipeline.models import RunCandidate
from pipeline.postprocess.chain import step_names
from pipeline.recipes import read_recipe, with_recipe
from projects.models import Asset
from projects.services.assets import read_asset_bytes
from tests.conftest import FAST_RETRIES, local_run

COLOR_ONLY = {"color": {"enabled": True, "profile": "cold_rain"}}


def _png(color=(200, 30, 60), size=(8, 6)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def test_a_recipe_goes_into_the_png_without_touching_its_pixels():
    data = _png()
    stamped = with_recipe(data, {"run": "run_1", "prompt": "Rain — “quoted”, ünïcode"})
    assert read_recipe(stamped) == {"run": "run_1", "prompt": "Rain — “quoted”, ünïcode"}
    with Image.open(io.BytesIO(stamped)) as image:
        image.load()
        assert image.tobytes() == Image.open(io.BytesIO(data)).tobytes()
        assert '"run":"run_1"' in image.text["kroma-recipe"]  # any PNG reader shows it
    assert read_recipe(data) is None


def test_stamping_again_replaces_the_recipe_and_is_repeatable():
    once = with_recipe(_png(), {"qa": "old"})
    twice = with_recipe(once, {"qa": "new"})
    assert read_recipe(twice) == {"qa": "new"}
    assert twice.count(b"kroma-recipe") == 1
    assert with_recipe(twice, {"qa": "new"}) == twice  # a crashed step that redoes it: same bytes


def test_bytes_that_are_not_a_png_are_left_as_they_are():
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, "JPEG")
    assert with_recipe(out.getvalue(), {"a": 1}) == out.getvalue()
    assert with_recipe(b"\x89PNG\r\n\x1a\ntruncated", {"a": 1}).endswith(b"truncated")


@pytest.mark.django_db(transaction=True)
def test_a_runs_candidates_and_final_output_carry_their_recipe(scene_project, user):
    scene_project.manifest_overrides = {**FAST_RETRIES, "postprocess": COLOR_ONLY}
    scene_project.save()
    run = local_run(scene_project, user, candidates=2, panels=["harbor"])
    assert run.status == "done"
    job = run.jobs.get()
    style_shas = set(
        Asset.objects.filter(project=scene_project, kind="style_ref").values_list(
            "sha256", flat=True
        )
    )
    for candidate in RunCandidate.objects.filter(job=job).select_related("asset"):
        recipe = read_recipe(read_asset_bytes(candidate.asset))
        assert recipe == candidate.asset.metadata["recipe"]
        assert (recipe["run"], recipe["panel"], recipe["stage"]) == (run.uid, "harbor", "style")
        assert recipe["candidate"] == candidate.index and recipe["prompt"] == job.prompt
        assert recipe["model"] == run.model and recipe["size"]
        assert {ref["sha256"] for ref in recipe["references"]} == style_shas
        assert recipe["input"]["sha256"] == job.input_asset.sha256
        assert recipe["qa"]["passed"] == candidate.passed
        assert recipe["qa"]["metrics"] == candidate.qa_summary["metrics"]
    final = job.final_asset
    final_recipe = read_recipe(read_asset_bytes(final))
    picked = RunCandidate.objects.get(job=job, selected=True)
    assert final_recipe["candidate"] == picked.index
    steps = [s["step"] for s in final_recipe["steps"]]
    assert steps[-1] == "color" and final.metadata["step"] == "color"
    assert steps == [name for name in step_names() if name in steps]  # in the chain's order
    assert final.metadata["recipe"] == final_recipe
