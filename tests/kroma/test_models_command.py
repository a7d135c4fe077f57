from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def test_kroma_models_verifies_bundled_weights_and_names_missing_ones(settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    out = StringIO()
    call_command("kroma_models", stdout=out)
    text = out.getvalue()
    assert "u2netp.onnx" in text and "ok (sha256 verified)" in text
    assert f"RealESRGAN_x4plus_anime_6B.onnx      missing: copy it into {tmp_path}" in text


def test_kroma_models_flags_a_corrupt_file(settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    (tmp_path / "u2netp.onnx").write_bytes(b"not the published model")
    out = StringIO()
    with pytest.raises(CommandError, match="1 model file"):
        call_command("kroma_models", stdout=out)
    assert "CORRUPT" in out.getvalue()


def test_kroma_models_says_where_a_missing_file_comes_from_and_where_to_put_it(settings, tmp_path):
    settings.MODELS_DIR = tmp_path / "models"
    settings.BUNDLED_WEIGHTS_DIR = tmp_path / "weights"
    out = StringIO()
    call_command("kroma_models", stdout=out)
    lines = out.getvalue().splitlines()
    searched = f"{settings.MODELS_DIR}, {settings.BUNDLED_WEIGHTS_DIR}"
    start = lines.index(f"  {'u2netp.onnx':36s} missing: copy it into {settings.MODELS_DIR}")
    assert lines[start + 1 : start + 4] == [
        "      from: rembg's published file, unchanged: "
        "https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2netp.onnx",
        "      sha256 309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
        f"      searched: {searched}",
    ]
    start = lines.index(
        f"  {'RealESRGAN_x4plus_anime_6B.onnx':36s} missing: copy it into {settings.MODELS_DIR}"
    )
    assert lines[start + 1].startswith(
        "      from: Real-ESRGAN's https://github.com/xinntao/Real-ESRGAN/releases/download/"
        "v0.2.2.4/RealESRGAN_x4plus_anime_6B.pth, exported to ONNX"
    )
    assert lines[start + 2 : start + 4] == [
        "      sha256 1b7979448b905c050cd962f6b91e746e120e523376e753cb3f5c6365a02aed53",
        f"      searched: {searched}",
    ]
    assert "Background removal (rembg) ready: none" in lines
    assert (
        f"    {'isnet-anime.onnx':28s} from rembg's release "
        "https://github.com/danielgatis/rembg/releases/download/v0.0.0/isnet-anime.onnx "
        "(no sha256 pinned by Kroma; the publisher's md5 is 6f184e756bb3bd901c8849220a83e38e)"
    ) in lines
