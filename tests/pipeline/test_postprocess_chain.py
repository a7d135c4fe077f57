"""The chain on project assets, inside a pipeline run, and from kroma_postprocess."""

from __future__ import annotations

import io
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from pipeline.errors import PipelineError
from pipeline.models import RunCandidate
from pipeline.postprocess.chain import step_names
from pipeline.runlog import build_run_log, job_record, rows_by_job
from pipeline.services.postprocess import chain_config, postprocess_asset
from projects.models import Asset, AssetLink
from projects.services.assets import store_image
from tests.conftest import FAST_RETRIES, local_run

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
ALL_ON = {
    "bg_remove": {"enabled": True},
    "upscale": {"enabled": True, "scale": 2},
    "color": {"enabled": True, "profile": "cold_rain"},
}
# Local answers at the scene's own size (96x64, not 1024x1024): the chain's upscale of full-size
# answers takes a minute on two cores.
SMALL_ANSWERS = {**FAST_RETRIES["generation"], "size": "auto"}


@pytest.fixture
def car(project):
    data = (EXAMPLES / "rembg-examples" / "car-1.jpg").read_bytes()
    return store_image(project=project, data=data, kind=Asset.Kind.UPLOAD, name="car-1.jpg")


def test_chain_order_is_fixed_in_one_list():
    assert step_names() == ["bg_remove", "refine", "upscale", "color"]


@pytest.mark.django_db
def test_chain_writes_derived_assets_linked_in_order(project, car):
    final, log = postprocess_asset(project=project, asset=car, config=chain_config(project, ALL_ON))
    assert [e["step"] for e in log] == ["bg_remove", "upscale", "color"]
    derived = {a.metadata["step"]: a for a in Asset.objects.filter(project=project, kind="derived")}
    assert set(derived) == {"bg_remove", "upscale", "color"}
    assert final.ref == derived["color"]
    assert (derived["upscale"].width, derived["upscale"].height) == (960, 720)
    assert Image.open(io.BytesIO(final.data)).mode == "RGBA"
    links = {(link.source_id, link.target_id) for link in AssetLink.objects.all()}
    assert (derived["bg_remove"].pk, car.pk) in links
    assert (derived["upscale"].pk, derived["bg_remove"].pk) in links
    assert (derived["color"].pk, derived["upscale"].pk) in links
    assert all(isinstance(e["duration_s"], float) and len(e["key"]) == 64 for e in log)
    assert derived["color"].metadata["params"]["profile"] == "cold_rain"


@pytest.mark.django_db
def test_second_pass_with_same_input_and_parameters_skips_every_step(project, car):
    config = chain_config(project, ALL_ON)
    postprocess_asset(project=project, asset=car, config=config)
    count = Asset.objects.count()
    _, log = postprocess_asset(project=project, asset=car, config=config)
    assert [e.get("skipped") for e in log] == ["output exists"] * 3
    assert Asset.objects.count() == count
    # Changing one parameter re-runs that step and the ones after it, not the ones before.
    _, log = postprocess_asset(
        project=project,
        asset=car,
        config=chain_config(project, {**ALL_ON, "color": {"enabled": True, "profile": "neutral"}}),
    )
    assert [e.get("skipped") for e in log] == ["output exists", "output exists", None]


@pytest.mark.django_db
def test_step_error_is_recorded_with_its_step_and_re_raised(project, car):
    config = chain_config(project, {"upscale": {"enabled": True, "model": "missing.onnx"}})
    with pytest.raises(PipelineError, match=r"missing\.onnx' not found") as excinfo:
        postprocess_asset(project=project, asset=car, config=config, steps=["upscale"])
    log = excinfo.value.chain_log
    assert log[0]["step"] == "upscale" and "not found" in log[0]["error"]


