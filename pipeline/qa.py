"""The QA guard: per-candidate colour statistics in one vectorised pass, and the ranking.

A pixel's chroma is its channel spread, max(R,G,B) - min(R,G,B): 0 for pure gray. One histogram
of the spreads (256 bins) gives every figure the guard needs, so an image is read once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class QAResult:
    metrics: dict[str, float]
    hard_failures: list[str] = field(default_factory=list)
    soft_warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.hard_failures

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "hard_failures": self.hard_failures,
            "soft_warnings": self.soft_warnings,
            "metrics": self.metrics,
        }


def to_rgb_array(image: Image.Image) -> np.ndarray:
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image)


def chroma_histogram(rgb: np.ndarray) -> np.ndarray:
    """Counts of channel spread 0..255 over all pixels of an HxWx3 uint8 array."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    high = np.maximum(np.maximum(r, g), b)
    low = np.minimum(np.minimum(r, g), b)
    np.subtract(high, low, out=high)
    return np.bincount(high.ravel(), minlength=256)


def measure(rgb: np.ndarray, *, chroma_soft: int, chroma_hard: int) -> dict[str, float]:
    hist = chroma_histogram(rgb)
    total = int(hist.sum())
    levels = np.arange(256)
    nonzero = np.flatnonzero(hist)
    excess = np.clip(levels - chroma_soft, 0, None)
    luma_sample = rgb[::4, ::4, 1]
    return {
        "pixels": total,
        "max_channel_spread": int(nonzero[-1]) if nonzero.size else 0,
        "mean_channel_spread": float((hist * levels).sum() / total),
        "soft_fraction": float(hist[chroma_soft + 1 :].sum() / total),
        "hard_fraction": float(hist[chroma_hard + 1 :].sum() / total),
        "hard_pixels": int(hist[chroma_hard + 1 :].sum()),
        "mean_chroma_excess": float((hist * excess).sum() / total),
        "luma_std": float(luma_sample.std()),
    }


def check_image(image: Image.Image | np.ndarray, guard: dict[str, Any]) -> QAResult:
    """Score one candidate against the manifest's `output_guard`."""
    rgb = image if isinstance(image, np.ndarray) else to_rgb_array(image)
    metrics = measure(rgb, chroma_soft=guard["chroma_soft"], chroma_hard=guard["chroma_hard"])
    hard: list[str] = []
    soft: list[str] = []
    if metrics["luma_std"] < guard["min_std"]:
        hard.append(f"blank image: luminance std {metrics['luma_std']:.2f} < {guard['min_std']}")
    if guard["enforce_grayscale"]:
        if metrics["hard_fraction"] > guard["max_hard_fraction"]:
            hard.append(
                f"colour in a grayscale project: {metrics['hard_pixels']} pixels "
                f"({metrics['hard_fraction']:.4%}) have channel spread > {guard['chroma_hard']} "
                f"(limit {guard['max_hard_fraction']:.4%})"
            )
        if metrics["soft_fraction"] > guard["max_soft_fraction"]:
            soft.append(
                f"tinted: {metrics['soft_fraction']:.2%} of pixels have channel spread > "
                f"{guard['chroma_soft']} (limit {guard['max_soft_fraction']:.2%})"
            )
    return QAResult(metrics=metrics, hard_failures=hard, soft_warnings=soft)


def ranking_key(index: int, result: QAResult) -> tuple[int, int, float, int]:
    """Fewer hard failures, then fewer soft warnings, then lower mean chroma excess, then index."""
    return (
        len(result.hard_failures),
        len(result.soft_warnings),
        result.metrics["mean_chroma_excess"],
        index,
    )


def rank_candidates(results: dict[int, QAResult]) -> list[int]:
    """Candidate indices, best first."""
    return sorted(results, key=lambda i: ranking_key(i, results[i]))
