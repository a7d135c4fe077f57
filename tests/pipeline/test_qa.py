from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipeline.config import load_manifest
from pipeline.qa import QAResult, check_image, measure, rank_candidates

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "esrgan-inputs"


@pytest.fixture
def guard(db):
    return {**load_manifest()["output_guard"], "enforce_grayscale": True}


def _open(name: str) -> Image.Image:
    return Image.open(TESTDATA / name)


@pytest.mark.parametrize("name", ["wolf_gray.jpg", "00017_gray.png"])
def test_real_grayscale_images_pass_grayscale_enforcement(guard, name):
    result = check_image(_open(name), guard)
    assert result.passed, result.hard_failures
    assert result.soft_warnings == []


@pytest.mark.parametrize("name", ["wolf_gray.jpg", "00017_gray.png"])
def test_grayscale_image_with_a_few_coloured_specks_fails(guard, name):
    image = _open(name).convert("RGB")
    draw = ImageDraw.Draw(image)
    for k in range(8):
        x, y = 20 + 37 * k, 30 + 11 * k
        draw.ellipse([x, y, x + 6, y + 6], fill=(200, 40, 160))
    result = check_image(image, guard)
    assert not result.passed
    assert "colour in a grayscale project" in result.hard_failures[0]


@pytest.mark.parametrize("name", ["wolf_gray.jpg", "00017_gray.png"])
@pytest.mark.parametrize("sigma", [3.0, 6.0])
def test_grayscale_saved_as_colour_jpeg_with_chroma_noise_passes(guard, name, sigma):
    # A gray picture as a camera or scanner delivers it: independent noise per channel, then a
    # colour JPEG (4:4:4, so the chroma noise survives compression as small channel spreads).
    rgb = np.asarray(_open(name).convert("RGB")).astype(np.int16)
    rgb += np.random.default_rng(1).normal(0, sigma, rgb.shape).astype(np.int16)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(
        buffer, "JPEG", quality=90, subsampling=0
    )
    noisy = Image.open(buffer)
    assert (
        measure(np.asarray(noisy.convert("RGB")), chroma_soft=16, chroma_hard=40)[
            "max_channel_spread"
        ]
        > 0
    )
    assert check_image(noisy, guard).passed


def test_colour_photo_fails_grayscale_enforcement(guard):
    assert not check_image(_open("0014.jpg"), guard).passed


def test_colour_photo_passes_when_grayscale_is_not_enforced(guard):
    assert check_image(_open("0014.jpg"), {**guard, "enforce_grayscale": False}).passed


def test_blank_image_is_a_hard_failure(guard):
    result = check_image(Image.new("RGB", (64, 64), (128, 128, 128)), guard)
    assert result.hard_failures and "blank image" in result.hard_failures[0]


def _drawing(width: int, height: int) -> Image.Image:
    return Image.linear_gradient("L").resize((width, height)).convert("RGB")


def test_an_answer_of_the_wrong_size_is_a_hard_failure(guard):
    result = check_image(_drawing(64, 64), guard, requested_size="1024x1024")
    assert result.hard_failures == ["size 64x64, requested 1024x1024"]
    assert (result.metrics["width"], result.metrics["height"]) == (64, 64)
    portrait = check_image(_drawing(1536, 1024), guard, requested_size="1024x1536")
    assert portrait.hard_failures == ["size 1536x1024, requested 1024x1536"]
    assert check_image(_drawing(1024, 1536), guard, requested_size="1024x1536").passed


def test_a_requested_size_of_auto_is_not_checked(guard):
    result = check_image(_drawing(64, 64), guard, requested_size="auto")
    assert result.passed and result.soft_warnings == []


def test_a_warn_only_rule_warns_instead_of_failing(guard):
    warned = {**guard, "warn_only": ["size"]}
    result = check_image(_drawing(64, 64), warned, requested_size="1024x1024")
    assert result.passed
    assert result.soft_warnings == ["size 64x64, requested 1024x1024"]
    # Other hard rules still fail the candidate.
    blank = check_image(Image.new("RGB", (64, 64), (9, 9, 9)), warned, requested_size="64x64")
    assert not blank.passed and "blank image" in blank.hard_failures[0]


