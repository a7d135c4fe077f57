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
