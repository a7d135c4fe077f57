"""Real-ESRGAN x4 networks on onnxruntime: tiled, alpha/gray/16-bit aware.

The model sees RGB floats 0..1 in tiles of `tile` pixels with `tile_pad` pixels of context on
every side; only the centre of each output tile is kept, so seams vanish and memory stays
bounded for any input size. Alpha is upscaled separately with Lanczos; gray images go through
the model as RGB and come back gray. Scale 2 is the x4 result reduced with Lanczos.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from django.conf import settings

from kroma.lib.weights import ModelMissingError, find_model
from pipeline.errors import PipelineError
from pipeline.postprocess.pixels import Pixels, resize
from pipeline.postprocess.sessions import SessionKind, loaded_sessions, model_session, register_kind

MODEL_SCALE = 4


class UpscaleError(PipelineError):
    pass


def session_for(model_path: Path, threads: int) -> object:
    """One onnxruntime session per model file and thread count, per process."""
    return model_session("upscale", (str(model_path), threads))


def session_count() -> int:
    return len(loaded_sessions("upscale"))


def _new_session(key: tuple[str, int]) -> object:
    import onnxruntime as ort

    path, threads = key
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def _preload(config: dict) -> None:
    params = config["upscale"]
    session_for(find_model(params["model"]), params["threads"])


register_kind("upscale", SessionKind("upscale", _new_session, _preload))


def _run_model(session: object, rgb: np.ndarray) -> np.ndarray:
    """HxWx3 float32 -> (4H)x(4W)x3 float32."""
    batch = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32)
    name = session.get_inputs()[0].name  # type: ignore[attr-defined]
    (out,) = session.run(None, {name: batch})  # type: ignore[attr-defined]
    return np.clip(out[0].transpose(1, 2, 0), 0.0, 1.0)


def upscale_rgb(
    session: object, rgb: np.ndarray, *, scale: int, tile: int, pad: int, dtype: type, top: float
) -> np.ndarray:
    """Upscale a float RGB array by `scale` (the model's x4, Lanczos-reduced for x2), tile by tile,
    into an integer array of `dtype`. Each padded tile is reduced before its centre is kept, so
    x2 needs no x4 image in memory and has no seams."""
    height, width = rgb.shape[:2]
    result = np.empty((height * scale, width * scale, 3), dtype=dtype)
    step = tile if tile > 0 else max(height, width)
    for y0 in range(0, height, step):
        for x0 in range(0, width, step):
            y1, x1 = min(y0 + step, height), min(x0 + step, width)
            py0, px0 = max(y0 - pad, 0), max(x0 - pad, 0)
            py1, px1 = min(y1 + pad, height), min(x1 + pad, width)
            out = _run_model(session, rgb[py0:py1, px0:px1])
            if scale != MODEL_SCALE:
                out = resize(out, ((px1 - px0) * scale, (py1 - py0) * scale))
            oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
            block = out[oy : oy + (y1 - y0) * scale, ox : ox + (x1 - x0) * scale]
            result[y0 * scale : y1 * scale, x0 * scale : x1 * scale] = np.rint(block * top)
    return result


def lanczos(pixels: Pixels, scale: int) -> Pixels:
    width, height = pixels.size
    return pixels.with_float(resize(pixels.to_float(), (width * scale, height * scale)))


def upscale(pixels: Pixels, params: dict) -> tuple[Pixels, dict]:
    """Upscale by params['scale'] (2 or 4); returns the image and notes for the run log."""
    scale = params["scale"]
    width, height = pixels.size
    if width * height * scale * scale > settings.MAX_OUTPUT_PIXELS:
        raise UpscaleError(
            f"x{scale} would make {width * scale}x{height * scale} = "
            f"{width * height * scale * scale / 1e6:.0f} megapixels; the limit is "
            f"{settings.MAX_OUTPUT_PIXELS / 1e6:.0f} (KROMA_MAX_OUTPUT_PIXELS); "
            + ("use x2 or a smaller input." if scale > 2 else "use a smaller input.")
        )
    notes: dict = {"model": params["model"], "scale": scale}
    try:
        model_path = find_model(params["model"])
    except ModelMissingError as exc:
        if not params.get("allow_lanczos_fallback"):
            raise UpscaleError(str(exc)) from None
        notes["fallback"] = f"lanczos: {exc}"
        return lanczos(pixels, scale), notes
    session = session_for(model_path, params.get("threads", 0))
    floats = pixels.to_float()
    gray = pixels.channels in (1, 2)
    rgb = np.repeat(floats[..., :1], 3, axis=2) if gray else floats[..., :3]
    big = upscale_rgb(
        session,
        rgb,
        scale=scale,
        tile=params["tile"],
        pad=params["tile_pad"],
        dtype=pixels.array.dtype,
        top=pixels.max_value,
    )
    if gray:  # the network returns three near-identical channels; average them back to gray
        big = np.rint(big.mean(axis=2, keepdims=True, dtype=np.float32)).astype(big.dtype)
    if pixels.has_alpha:
        alpha = resize(floats[..., -1:], (big.shape[1], big.shape[0]))
        big = np.concatenate([big, np.rint(alpha * pixels.max_value).astype(big.dtype)], axis=2)
    return Pixels(big, pixels.icc_profile, dict(pixels.extra)), notes
