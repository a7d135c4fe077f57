"""QA guard speed on a 1024x1024 RGB image, one core. Prints figures; asserts nothing.

Run: .venv/bin/python bench/qa_guard.py
Compares Kroma's one-histogram pass with the naive per-axis numpy version.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from pipeline.qa import measure

GUARD = {"chroma_soft": 16, "chroma_hard": 40}


def naive(rgb: np.ndarray) -> dict[str, float]:
    spread = rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2).astype(np.int16)
    return {
        "max_channel_spread": float(spread.max()),
        "soft_fraction": float((spread > 16).mean()),
        "hard_fraction": float((spread > 40).mean()),
        "mean_chroma_excess": float(np.clip(spread - 16, 0, None).mean()),
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
    print(f"QA guard, 1024x1024 RGB, numpy {np.__version__}, median of 30 (ms)")
    for name, rgb in images.items():
        ours = timeit(lambda a: measure(a, **GUARD), rgb)
        base = timeit(naive, rgb)
        ours_ms, base_ms = statistics.median(ours), statistics.median(base)
        print(f"  {name:14s} kroma {ours_ms:6.2f}   naive {base_ms:6.2f}")
    floor = timeit(lambda a: a.sum(dtype=np.uint64), images["random colour"])
    print(f"  memory floor (one read of 3 MB): {statistics.median(floor):.2f}")


if __name__ == "__main__":
    main()
