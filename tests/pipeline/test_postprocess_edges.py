"""Edge cases found in review: each one a way to lose work, money or depth."""

from __future__ import annotations

import io
import shutil
from decimal import Decimal
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse
from PIL import Image

from kroma.lib.images import clean_image
from pipeline.config import ConfigError
from pipeline.errors import GuardError, PipelineError
from pipeline.models import CostEvent, LabJob
from pipeline.postprocess import bg_remove, upscale
from pipeline.postprocess.base import ChainContext
from pipeline.postprocess.chain import run_chain
from pipeline.postprocess.config import load_color_profiles, validate_profile
from pipeline.postprocess.outputs import FolderOutputs
from pipeline.postprocess.pixels import ImageInputError, decode
from pipeline.services.lab import create_lab_job, lab_results, process_lab_job
from pipeline.services.plan import plan_run
from pipeline.services.postprocess import chain_config, postprocess_asset
from projects.models import Asset, ProjectSecret, ProviderAccount
from projects.services.assets import store_image
from tests.conftest import FAST_RETRIES
from tests.fake_services import FakeCutoutService

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
UPSCALE = {
    "model": "realesr-animevideov3.onnx",
    "scale": 4,
    "tile": 0,
    "tile_pad": 24,
    "threads": 0,
    "allow_lanczos_fallback": False,
}


@pytest.mark.django_db
def test_a_broken_model_file_fails_the_image_not_the_lab_job(user, settings, tmp_path):
    settings.SCRATCH_ROOT = tmp_path / "scratch"
    settings.MODELS_DIR = tmp_path / "models"
    settings.MODELS_DIR.mkdir()
    (settings.MODELS_DIR / "realesr-animevideov3.onnx").write_bytes(b"half a download")
    job = create_lab_job(
        user=user,
        operation="upscale",
        params={"scale": 2},
        files=[("a.jpg", (TESTDATA / "esrgan-inputs" / "0014.jpg").read_bytes())],
    )
    process_lab_job(str(job.pk))
    job.refresh_from_db()
    assert job.status == "failed"
    assert lab_results(job)[0]["error"].startswith("internal error")


@pytest.mark.django_db
def test_a_lab_job_whose_worker_died_is_requeued_then_failed_by_the_sweeper(
    user, settings, tmp_path
):
    from django.utils import timezone

    settings.SCRATCH_ROOT = tmp_path / "scratch"
    job = create_lab_job(
        user=user,
        operation="color",
        params={"profile": "neutral"},
        files=[("w.jpg", (TESTDATA / "esrgan-inputs" / "wolf_gray.jpg").read_bytes())],
    )
    from pipeline.work import sweep_all

    expired = timezone.now() - timezone.timedelta(seconds=5)
    stranded = {"status": "running", "locked_by": "elsewhere:1:1", "lease_expires_at": expired}
    LabJob.objects.filter(pk=job.pk).update(attempts=1, **stranded)
    assert sweep_all()["by_type"]["lab_job"]["requeued"] == 1
    assert LabJob.objects.get(pk=job.pk).status == "queued"
    LabJob.objects.filter(pk=job.pk).update(attempts=3, **stranded)
    assert sweep_all()["by_type"]["lab_job"]["failed"] == 1
    job.refresh_from_db()
    assert job.status == "failed" and job.error_code == "worker_lost"
    assert "worker stopped" in job.error


@pytest.mark.django_db
def test_paid_background_service_is_in_the_estimate_and_needs_confirmation(scene_project):
    scene_project.manifest_overrides = {
        **FAST_RETRIES,
        "postprocess": {"bg_remove": {"enabled": True, "backend": "removebg"}},
    }
    plan = plan_run(project=scene_project, stage="style", provider="local")
    assert plan.estimate_usd == Decimal("0.6")  # 3 scenes x $0.20
    with pytest.raises(GuardError, match="Confirm the spend"):
        plan_run(project=scene_project, stage="style", provider="local", mode="run")


def test_lanczos_stand_in_is_never_reused_once_the_model_is_installed(settings, tmp_path):
    settings.MODELS_DIR = tmp_path / "models"
    settings.MODELS_DIR.mkdir()
    config = chain_config(
        None,
        {
            "upscale": {
                "model": "RealESRGAN_x4plus.onnx",
                "allow_lanczos_fallback": True,
                "scale": 2,
            }
        },
    )
    data = (TESTDATA / "esrgan-inputs" / "0014.jpg").read_bytes()
    outputs = FolderOutputs(tmp_path / "out")
    first = ChainContext(outputs=outputs)
    run_chain(data=data, source=None, config=config, ctx=first, only=["upscale"])
    assert first.log[0]["notes"]["fallback"].startswith("lanczos")
    shutil.copyfile(
        settings.BUNDLED_WEIGHTS_DIR / "realesr-animevideov3.onnx",
        settings.MODELS_DIR / "RealESRGAN_x4plus.onnx",
    )
    second = ChainContext(outputs=outputs)
    run_chain(data=data, source=None, config=config, ctx=second, only=["upscale"])
    assert "skipped" not in second.log[0]
    assert "fallback" not in second.log[0]["notes"]


