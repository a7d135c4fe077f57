"""Post-processing figures: rembg through the chain vs direct, sessions, upscale, colour.

Run: KROMA_MODELS_DIR=../shared/models .venv/bin/python bench/postprocess.py [--quick]
Prints figures; asserts nothing. Peak memory of the tiled upscale is measured in a child
process so earlier work does not inflate it.
"""

from __future__ import annotations

import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kroma.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from pipeline.postprocess import bg_remove, upscale  # noqa: E402
from pipeline.postprocess.base import ChainContext  # noqa: E402
from pipeline.postprocess.chain import run_chain  # noqa: E402
from pipeline.postprocess.color import apply_profile  # noqa: E402
from pipeline.postprocess.config import load_color_profiles, load_postprocess  # noqa: E402
from pipeline.postprocess.outputs import FolderOutputs  # noqa: E402
from pipeline.postprocess.pixels import Pixels  # noqa: E402

EXAMPLES = ROOT.parent / "shared" / "testdata" / "rembg-examples"


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _photo_1024(shift: int) -> bytes:
    image = Image.open(EXAMPLES / "animal-1.jpg").convert("RGB").resize((1024, 1024))
    array = np.asarray(image).astype(np.int16)
    array[0, 0] = (array[0, 0] + shift) % 256  # a different input every time: no skip
    return _png(Image.fromarray(array.astype(np.uint8)))


def bench_rembg(repeat: int) -> None:
    from rembg import remove

    session = bg_remove.session_for("u2netp")
    inputs = [_photo_1024(i) for i in range(repeat + 1)]
    remove(Image.open(io.BytesIO(inputs[0])), session=session)  # warm
    direct = []
    for data in inputs[1:]:
        started = time.perf_counter()
        result = remove(Image.open(io.BytesIO(data)), session=session)
        _png(result)
        direct.append(time.perf_counter() - started)
    config = load_postprocess()
    chained = []
    with tempfile.TemporaryDirectory() as folder:
        for data in inputs[1:]:
            ctx = ChainContext(outputs=FolderOutputs(Path(folder)))
            started = time.perf_counter()
            run_chain(data=data, source=None, config=config, ctx=ctx, only=["bg_remove"])
            chained.append(time.perf_counter() - started)
    d, c = statistics.median(direct), statistics.median(chained)
    print(f"rembg u2netp, 1024x1024, warm session, median of {repeat}:")
    print(f"  rembg.remove + PNG encode  {d:.3f} s")
    print(f"  Kroma chain step           {c:.3f} s  ({(c / d - 1) * 100:+.1f}% over direct)")


def bench_sessions(count: int) -> None:
    config = load_postprocess()
    small = _png(Image.open(EXAMPLES / "car-1.jpg").convert("RGB").resize((256, 192)))
    with tempfile.TemporaryDirectory() as folder:
        for i in range(count):
            data = _png(Image.open(io.BytesIO(small)).rotate(i))
            ctx = ChainContext(outputs=FolderOutputs(Path(folder)))
            run_chain(data=data, source=None, config=config, ctx=ctx, only=["bg_remove"])
    print(f"batch of {count} images: {bg_remove.session_count()} rembg session(s) created")


def bench_upscale_small() -> None:
    image = Image.open(EXAMPLES / "car-1.jpg").convert("RGB").resize((256, 256))
    pixels = Pixels(np.asarray(image).copy())
    for model in ("realesr-animevideov3.onnx", "RealESRGAN_x4plus_anime_6B.onnx"):
        params = {
            "model": model,
            "scale": 4,
            "tile": 0,
            "tile_pad": 24,
            "threads": 0,
            "allow_lanczos_fallback": False,
        }
        upscale.upscale(Pixels(pixels.array[:64, :64].copy()), params)  # session + warm-up
        started = time.perf_counter()
        upscale.upscale(pixels, params)
        print(f"upscale x4 256x256 {model:34s} {time.perf_counter() - started:6.2f} s")


def _peak_rss_mib() -> float:
    """VmHWM of this process (ru_maxrss would include the parent's peak, inherited at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_upscale_large_child() -> None:
    """Run in a child: tiled x4 of a 1024x1024 image, report time and peak RSS."""
    image = Image.open(EXAMPLES / "animal-1.jpg").convert("RGBA").resize((1024, 1024))
    pixels = Pixels(np.asarray(image).copy())
    params = {
        "model": "realesr-animevideov3.onnx",
        "scale": 4,
        "tile": 256,
        "tile_pad": 24,
        "threads": 0,
        "allow_lanczos_fallback": False,
    }
    started = time.perf_counter()
    result, _ = upscale.upscale(pixels, params)
    elapsed = time.perf_counter() - started
    peak_mib = _peak_rss_mib()
    print(
        f"upscale x4 1024x1024 RGBA, tiles 256 (+24): {elapsed:.1f} s, "
        f"peak RSS {peak_mib:.0f} MiB -> {result.size[0]}x{result.size[1]}"
    )


def bench_color(repeat: int) -> None:
    rng = np.random.default_rng(0)
    pixels = Pixels(rng.integers(0, 256, (2048, 2048, 4), dtype=np.uint8))
    for name, profile in load_color_profiles().items():
        apply_profile(pixels, profile)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            apply_profile(pixels, profile)
            times.append((time.perf_counter() - started) * 1000)
        print(f"colour {name:15s} 2048x2048 RGBA: {statistics.median(times):6.1f} ms")


def main() -> None:
    if "--upscale-child" in sys.argv:
        bench_upscale_large_child()
        return
    quick = "--quick" in sys.argv
    print(f"Kroma post-processing, {os.cpu_count()} CPU(s), numpy {np.__version__}")
    bench_rembg(3 if quick else 8)
    bench_sessions(5 if quick else 20)
    bench_upscale_small()
    subprocess.run([sys.executable, __file__, "--upscale-child"], check=True)
    bench_color(3 if quick else 10)


if __name__ == "__main__":
    main()