def test_ranking_with_a_warned_rule_prefers_fewer_failures_then_fewer_warnings(guard):
    warned = {**guard, "warn_only": ["size"]}
    results = {
        0: check_image(Image.new("RGB", (64, 64), (9, 9, 9)), warned, requested_size="64x64"),
        1: check_image(_drawing(64, 64), warned, requested_size="1024x1024"),  # warned: size
        2: check_image(_drawing(1024, 1024), warned, requested_size="1024x1024"),  # clean
    }
    assert [len(results[i].soft_warnings) for i in (1, 2)] == [1, 0]
    assert rank_candidates(results) == [2, 1, 0]


def test_measure_counts_exactly():
    rgb = np.zeros((10, 10, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)  # spread 255
    rgb[0, 1] = (30, 10, 10)  # spread 20
    metrics = measure(rgb, chroma_soft=16, chroma_hard=40)
    assert metrics["max_channel_spread"] == 255
    assert metrics["hard_pixels"] == 1
    assert metrics["soft_fraction"] == 0.02
    assert metrics["mean_chroma_excess"] == pytest.approx((255 - 16 + 20 - 16) / 100)


def _result(hard: int, soft: int, excess: float) -> QAResult:
    return QAResult(
        metrics={"mean_chroma_excess": excess},
        hard_failures=["h"] * hard,
        soft_warnings=["s"] * soft,
    )


def test_ranking_prefers_fewer_hard_then_soft_then_lower_excess_then_index():
    results = {
        0: _result(1, 0, 0.0),
        1: _result(0, 1, 0.0),
        2: _result(0, 0, 5.0),
        3: _result(0, 0, 1.0),
        4: _result(0, 0, 1.0),
    }
    assert rank_candidates(results) == [3, 4, 2, 1, 0]


def _histogram_measure(rgb: np.ndarray, chroma_soft: int, chroma_hard: int) -> dict:
    """The guard as main computed it (one 256-bin histogram of the spreads): the oracle."""
    high = rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2).astype(np.int16)
    hist = np.bincount(high.ravel(), minlength=256)
    total = int(hist.sum())
    levels = np.arange(256)
    nonzero = np.flatnonzero(hist)
    return {
        "pixels": total,
        "max_channel_spread": int(nonzero[-1]) if nonzero.size else 0,
        "mean_channel_spread": float((hist * levels).sum() / total),
        "soft_fraction": float(hist[chroma_soft + 1 :].sum() / total),
        "hard_fraction": float(hist[chroma_hard + 1 :].sum() / total),
        "hard_pixels": int(hist[chroma_hard + 1 :].sum()),
        "mean_chroma_excess": float((hist * np.clip(levels - chroma_soft, 0, None)).sum() / total),
        "luma_std": float(rgb[::4, ::4, 1].std()),
    }


@pytest.mark.parametrize("shape", [(1, 1), (127, 3), (128, 64), (300, 257), (1024, 768)])
@pytest.mark.parametrize("kind", ["random", "gray", "specks", "flat"])
def test_measure_equals_the_histogram_version_exactly(shape, kind):
    rng = np.random.default_rng(sum(shape))
    if kind == "random":
        rgb = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    else:
        rgb = np.repeat(rng.integers(0, 256, (*shape, 1), dtype=np.uint8), 3, axis=2)
        if kind == "specks":
            rgb[rng.integers(0, shape[0], 9), rng.integers(0, shape[1], 9), 0] = 255
        if kind == "flat":
            rgb[:] = 200
    for soft, hard in ((16, 40), (0, 255), (254, 255)):
        assert measure(rgb, chroma_soft=soft, chroma_hard=hard) == _histogram_measure(
            rgb, soft, hard
        )
    # A strided view (a crop) gives the same figures as its copy.
    crop = rgb[:, ::2]
    assert measure(crop, chroma_soft=16, chroma_hard=40) == _histogram_measure(
        np.ascontiguousarray(crop), 16, 40
    )
