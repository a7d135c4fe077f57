"""Background removal on rembg's own examples, and the paid fallbacks against local fakes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.errors import PipelineError
from pipeline.postprocess import bg_remove, sessions
from pipeline.postprocess.base import ChainContext
from pipeline.postprocess.chain import run_chain
from pipeline.postprocess.config import load_postprocess
from pipeline.postprocess.outputs import FolderOutputs
from tests.fake_services import FakeCutoutService

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "rembg-examples"


def _alpha_iou(png: bytes, reference: Path) -> float:
    mine = np.asarray(Image.open(io.BytesIO(png)).getchannel("A")) > 127
    theirs = np.asarray(Image.open(reference).getchannel("A")) > 127
    return float((mine & theirs).sum() / (mine | theirs).sum())


@pytest.mark.parametrize("name", ["car-1", "animal-1"])
def test_u2netp_cutout_matches_rembgs_reference(name):
    data = (EXAMPLES / f"{name}.jpg").read_bytes()
    out = bg_remove.remove_with_rembg(data, model="u2netp", alpha_matting=False)
    assert Image.open(io.BytesIO(out)).mode == "RGBA"
    assert _alpha_iou(out, EXAMPLES / f"{name}.out.png") >= 0.95


@pytest.mark.parametrize("name", ["girl-1", "anime-girl-2"])
def test_u2netp_on_harder_examples_reports_its_figure(name, capsys):
    """u2netp is weak on these (why the model is configurable); the figure is reported."""
    data = (EXAMPLES / f"{name}.jpg").read_bytes()
    iou = _alpha_iou(
        bg_remove.remove_with_rembg(data, model="u2netp", alpha_matting=False),
        EXAMPLES / f"{name}.out.png",
    )
    with capsys.disabled():
        print(f"\n  u2netp alpha IoU on {name}: {iou:.3f}")
    assert 0.0 <= iou <= 1.0


def test_one_session_per_model_for_a_batch():
    for name in ("car-1", "animal-1", "car-1"):
        bg_remove.remove_with_rembg(
            (EXAMPLES / f"{name}.jpg").read_bytes(), model="u2netp", alpha_matting=False
        )
    assert list(sessions.loaded_sessions("bg_remove")) == ["u2netp"]


def test_missing_model_names_the_file_and_folders(settings, tmp_path):
    with pytest.raises(bg_remove.BackgroundError) as excinfo:
        bg_remove.session_for("isnet-anime")
    message = str(excinfo.value)
    assert "isnet-anime.onnx" in message and str(settings.MODELS_DIR) in message


def test_available_models_lists_what_rembg_supports_and_what_is_present():
    rows = {row["model"]: row for row in bg_remove.available_models()}
    assert rows["u2netp"]["present"] is True
    assert rows["isnet-anime"]["present"] is False


@pytest.fixture
def photoroom():
    server = FakeCutoutService("x-api-key").start()
    yield server
    server.stop()


@pytest.fixture
def removebg():
    server = FakeCutoutService("X-Api-Key").start()
    yield server
    server.stop()


def _context(tmp_path, keys: dict, confirm: bool = True) -> ChainContext:
    return ChainContext(
        outputs=FolderOutputs(tmp_path / "out"),
        credentials=lambda p: keys.get(p, (None, None)),
        confirm_spend=confirm,
    )


def _config(**bg) -> dict:
    config = load_postprocess()
    config["bg_remove"].update(enabled=True, **bg)
    for step in ("refine", "upscale", "color"):
        config[step]["enabled"] = False
    return config


def test_photoroom_backend_cuts_out_through_its_api(photoroom, tmp_path):
    ctx = _context(tmp_path, {"photoroom": ("pr-key-123", photoroom.url)})
    result = run_chain(
        data=(EXAMPLES / "car-1.jpg").read_bytes(),
        source=None,
        config=_config(backend="photoroom"),
        ctx=ctx,
    )
    assert photoroom.calls[0]["key"] == "pr-key-123"
    assert Image.open(io.BytesIO(result.data)).mode == "RGBA"
    assert ctx.log[0]["notes"]["backend"] == "photoroom"


def test_missing_rembg_model_falls_back_to_removebg_and_says_so(removebg, tmp_path):
    ctx = _context(tmp_path, {"removebg": ("rb-key", removebg.url)})
    run_chain(
        data=(EXAMPLES / "car-1.jpg").read_bytes(),
        source=None,
        config=_config(model="isnet-anime", fallback="removebg"),
        ctx=ctx,
    )
    notes = ctx.log[0]["notes"]
    assert notes["backend"] == "removebg"
    assert "isnet-anime.onnx" in notes["fallback_because"]
    assert removebg.calls[0]["key"] == "rb-key"


def test_service_errors_are_clear(removebg, tmp_path):
    removebg.faults.append(402)
    ctx = _context(tmp_path, {"removebg": ("rb-key", removebg.url)})
    with pytest.raises(
        bg_remove.BackgroundError,
        match=r"remove.bg refused the image \(402\): Insufficient credits",
    ):
        run_chain(
            data=(EXAMPLES / "car-1.jpg").read_bytes(),
            source=None,
            config=_config(backend="removebg"),
            ctx=ctx,
        )
    assert ctx.log[0]["step"] == "bg_remove" and "402" in ctx.log[0]["error"]


def test_paid_backend_without_a_key_or_confirmation_is_refused(photoroom, tmp_path):
    data = (EXAMPLES / "car-1.jpg").read_bytes()
    with pytest.raises(
        bg_remove.BackgroundError, match="needs the project secret photoroom/api_key"
    ):
        run_chain(
            data=data, source=None, config=_config(backend="photoroom"), ctx=_context(tmp_path, {})
        )
    with pytest.raises(PipelineError, match="paid service: confirm the spend"):
        run_chain(
            data=data,
            source=None,
            config=_config(backend="photoroom"),
            ctx=_context(tmp_path, {"photoroom": ("k", photoroom.url)}, confirm=False),
        )
    assert photoroom.calls == []


def test_a_service_that_does_not_answer_in_time_is_a_clear_error(photoroom, tmp_path):
    photoroom.delay_s = 2.0
    ctx = _context(tmp_path, {"photoroom": ("pr-key", photoroom.url)})
    with pytest.raises(
        bg_remove.BackgroundError, match="PhotoRoom could not be reached: timed out"
    ):
        run_chain(
            data=(EXAMPLES / "car-1.jpg").read_bytes(),
            source=None,
            config=_config(backend="photoroom", timeout_s=0.5),
            ctx=ctx,
        )
