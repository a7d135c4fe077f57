"""The local provider: "local (no AI, offline)". Classical stylisation, free and deterministic.

It moves the scene's colours toward the style references (per-channel mean/std transfer in
YCbCr), inks the edges and posterises. Each candidate index uses its own strengths, so a run
still has real candidates to rank. It exists so a newcomer can watch a whole run end to end with
no key; it is never chosen silently when the user asked for OpenAI. Like an image API, it
answers at the requested size: the scene is cropped (centred) to that size's shape and the
stylised result resized to it; "auto" keeps the scene's own shape and size.
"""

from __future__ import annotations

import io
import time
from decimal import Decimal
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from pipeline.errors import ProviderError
from pipeline.providers.base import GenerationRequest, GenerationResult
from pipeline.qa import parse_size

# (colour transfer strength, ink strength, posterise levels) per candidate index.
VARIANTS = [
    (0.85, 0.9, 6),
    (0.6, 0.6, 8),
    (1.0, 1.0, 4),
    (0.4, 0.8, 10),
    (0.75, 0.4, 5),
    (0.9, 0.7, 7),
]
MAX_SIDE = 1024


def _load(data: bytes, shape: tuple[int, int] | None = None) -> np.ndarray:
    """The image in YCbCr, at most MAX_SIDE a side; cropped (centred) to `shape`'s aspect."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    if shape is not None:
        scale = min(image.width / shape[0], image.height / shape[1])
        crop = (max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale)))
        if crop != image.size:
            image = ImageOps.fit(image, crop)
    return np.asarray(image.convert("YCbCr"), dtype=np.float32)


def _style_stats(styles: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    pixels = np.concatenate([s.reshape(-1, 3) for s in styles])
    return pixels.mean(axis=0), pixels.std(axis=0) + 1e-3


def _edges(luma: np.ndarray) -> np.ndarray:
    gx = np.zeros_like(luma)
    gy = np.zeros_like(luma)
    gx[:, 1:-1] = luma[:, 2:] - luma[:, :-2]
    gy[1:-1, :] = luma[2:, :] - luma[:-2, :]
    magnitude = np.hypot(gx, gy)
    return np.clip(magnitude / (np.percentile(magnitude, 97) + 1e-3), 0, 1)


def stylise(
    scene: np.ndarray,
    style_mean: np.ndarray,
    style_std: np.ndarray,
    variant: int,
    size: tuple[int, int] | None = None,
) -> bytes:
    """One candidate as PNG bytes, resized to `size` (width, height) when one is given."""
    transfer, ink, levels = VARIANTS[variant % len(VARIANTS)]
    mean, std = scene.reshape(-1, 3).mean(axis=0), scene.reshape(-1, 3).std(axis=0) + 1e-3
    moved = (scene - mean) / std * style_std + style_mean
    out = scene * (1 - transfer) + moved * transfer
    step = 255.0 / (levels - 1)
    out[..., 0] = np.round(out[..., 0] / step) * step
    out[..., 0] *= 1 - ink * _edges(scene[..., 0]) ** 1.5
    ycbcr = np.clip(out, 0, 255).astype(np.uint8)
    rgb = Image.fromarray(ycbcr, "YCbCr").convert("RGB")
    if size is not None and rgb.size != size:
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    rgb.save(buffer, "PNG")
    return buffer.getvalue()


class LocalProvider:
    name = "local"
    label = "local (no AI, offline)"
    paid = False

    def __init__(self, *, api_key: str | None = None, base_url: str | None = None) -> None:
        pass  # offline: no key, no endpoint

    @classmethod
    def model_for(cls, generation: dict[str, Any]) -> str:
        return "local"

    @classmethod
    def estimate(cls, **_: Any) -> Decimal:
        return Decimal(0)

    @classmethod
    def cost(cls, *, n: int, **_: Any) -> tuple[Decimal, dict[str, Any]]:
        return Decimal(0), {"images": n}

    def generate(self, request: GenerationRequest) -> GenerationResult:
        started = time.monotonic()
        # A panel drawn from its script has no scene image: offline, the local provider can
        # only restyle, so it starts from the first reference (a character or style sheet).
        scene = next((i for i in request.images if i.role == "scene"), None)
        scene = scene or next(iter(request.images), None)
        if scene is None:
            raise ProviderError(
                "the local provider needs an image to start from: give the panel a base image "
                "or style references"
            )
        styles = [_load(i.data) for i in request.images if i.role == "style"] or [_load(scene.data)]
        style_mean, style_std = _style_stats(styles)
        size = parse_size(request.size)
        scene_array = _load(scene.data, size)
        images = [
            stylise(scene_array, style_mean, style_std, i, size) for i in request.candidate_indices
        ]
        return GenerationResult(
            images=images, model="local", usage=None, duration_s=time.monotonic() - started
        )
