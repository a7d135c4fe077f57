"""The QA guard: per-candidate colour statistics, and the ranking.

A pixel's chroma is its channel spread, max(R,G,B) - min(R,G,B): 0 for pure gray. Every figure
the guard needs is a count or a sum over the spreads, computed with OpenCV's SIMD kernels strip
by strip (bench/qa_guard.py measures it against the naive numpy version).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import cv2
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


STRIP_ROWS = 128  # rows per pass: the planes of a strip stay in the CPU cache


class _Planes(threading.local):
    """Reused per thread: fresh 1 MB arrays per call cost more (page faults) than the work."""

    shape: tuple[int, int] = (0, 0)
    planes: list[np.ndarray] = []

    def get(self, rows: int, width: int) -> list[np.ndarray]:
        if self.shape != (rows, width):
            self.planes = [np.empty((rows, width), np.uint8) for _ in range(6)]
            self.shape = (rows, width)
        return self.planes


_PLANES = _Planes()


def measure(rgb: np.ndarray, *, chroma_soft: int, chroma_hard: int) -> dict[str, float]:
    """Channel-spread statistics of an HxWx3 uint8 image, strip by strip with OpenCV.

    Each figure is a count or a sum of integers, so the result is exact: the same as a
    256-bin histogram of the spreads would give, at about the cost of reading the image.
    """
    rgb = np.ascontiguousarray(rgb)
    height, width = rgb.shape[:2]
    planes = _PLANES.get(min(height, STRIP_ROWS), width)
    top_spread, spread_sum, excess_sum, soft_count, hard_count = 0, 0.0, 0.0, 0, 0
    for top in range(0, height, STRIP_ROWS):
        strip = rgb[top : top + STRIP_ROWS]
        r, g, b, high, low, scratch = (plane[: strip.shape[0]] for plane in planes)
        cv2.mixChannels([strip], [r, g, b], [0, 0, 1, 1, 2, 2])
        cv2.max(r, g, high)
        cv2.max(high, b, high)
        cv2.min(r, g, low)
        cv2.min(low, b, low)
        cv2.subtract(high, low, high)  # the spread: max - min of the three channels
        top_spread = max(top_spread, int(cv2.minMaxLoc(high)[1]))
        spread_sum += cv2.sumElems(high)[0]
        cv2.threshold(high, chroma_soft, 1, cv2.THRESH_BINARY, scratch)
        soft_count += cv2.countNonZero(scratch)
        cv2.threshold(high, chroma_hard, 1, cv2.THRESH_BINARY, scratch)
        hard_count += cv2.countNonZero(scratch)
        cv2.subtract(high, chroma_soft, scratch)  # saturates at 0: max(spread - soft, 0)
        excess_sum += cv2.sumElems(scratch)[0]
    total = height * width
    return {
        "pixels": total,
        "max_channel_spread": top_spread,
        "mean_channel_spread": spread_sum / total,
        "soft_fraction": soft_count / total,
        "hard_fraction": hard_count / total,
        "hard_pixels": hard_count,
        "mean_chroma_excess": excess_sum / total,
        "luma_std": float(rgb[::4, ::4, 1].std()),
    }


# The hard rules, by the name a manifest uses for them (`output_guard.warn_only`).
QA_RULES: dict[str, str] = {
    "blank": "luminance std below min_std: an empty or flat answer",
    "grayscale": "clearly coloured pixels in a grayscale project (enforce_grayscale)",
    "size": "the answer's width x height is not the size that was requested",
}


def parse_size(size: str) -> tuple[int, int] | None:
    """(width, height) of a "WxH" size; None for "auto" (any size will do)."""
    if "x" not in size:
        return None
    width, height = size.split("x", 1)
    return int(width), int(height)


def check_image(
    image: Image.Image | np.ndarray, guard: dict[str, Any], *, requested_size: str = "auto"
) -> QAResult:
    """Score one candidate against the manifest's `output_guard` and the size asked for.

    A hard rule named in `guard["warn_only"]` is reported as a soft warning instead of failing
    the candidate, so ranking still prefers the candidates that broke it less.
    """
    rgb = image if isinstance(image, np.ndarray) else to_rgb_array(image)
    metrics = measure(rgb, chroma_soft=guard["chroma_soft"], chroma_hard=guard["chroma_hard"])
    height, width = rgb.shape[:2]
    metrics["width"], metrics["height"] = width, height
    broken: list[tuple[str, str]] = []  # (rule, reason) of each hard rule the image breaks
    soft: list[str] = []
    if metrics["luma_std"] < guard["min_std"]:
        broken.append(
            ("blank", f"blank image: luminance std {metrics['luma_std']:.2f} < {guard['min_std']}")
        )
    wanted = parse_size(requested_size)
    if wanted is not None and wanted != (width, height):
        broken.append(("size", f"size {width}x{height}, requested {requested_size}"))
    if guard["enforce_grayscale"]:
        if metrics["hard_fraction"] > guard["max_hard_fraction"]:
            broken.append(
                (
                    "grayscale",
                    f"colour in a grayscale project: {metrics['hard_pixels']} pixels "
                    f"({metrics['hard_fraction']:.4%}) have channel spread > "
                    f"{guard['chroma_hard']} (limit {guard['max_hard_fraction']:.4%})",
                )
            )
        if metrics["soft_fraction"] > guard["max_soft_fraction"]:
            soft.append(
                f"tinted: {metrics['soft_fraction']:.2%} of pixels have channel spread > "
                f"{guard['chroma_soft']} (limit {guard['max_soft_fraction']:.2%})"
            )
    warn_only = set(guard.get("warn_only") or ())  # absent in manifests from before the key
    hard = [reason for rule, reason in broken if rule not in warn_only]
    soft = [reason for rule, reason in broken if rule in warn_only] + soft
    return QAResult(metrics=metrics, hard_failures=hard, soft_warnings=soft)


def ranking_key(
    index: int, result: QAResult, rating: int | None = None
) -> tuple[int, int, int, float, int]:
    """Fewer hard failures, then fewer soft warnings, then the artist's rating (higher first,
    unrated after rated), then lower mean chroma excess, then index."""
    return (
        len(result.hard_failures),
        len(result.soft_warnings),
        -rating if rating else 0,
        result.metrics["mean_chroma_excess"],
        index,
    )


def rank_candidates(
    results: dict[int, QAResult], ratings: dict[int, int | None] | None = None
) -> list[int]:
    """Candidate indices, best first (`ratings`: the artist's rating per index, if any)."""
    ratings = ratings or {}
    return sorted(results, key=lambda i: ranking_key(i, results[i], ratings.get(i)))