@pytest.mark.django_db
def test_refine_is_paid_and_refused_without_confirmation(project, car, fake_openai):
    config = chain_config(project, {"refine": {"enabled": True}})
    with pytest.raises(PipelineError, match="paid OpenAI call: confirm the spend"):
        postprocess_asset(project=project, asset=car, config=config, steps=["bg_remove", "refine"])
    assert fake_openai.calls == []
    costs = []
    _, log = postprocess_asset(
        project=project,
        asset=car,
        config=config,
        steps=["bg_remove", "refine"],
        confirm_spend=True,
        record_cost=lambda **c: costs.append(c),
    )
    assert fake_openai.calls[0].path == "/v1/images/edits"
    assert costs[0]["operation"] == "refine" and costs[0]["usd"] > 0
    assert log[1]["step"] == "refine" and "usd" in log[1]["notes"]


@pytest.mark.django_db(transaction=True)
def test_selected_candidate_goes_through_the_chain_in_a_run(scene_project, user):
    scene_project.manifest_overrides = {
        **FAST_RETRIES,
        "generation": SMALL_ANSWERS,
        "postprocess": ALL_ON,
    }
    scene_project.save()
    run = local_run(scene_project, user, candidates=2, panels=["harbor"])
    assert run.status == "done"
    job = run.jobs.get()
    assert [e["step"] for e in job_record(job, rows_by_job([job])[job.pk])["postprocess"]] == [
        "bg_remove",
        "upscale",
        "color",
    ]
    selected = RunCandidate.objects.get(job=job, selected=True)
    final = job.final_asset
    assert final.kind == "derived" and final.metadata["step"] == "color"
    assert final.width == 2 * selected.asset.width
    assert AssetLink.objects.filter(target=selected.asset, relation="derived_from").exists()


@pytest.mark.django_db(transaction=True)
def test_kroma_postprocess_runs_the_chain_on_a_runs_selections(scene_project, user):
    scene_project.manifest_overrides = {**FAST_RETRIES, "generation": SMALL_ANSWERS}
    scene_project.save()
    run = local_run(scene_project, user, candidates=1)
    out = StringIO()
    call_command(
        "kroma_postprocess",
        "--project",
        "noir_city",
        "--run",
        run.uid,
        "--steps",
        "upscale,color",
        "--profile",
        "cinematic_warm",
        stdout=out,
    )
    assert "3/3 images" in out.getvalue()
    assert Asset.objects.filter(project=scene_project, kind="derived").count() == 6
    # The run page and the run log show the new final output (they used to keep the old one).
    logged = {j["index"]: j["final_asset"] for j in build_run_log(run)["jobs"]}
    for job in run.jobs.select_related("final_asset"):
        assert job.final_asset.metadata["step"] == "color"
        assert job.final_asset.metadata["profile"] == "cinematic_warm"
        assert logged[job.index] == {"id": job.final_asset.pk, "path": job.final_asset.path}


def test_kroma_postprocess_files_into_a_folder(tmp_path):
    out = StringIO()
    call_command(
        "kroma_postprocess",
        "--input",
        str(EXAMPLES / "esrgan-inputs" / "0014.jpg"),
        "--steps",
        "upscale",
        "--scale",
        "4",
        "--out",
        str(tmp_path),
        stdout=out,
    )
    result = Image.open(tmp_path / "0014.kroma.png")
    assert result.size == (716, 716)


def test_kroma_postprocess_bad_file_fails_clearly_and_keeps_going(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    err = StringIO()
    with pytest.raises(CommandError, match="1 image"):
        call_command(
            "kroma_postprocess",
            "--input",
            str(bad),
            str(EXAMPLES / "esrgan-inputs" / "wolf_gray.jpg"),
            "--steps",
            "color",
            "--out",
            str(tmp_path / "out"),
            stdout=StringIO(),
            stderr=err,
        )
    assert "not an image Kroma can read" in err.getvalue()
    assert (tmp_path / "out" / "wolf_gray.kroma.png").is_file()


def test_kroma_postprocess_refuses_unknown_steps():
    with pytest.raises(CommandError, match="Unknown step"):
        call_command("kroma_postprocess", "--input", "x.png", "--steps", "sharpen", "--out", "/tmp")
