"""Colour correction with named profiles: white balance, tone curve, saturation, split toning.

Per-channel work (white balance, then the tone curve) is one lookup table indexed by the pixel
values themselves, so it costs a gather per channel in any bit depth. Saturation and split
toning mix channels and run in float32, a band of rows at a time so the working set stays in
cache. Alpha is passed through untouched; gray images get the tone curve only and stay gray.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.postprocess.pixels import Pixels

BAND_ROWS = 64
LUMA_LEVELS = 4096
LUMA = (0.299, 0.587, 0.114)


def _channel_luts(profile: dict[str, Any], levels: int) -> list[np.ndarray]:
    """float32 LUT per channel: value index -> curve(white balance gain * value), in 0..1."""
    x = np.linspace(0.0, 1.0, levels, dtype=np.float64)
    curve = np.asarray(profile.get("curve", [[0.0, 0.0], [1.0, 1.0]]), dtype=np.float64)
    gains = profile.get("white_balance", [1.0, 1.0, 1.0])
    return [
        np.interp(np.clip(x * gain, 0.0, 1.0), curve[:, 0], curve[:, 1]).astype(np.float32)
        for gain in gains
    ]


def _toning(profile: dict[str, Any]) -> tuple[np.ndarray, float, np.ndarray, float, float]:
    toning = profile.get("split_toning") or {}
    shadows = toning.get("shadows") or {"color": [0.5, 0.5, 0.5], "strength": 0.0}
    highlights = toning.get("highlights") or {"color": [0.5, 0.5, 0.5], "strength": 0.0}
    return (
        np.asarray(shadows["color"], np.float32) - 0.5,
        float(shadows["strength"]),
        np.asarray(highlights["color"], np.float32) - 0.5,
        float(highlights["strength"]),
        float(toning.get("balance", 0.0)),
    )


def apply_profile(pixels: Pixels, profile: dict[str, Any]) -> Pixels:
    """Return a new image with `profile` applied; mode, depth and alpha unchanged.

    For a channel c with value x: out = s * curve_c(x) + (1 - s) * luma + tint_c(luma), where
    luma is the Rec.601 luma of the curved pixel. The first term is a table of x; the rest
    depends on luma alone, so it is a table of luma quantised to 4096 levels (an error below
    1/4096). Both tables are pre-scaled to the output range with +0.5, so a clip and an integer
    cast finish each channel.
    """
    levels = 65536 if pixels.bit_depth == 16 else 256
    dtype = pixels.array.dtype
    top = np.float32(pixels.max_value)
    source = pixels.array
    out = np.empty_like(source)
    if pixels.channels in (1, 2):  # gray stays gray: the tone curve only
        lut = _channel_luts({"curve": profile.get("curve", [[0, 0], [1, 1]])}, levels)[0]
        out[..., 0] = np.rint(lut[source[..., 0]] * top).astype(dtype)
        if pixels.channels == 2:
            out[..., 1] = source[..., 1]
        return Pixels(out, pixels.icc_profile, dict(pixels.extra))
    if pixels.bit_depth == 8:
        return _apply_rgb8(pixels, profile)
    luts = _channel_luts(profile, levels)
    saturation = np.float32(profile.get("saturation", 1.0))
    value_luts = [lut * saturation * top for lut in luts]
    luma_luts = _luma_luts(profile, saturation, top)
    for start in range(0, source.shape[0], BAND_ROWS):
        band = source[start : start + BAND_ROWS]
        curved = [luts[c][band[..., c]] for c in range(3)]
        luma = curved[0] * np.float32(LUMA[0] * (LUMA_LEVELS - 1))
        luma += curved[1] * np.float32(LUMA[1] * (LUMA_LEVELS - 1))
        luma += curved[2] * np.float32(LUMA[2] * (LUMA_LEVELS - 1))
        index = luma.astype(np.int32)
        for c in range(3):
            channel = value_luts[c][band[..., c]]
            channel += luma_luts[c][index]
            np.clip(channel, 0, top, out=channel)
            out[start : start + BAND_ROWS, :, c] = channel
        if pixels.channels == 4:
            out[start : start + BAND_ROWS, :, 3] = band[..., 3]
    return Pixels(out, pixels.icc_profile, dict(pixels.extra))


def _luma_luts(
    profile: dict[str, Any], saturation: np.float32, top: np.float32, levels: int = 0
) -> list[np.ndarray]:
    """Per channel: (1 - s) * luma + split-toning tint(luma), scaled to the output, + 0.5."""
    shadow_tint, shadow_strength, high_tint, high_strength, balance = _toning(profile)
    luma = np.linspace(0.0, 1.0, levels or LUMA_LEVELS, dtype=np.float32)
    pivot = np.float32(0.5 + balance / 2)
    shadow_w = np.clip((pivot - luma) / pivot, 0, 1) * np.float32(shadow_strength)
    high_w = np.clip((luma - pivot) / (1 - pivot), 0, 1) * np.float32(high_strength)
    base = (1 - saturation) * luma
    return [
        ((base + shadow_w * shadow_tint[c] + high_w * high_tint[c]) * top + np.float32(0.5))
        for c in range(3)
    ]


FIXED = 16  # 8-bit fast path works in 1/16 of a level


def _apply_rgb8(pixels: Pixels, profile: dict[str, Any]) -> Pixels:
    """8-bit RGB(A) through OpenCV's table lookups: the same formula, about 4x faster.

    curve(wb * x) is one 3-channel LUT; luma is OpenCV's Rec.601 gray of the curved image;
    s * curved and (1 - s) * luma + tint(luma) are two int16 LUTs in 1/16 levels, summed,
    rounded and clipped.
    """
    import cv2

    source = pixels.array
    has_alpha = pixels.channels == 4
    rgb = cv2.cvtColor(source, cv2.COLOR_RGBA2RGB) if has_alpha else np.ascontiguousarray(source)
    curves = _channel_luts(profile, 256)
    curve_lut = np.stack([np.rint(c * 255) for c in curves], axis=1).astype(np.uint8)[None]
    curved = cv2.LUT(rgb, curve_lut)
    saturation = np.float32(profile.get("saturation", 1.0))
    levels = np.arange(256, dtype=np.float32)
    value_lut = np.rint(levels * saturation * FIXED).astype(np.int16)
    luma_tables = _luma_luts(profile, saturation, np.float32(255.0), levels=256)
    luma_lut = np.stack(
        [np.rint((t - np.float32(0.5)) * FIXED) for t in luma_tables], axis=1
    ).astype(np.int16)[None]
    luma = cv2.cvtColor(curved, cv2.COLOR_RGB2GRAY)
    total = cv2.LUT(curved, value_lut) + cv2.LUT(cv2.merge([luma, luma, luma]), luma_lut)
    np.clip(total, 0, 255 * FIXED, out=total)
    result = cv2.convertScaleAbs(total, alpha=1 / FIXED)  # rounds and saturates to uint8
    if has_alpha:
        result = cv2.merge([*cv2.split(result), source[..., 3]])
    out = result
    return Pixels(out, pixels.icc_profile, dict(pixels.extra))