@pytest.mark.django_db
def test_kroma_postprocess_records_what_a_paid_step_cost(project):
    server = FakeCutoutService("x-api-key").start()
    try:
        ProviderAccount.objects.create(project=project, provider="photoroom", base_url=server.url)
        secret = ProjectSecret(project=project, provider="photoroom", name="api_key")
        secret.set_value("pr-project-key")
        secret.save()
        project.manifest_overrides = {"postprocess": {"bg_remove": {"backend": "photoroom"}}}
        project.save()
        call_command(
            "kroma_postprocess",
            "--project",
            project.slug,
            "--input",
            str(TESTDATA / "rembg-examples" / "car-1.jpg"),
            "--steps",
            "bg_remove",
            "--confirm-spend",
            stdout=StringIO(),
        )
    finally:
        server.stop()
    event = CostEvent.objects.get()
    assert (event.provider, event.operation, event.usd) == (
        "photoroom",
        "bg_remove",
        Decimal("0.02"),
    )


def test_upscale_refuses_outputs_over_the_output_cap(settings):
    settings.MAX_OUTPUT_PIXELS = 100_000
    pixels = decode((TESTDATA / "esrgan-inputs" / "0014.jpg").read_bytes())
    with pytest.raises(upscale.UpscaleError, match="KROMA_MAX_OUTPUT_PIXELS"):
        upscale.upscale(pixels, UPSCALE)


def test_cmyk_profile_is_not_attached_to_rgb_pixels():
    out = io.BytesIO()
    Image.new("CMYK", (16, 16), (0, 50, 100, 0)).save(out, "JPEG", icc_profile=b"fake cmyk icc")
    pixels = decode(out.getvalue())
    assert pixels.icc_profile is None and pixels.channels == 3


def test_sixteen_bit_uploads_keep_their_depth():
    data = (TESTDATA / "esrgan-inputs" / "tree_alpha_16bit.png").read_bytes()
    cleaned = clean_image(data, name="tree.png", max_pixels=10_000_000)
    assert decode(cleaned.data).bit_depth == 16


def test_background_removal_keeps_gray_and_sixteen_bit():
    gray = (np.linspace(0, 65535, 96 * 64).reshape(64, 96)).astype(np.uint16)
    out = io.BytesIO()
    Image.fromarray(gray).save(out, "PNG")
    result = decode(
        bg_remove.remove_with_rembg(out.getvalue(), model="u2netp", alpha_matting=False)
    )
    assert (result.channels, result.bit_depth) == (2, 16)
    assert np.array_equal(result.array[..., 0], gray)


def test_split_toning_balance_at_the_ends_is_refused():
    profile = {**load_color_profiles()["cinematic_warm"]}
    profile["split_toning"] = {**profile["split_toning"], "balance": 1}
    with pytest.raises(ConfigError, match="balance"):
        validate_profile("x", profile, "settings/color-correction.json")


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n\x00", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"])
def test_truncated_png_header_is_a_clear_error(data):
    with pytest.raises(ImageInputError):
        decode(data, "cut.png")


@pytest.mark.django_db
def test_refine_asks_for_transparency_and_refuses_an_opaque_answer(project, fake_openai):
    car = store_image(
        project=project,
        data=(TESTDATA / "rembg-examples" / "car-1.jpg").read_bytes(),
        kind=Asset.Kind.UPLOAD,
        name="car.jpg",
    )
    config = chain_config(project, {"refine": {"enabled": True}})
    postprocess_asset(
        project=project, asset=car, config=config, steps=["bg_remove", "refine"], confirm_spend=True
    )
    assert fake_openai.calls[0].fields["background"] == "transparent"
    fake_openai.ignore_background = True
    other = store_image(
        project=project,
        data=(TESTDATA / "rembg-examples" / "animal-1.jpg").read_bytes(),
        kind=Asset.Kind.UPLOAD,
        name="tiger.jpg",
    )
    with pytest.raises(PipelineError, match="without transparency"):
        postprocess_asset(
            project=project,
            asset=other,
            config=config,
            steps=["bg_remove", "refine"],
            confirm_spend=True,
        )


@pytest.mark.django_db
def test_lab_refuses_files_over_the_upload_limit(artist_client, settings, tmp_path):
    settings.SCRATCH_ROOT = tmp_path / "scratch"
    settings.MAX_UPLOAD_BYTES = 1000
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = artist_client.post(
        reverse("pipeline:lab"),
        {
            "operation": "bg_remove",
            "scale": "2",
            "quality": "medium",
            "size": "1024x1024",
            "images": [
                SimpleUploadedFile(
                    "big.jpg", (TESTDATA / "esrgan-inputs" / "0014.jpg").read_bytes()
                )
            ],
        },
    )
    # The whole request is over the limit: refused from its Content-Length, before reading.
    assert response.status_code == 413
    assert "one request may send up to 0 MB (KROMA_MAX_UPLOAD_BYTES)" in response.content.decode()
    assert LabJob.objects.count() == 0


def test_replacing_a_model_file_changes_the_step_key(settings, tmp_path):
    from pipeline.postprocess.chain import get_step

    settings.MODELS_DIR = tmp_path
    config = chain_config(None)
    before = get_step("upscale").key_params(config["upscale"])["model_sha256"]
    shutil.copyfile(
        settings.BUNDLED_WEIGHTS_DIR / "u2netp.onnx", tmp_path / "realesr-animevideov3.onnx"
    )  # different weights, same name
    after = get_step("upscale").key_params(config["upscale"])["model_sha256"]
    assert before != after and len(after) == 64
