"""Find model weights: KROMA_MODELS_DIR first, then the small defaults committed in weights/."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

# Files Kroma knows by name, with the sha256 of the published file.
KNOWN_MODELS: dict[str, str] = {
    "u2netp.onnx": "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
    "realesr-animevideov3.onnx": "48788fd80a4f6b7820c8113e3a0d5ba2ff4c6e51339327e73c38a4592ac8f921",
    "RealESRGAN_x4plus_anime_6B.onnx": (
        "1b7979448b905c050cd962f6b91e746e120e523376e753cb3f5c6365a02aed53"
    ),
}

REMBG_RELEASE = "https://github.com/danielgatis/rembg/releases/download/v0.0.0"
REAL_ESRGAN_RELEASES = "https://github.com/xinntao/Real-ESRGAN/releases/download"
_ONNX_EXPORT = "exported to ONNX (opset 17, input `input`, output `output`; weights/README.md)"


@dataclass(frozen=True)
class ModelOrigin:
    """Where a model file comes from; `md5` is the checksum its publisher gives, when Kroma
    pins no sha256 of its own."""

    source: str
    md5: str | None = None


# Where every file Kroma can use comes from (weights/README.md, ../shared/models/README.md).
MODEL_ORIGINS: dict[str, ModelOrigin] = {
    "u2netp.onnx": ModelOrigin(f"rembg's published file, unchanged: {REMBG_RELEASE}/u2netp.onnx"),
    "realesr-animevideov3.onnx": ModelOrigin(
        f"Real-ESRGAN's {REAL_ESRGAN_RELEASES}/v0.2.5.0/realesr-animevideov3.pth, {_ONNX_EXPORT}"
    ),
    "RealESRGAN_x4plus_anime_6B.onnx": ModelOrigin(
        f"Real-ESRGAN's {REAL_ESRGAN_RELEASES}/v0.2.2.4/RealESRGAN_x4plus_anime_6B.pth, "
        + _ONNX_EXPORT
    ),
    # rembg's other sessions: its release files, saved under rembg's session name.
    **{
        f"{name}.onnx": ModelOrigin(f"rembg's release {REMBG_RELEASE}/{remote}", md5)
        for name, remote, md5 in [
            ("u2net", "u2net.onnx", "60024c5c889badc19c04ad937298a77b"),
            ("u2net_human_seg", "u2net_human_seg.onnx", "c09ddc2e0104f800e3e1bb4652583d1f"),
            ("silueta", "silueta.onnx", "55e59e0d8062d2f5d013f4725ee84782"),
            ("isnet-general-use", "isnet-general-use.onnx", "fc16ebd8b0c10d971d3513d564d01e29"),
            ("isnet-anime", "isnet-anime.onnx", "6f184e756bb3bd901c8849220a83e38e"),
            (
                "birefnet-general",
                "BiRefNet-general-epoch_244.onnx",
                "7a35a0141cbbc80de11d9c9a28f52697",
            ),
            (
                "birefnet-general-lite",
                "BiRefNet-general-bb_swin_v1_tiny-epoch_232.onnx",
                "4fab47adc4ff364be1713e97b7e66334",
            ),
            (
                "birefnet-portrait",
                "BiRefNet-portrait-epoch_150.onnx",
                "c3a64a6abf20250d090cd055f12a3b67",
            ),
            ("birefnet-dis", "BiRefNet-DIS-epoch_590.onnx", "2d4d44102b446f33a4ebb2e56c051f2b"),
            (
                "birefnet-hrsod",
                "BiRefNet-HRSOD_DHU-epoch_115.onnx",
                "c017ade5de8a50ff0fd74d790d268dda",
            ),
            ("birefnet-cod", "BiRefNet-COD-epoch_125.onnx", "f6d0d21ca89d287f17e7afe9f5fd3b45"),
            (
                "birefnet-massive",
                "BiRefNet-massive-TR_DIS5K_TR_TEs-epoch_420.onnx",
                "33e726a2136a3d59eb0fdf613e31e3e9",
            ),
        ]
    },
}


class ModelMissingError(FileNotFoundError):
    """A model file is in none of the searched directories; the message says where to put it."""

    def __init__(self, filename: str, searched: list[Path]) -> None:
        self.model_file = filename
        self.searched = searched
        dirs = ", ".join(str(d) for d in searched)
        super().__init__(
            f"Model file {filename!r} not found (searched: {dirs}). "
            f"Copy it into {searched[0]} or set KROMA_MODELS_DIR to the folder that holds it."
        )


def search_dirs() -> list[Path]:
    return [Path(settings.MODELS_DIR), Path(settings.BUNDLED_WEIGHTS_DIR)]


def find_model(filename: str) -> Path:
    for directory in search_dirs():
        candidate = directory / filename
        if candidate.is_file():
            return candidate
    raise ModelMissingError(filename, search_dirs())


@dataclass(frozen=True)
class ModelFile:
    name: str
    path: Path
    size: int
    expected_sha256: str | None

    def sha256(self) -> str:
        digest = hashlib.sha256()
        with self.path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()


def list_models() -> list[ModelFile]:
    """Every .onnx file found, first directory winning for a name."""
    found: dict[str, ModelFile] = {}
    for directory in search_dirs():
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.onnx")):
            if path.name not in found:
                found[path.name] = ModelFile(
                    path.name, path, path.stat().st_size, KNOWN_MODELS.get(path.name)
                )
    return list(found.values())


def models_dir_status() -> dict[str, object]:
    models_dir = Path(settings.MODELS_DIR)
    return {
        "path": str(models_dir),
        "exists": models_dir.is_dir(),
        "files": [
            {"name": m.name, "dir": str(m.path.parent), "bytes": m.size} for m in list_models()
        ],
        "missing": sorted(set(KNOWN_MODELS) - {m.name for m in list_models()}),
    }


_fingerprints: dict[tuple[str, int, int], str] = {}


def model_fingerprint(filename: str) -> str:
    """sha256 of the model file that would be loaded (cached by path, size and mtime), or
    'missing'. Step keys include it, so replacing a model's weights re-runs its step."""
    try:
        path = find_model(filename)
    except ModelMissingError:
        return "missing"
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _fingerprints:
        _fingerprints[key] = ModelFile(path.name, path, stat.st_size, None).sha256()
    return _fingerprints[key]
