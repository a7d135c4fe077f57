from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from pipeline.config import ConfigError
from pipeline.postprocess.color import apply_profile
from pipeline.postprocess.config import load_color_profiles, load_postprocess
from pipeline.postprocess.pixels import Pixels


@pytest.fixture
def profiles():
    return load_color_profiles()


def _image(channels: int = 4, dtype=np.uint8) -> Pixels:
    top = np.iinfo(dtype).max
    rng = np.random.default_rng(3)
    array = rng.integers(0, top, (64, 96, channels), dtype=np.int64).astype(dtype)
    return Pixels(array)


def test_shipped_profiles_are_the_three_named_ones(profiles):
    assert {"neutral", "cinematic_warm", "cold_rain"} <= set(profiles)


def test_neutral_barely_changes_colours(profiles):
    image = _image()
    out = apply_profile(image, profiles["neutral"]).array.astype(int)
    assert np.abs(out[..., :3] - image.array[..., :3]).mean() < 3


def test_warm_is_warmer_and_cold_is_colder(profiles):
    gray = Pixels(np.full((32, 32, 3), 128, np.uint8))
    warm = apply_profile(gray, profiles["cinematic_warm"]).array[0, 0].astype(int)
    cold = apply_profile(gray, profiles["cold_rain"]).array[0, 0].astype(int)
    assert warm[0] > warm[2]  # red over blue
    assert cold[2] > cold[0]  # blue over red


def test_alpha_is_preserved_exactly(profiles):
    image = _image(4)
    for profile in profiles.values():
        assert (apply_profile(image, profile).array[..., 3] == image.array[..., 3]).all()


def test_gray_stays_gray_and_sixteen_bit_stays_sixteen_bit(profiles):
    gray16 = _image(1, np.uint16)
    out = apply_profile(gray16, profiles["cinematic_warm"])
    assert out.array.dtype == np.uint16 and out.channels == 1


def test_matches_a_straightforward_float_implementation(profiles):
    """The table-driven version equals the per-pixel formula within one 8-bit level."""
    image = _image(3)
    profile = profiles["cinematic_warm"]
    fast = apply_profile(image, profile).array.astype(np.float64)
    x = image.array.astype(np.float64) / 255
    curve = np.asarray(profile["curve"])
    rgb = np.stack(
        [
            np.interp(
                np.clip(x[..., c] * profile["white_balance"][c], 0, 1), curve[:, 0], curve[:, 1]
            )
            for c in range(3)
        ],
        axis=2,
    )
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    s = profile["saturation"]
    rgb = luma[..., None] + (rgb - luma[..., None]) * s
    toning = profile["split_toning"]
    pivot = 0.5 + toning["balance"] / 2
    shadow_w = np.clip((pivot - luma) / pivot, 0, 1) * toning["shadows"]["strength"]
    high_w = np.clip((luma - pivot) / (1 - pivot), 0, 1) * toning["highlights"]["strength"]
    rgb += shadow_w[..., None] * (np.array(toning["shadows"]["color"]) - 0.5)
    rgb += high_w[..., None] * (np.array(toning["highlights"]["color"]) - 0.5)
    slow = np.rint(np.clip(rgb, 0, 1) * 255)
    assert np.abs(fast - slow).max() <= 1


@pytest.fixture
def settings_copy(settings, tmp_path):
    target = tmp_path / "settings"
    shutil.copytree(settings.BASE_DIR / "settings", target)
    settings.PIPELINE_SETTINGS_DIR = target
    return target


def _edit_profiles(folder, change) -> None:
    path = folder / "color-correction.json"
    data = json.loads(path.read_text())
    change(data["profiles"])
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda p: p["cold_rain"].update(curve=[[0, 0], [0.6, 0.5], [0.4, 1]]),
            "profiles.cold_rain.curve: point 2: input values must increase",
        ),
        (
            lambda p: p["neutral"].update(white_balance=[1, 1]),
            "profiles.neutral.white_balance: must be a list of 3 numbers",
        ),
        (lambda p: p["neutral"].update(saturaton=1.2), "profiles.neutral.saturaton: unknown key"),
        (
            lambda p: p["cinematic_warm"]["split_toning"]["shadows"].update(strength=3),
            "profiles.cinematic_warm.split_toning.shadows: must be a number in 0..1, got 3",
        ),
    ],
)
def test_invalid_profiles_are_rejected_with_the_path_of_the_bad_key(settings_copy, change, message):
    _edit_profiles(settings_copy, change)
    with pytest.raises(ConfigError) as excinfo:
        load_color_profiles()
    # The real file (KROMA_PIPELINE_SETTINGS_DIR points at a copy), not "settings/...".
    path = settings_copy / "color-correction.json"
    assert str(excinfo.value).startswith(f"{path}: {message}")


def test_users_can_add_a_profile(settings_copy):
    _edit_profiles(
        settings_copy,
        lambda p: p.update(sepia={"white_balance": [1.1, 1.0, 0.8], "saturation": 0.3}),
    )
    profiles = load_color_profiles()
    out = apply_profile(Pixels(np.full((4, 4, 3), 120, np.uint8)), profiles["sepia"])
    assert out.array[0, 0, 0] > out.array[0, 0, 2]


def test_postprocess_file_with_unknown_profile_is_refused(settings_copy):
    path = settings_copy / "postprocess.json"
    data = json.loads(path.read_text())
    data["color"]["profile"] = "noir"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"color\.profile: no profile 'noir'"):
        load_postprocess()
