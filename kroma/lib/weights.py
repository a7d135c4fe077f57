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
