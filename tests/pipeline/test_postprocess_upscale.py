"""Real-ESRGAN through onnxruntime on Real-ESRGAN's own test inputs."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.postprocess import upscale
from pipeline.postprocess.pixels import ImageInputError, decode, encode

INPUTS = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "esrgan-inputs"
PARAMS = {
    "model": "realesr-animevideov3.onnx",
    "scale": 4,
    "tile": 0,
    "tile_pad": 24,
    "threads": 0,
    "allow_lanczos_fallback": False,
}
CASES = {  # file: (channels, bit depth) expected in and out
    "children-alpha.png": (4, 8),
    "tree_alpha_16bit.png": (4, 16),
    "wolf_gray.jpg": (1, 8),
    "00017_gray.png": (1, 8),
    "0014.jpg": (3, 8),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_x4_is_exactly_four_times_and_keeps_mode_family_and_depth(name, tmp_path):
    pixels = decode((INPUTS / name).read_bytes(), name)
    channels, depth = CASES[name]
    assert (pixels.channels, pixels.bit_depth) == (channels, depth)
    result, notes = upscale.upscale(pixels, PARAMS)
    width, height = pixels.size
    assert result.size == (4 * width, 4 * height)
    assert (result.channels, result.bit_depth) == (channels, depth)
    png = encode(result)
    reread = decode(png, "result")
    assert (reread.channels, reread.bit_depth, reread.size) == (channels, depth, result.size)
    if channels == 4:  # alpha stays alpha: transparent where it was, opaque where it was
        alpha_in = pixels.array[..., 3] / pixels.max_value
        alpha_out = np.asarray(
            Image.fromarray(result.array[..., 3].astype(np.float32) / result.max_value, "F").resize(
                (width, height), Image.Resampling.BOX
            )
        )
        assert np.abs(alpha_out - alpha_in).mean() < 0.02
    assert "fallback" not in notes


@pytest.mark.parametrize("name", ["children-alpha.png", "00017_gray.png"])
def test_tiled_output_equals_untiled_output(name):
    pixels = decode((INPUTS / name).read_bytes(), name)
    whole, _ = upscale.upscale(pixels, PARAMS)
    tiled, _ = upscale.upscale(pixels, {**PARAMS, "tile": 128})
    diff = np.abs(whole.array.astype(np.int32) - tiled.array.astype(np.int32))
    mse = float((diff.astype(np.float64) ** 2).mean())
    psnr = float("inf") if mse == 0 else 10 * np.log10(whole.max_value**2 / mse)
    assert psnr >= 40
    seams = np.zeros(diff.shape[:2], bool)
    for k in range(128 * 4, diff.shape[0], 128 * 4):
        seams[max(k - 8, 0) : k + 8] = True
    for k in range(128 * 4, diff.shape[1], 128 * 4):
        seams[:, max(k - 8, 0) : k + 8] = True
    assert diff[~seams].max() <= 1


def test_x2_is_exactly_twice():
    pixels = decode((INPUTS / "0014.jpg").read_bytes())
    result, _ = upscale.upscale(pixels, {**PARAMS, "scale": 2, "tile": 64})
    assert result.size == (2 * pixels.size[0], 2 * pixels.size[1])


def test_missing_model_is_a_clear_error_and_lanczos_only_when_allowed(settings, tmp_path):
    pixels = decode((INPUTS / "0014.jpg").read_bytes())
    params = {**PARAMS, "model": "RealESRGAN_x4plus.onnx"}
    with pytest.raises(upscale.UpscaleError, match=r"RealESRGAN_x4plus\.onnx' not found"):
        upscale.upscale(pixels, params)
    result, notes = upscale.upscale(pixels, {**params, "allow_lanczos_fallback": True})
    assert result.size == (4 * 179, 4 * 179)
    assert notes["fallback"].startswith("lanczos: Model file 'RealESRGAN_x4plus.onnx' not found")


def test_one_onnx_session_per_model_and_thread_count():
    pixels = decode((INPUTS / "wolf_gray.jpg").read_bytes())
    before = upscale.session_count()
    for _ in range(3):
        upscale.upscale(pixels, {**PARAMS, "threads": 1})
    assert upscale.session_count() <= before + 1


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"this is a text file", "not an image Kroma can read"),
        ((INPUTS / "children-alpha.png").read_bytes()[:5000], "damaged or truncated"),
        (_png_header_only(30000, 30000), "900.0 megapixels"),
        (_png_header_only(1, 1), "images need at least 2x2 pixels"),
        (b"", "is empty"),
    ],
)
def test_bad_inputs_are_refused_clearly(data, message):
    with pytest.raises(ImageInputError, match=message):
        decode(data, "input.png")


def test_sixteen_bit_gray_png_stays_sixteen_bit():
    gray = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    out = io.BytesIO()
    Image.fromarray(gray).save(out, "PNG")
    pixels = decode(out.getvalue())
    assert (pixels.channels, pixels.bit_depth) == (1, 16)
    result, _ = upscale.upscale(pixels, PARAMS)
    assert result.array.dtype == np.uint16 and result.size == (256, 192)
