"""QA guard speed on a 1024x1024 RGB image, one core. Prints figures; asserts nothing.

Run: .venv/bin/python bench/qa_guard.py
Compares, side by side in one run: Kroma's guard (OpenCV, strip by strip), the previous
one-histogram numpy pass, and the naive per-axis numpy version; checks the figures agree.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2
import numpy as np

from pipeline.qa import measure

cv2.setNumThreads(1)

GUARD = {"chroma_soft": 16, "chroma_hard": 40}


def naive(rgb: np.ndarray) -> dict[str, float]:
    spread = rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2).astype(np.int16)
    return {
        "max_channel_spread": float(spread.max()),
        "soft_fraction": float((spread > 16).mean()),
        "hard_fraction": float((spread > 40).mean()),
        "mean_chroma_excess": float(np.clip(spread - 16, 0, None).mean()),
    }


def histogram(rgb: np.ndarray) -> dict[str, float]:
    """The previous implementation: one 256-bin histogram of the spreads."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    high = np.maximum(np.maximum(r, g), b)
    np.subtract(high, np.minimum(np.minimum(r, g), b), out=high)
    hist = np.bincount(high.ravel(), minlength=256)
    total = int(hist.sum())
    levels = np.arange(256)
    return {
        "max_channel_spread": float(np.flatnonzero(hist)[-1]),
        "soft_fraction": float(hist[17:].sum() / total),
        "hard_fraction": float(hist[41:].sum() / total),
        "mean_chroma_excess": float((hist * np.clip(levels - 16, 0, None)).sum() / total),
        "luma_std": float(rgb[::4, ::4, 1].std()),
    }


def timeit(fn, rgb: np.ndarray, repeat: int = 30) -> list[float]:
    fn(rgb)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn(rgb)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    rng = np.random.default_rng(0)
    images = {
        "random colour": rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8),
        "gray + noise": np.repeat(rng.integers(0, 256, (1024, 1024, 1), dtype=np.uint8), 3, 2),
    }
    print(f"QA guard, 1024x1024 RGB, numpy {np.__version__}, OpenCV {cv2.__version__}, one thread")
    print("median of 30 runs, ms            kroma  histogram  naive   naive/kroma")
    for name, rgb in images.items():
        ours = statistics.median(timeit(lambda a: measure(a, **GUARD), rgb))
        hist = statistics.median(timeit(histogram, rgb))
        base = statistics.median(timeit(naive, rgb))
        figures = measure(rgb, **GUARD)
        agree = all(figures[k] == v for k, v in naive(rgb).items())
        print(
            f"  {name:28s} {ours:6.2f} {hist:9.2f} {base:7.2f}   {base / ours:6.1f}x"
            f"   figures equal: {agree}"
        )
    floor = timeit(lambda a: a.sum(dtype=np.uint64), images["random colour"])
    print(f"  memory floor (one read of 3 MB): {statistics.median(floor):.2f}")


if __name__ == "__main__":
    main()
