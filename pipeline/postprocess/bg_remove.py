"""Background removal: rembg with an explicit session per model, per process; paid fallbacks.

rembg's default session is a 1 GB download, so a session is always created explicitly from a
model file found in KROMA_MODELS_DIR or weights/ (U2NET_HOME points rembg at that folder), once
per worker process (pipeline.postprocess.sessions, which also warms it when a worker starts), and
reused for every image. PhotoRoom and remove.bg are HTTP adapters that use the project's secrets
(photoroom/api_key, removebg/api_key).
"""

from __future__ import annotations

import io
import json
import os
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

import numpy as np
from PIL import Image

from kroma.lib.weights import ModelMissingError, find_model
from pipeline.errors import PipelineError
from pipeline.postprocess.pixels import decode, encode
from pipeline.postprocess.sessions import SessionKind, loaded_sessions, model_session, register_kind

# rembg session name -> the file it loads (rembg's own naming).
MODEL_FILES = {
    "u2netp": "u2netp.onnx",
    "u2net": "u2net.onnx",
    "u2net_human_seg": "u2net_human_seg.onnx",
    "silueta": "silueta.onnx",
    "isnet-general-use": "isnet-general-use.onnx",
    "isnet-anime": "isnet-anime.onnx",
    "birefnet-general": "birefnet-general.onnx",
    "birefnet-general-lite": "birefnet-general-lite.onnx",
    "birefnet-portrait": "birefnet-portrait.onnx",
    "birefnet-dis": "birefnet-dis.onnx",
    "birefnet-hrsod": "birefnet-hrsod.onnx",
    "birefnet-cod": "birefnet-cod.onnx",
    "birefnet-massive": "birefnet-massive.onnx",
}
SERVICE_URLS = {
    "photoroom": "https://sdk.photoroom.com/v1/segment",
    "removebg": "https://api.remove.bg/v1.0/removebg",
}


class BackgroundError(PipelineError):
    pass


def available_models() -> list[dict[str, object]]:
    """Every model rembg supports that Kroma can load, and whether its file is here."""
    rows = []
    for name, filename in MODEL_FILES.items():
        try:
            path = str(find_model(filename))
        except ModelMissingError:
            path = None
        rows.append({"model": name, "file": filename, "present": path is not None, "path": path})
    return rows


def session_for(model: str) -> object:
    """The rembg session for `model`, created once per process from the local model file."""
    if model not in MODEL_FILES:
        raise BackgroundError(
            f"Unknown background model {model!r}; choose one of {', '.join(MODEL_FILES)}."
        )
    return model_session("bg_remove", model)


def session_count() -> int:
    return len(loaded_sessions("bg_remove"))


def _new_session(model: str) -> object:
    try:
        path = find_model(MODEL_FILES[model])
    except ModelMissingError as exc:
        raise BackgroundError(str(exc)) from None
    os.environ["U2NET_HOME"] = str(path.parent)  # rembg finds the file there, no download
    try:
        from rembg import new_session
    except SystemExit:  # rembg exits when onnxruntime is missing
        raise BackgroundError("rembg cannot start: onnxruntime is not installed.") from None
    return new_session(model)


def _preload(config: dict) -> None:
    params = config["bg_remove"]
    if params["backend"] == "rembg":
        session_for(params["model"])


register_kind("bg_remove", SessionKind("background-removal", _new_session, _preload))


def remove_with_rembg(data: bytes, *, model: str, alpha_matting: bool) -> bytes:
    """The original pixels (any depth, gray or colour) with rembg's mask as their alpha.

    rembg sees an 8-bit RGB preview; its mask becomes the alpha of the untouched original, so
    16-bit and gray inputs keep their depth and mode family (gray -> gray+alpha). Existing
    transparency is kept where it is more transparent than the mask.
    """
    session = session_for(model)  # first: importing rembg is part of the wait it reports
    from rembg import remove

    pixels = decode(data, "the input")
    floats = pixels.to_float()
    colour = floats[..., :-1] if pixels.has_alpha else floats
    rgb = np.repeat(colour, 3, axis=2) if colour.shape[2] == 1 else colour
    preview = Image.fromarray(np.rint(rgb * 255).astype(np.uint8), "RGB")
    cutout = remove(preview, session=session, alpha_matting=alpha_matting)
    alpha = np.asarray(cutout.getchannel("A"), dtype=np.float32)[..., None] / 255.0
    if pixels.has_alpha:
        alpha = np.minimum(alpha, floats[..., -1:])
    return encode(pixels.with_float(np.concatenate([colour, alpha], axis=2)))


@dataclass(frozen=True)
class ServiceCall:
    service: str
    api_key: str
    base_url: str | None = None
    timeout_s: float = 60.0


def _multipart(fields: dict[str, str], file_field: str, data: bytes) -> tuple[bytes, str]:
    boundary = f"kroma-{uuid.uuid4().hex}"
    parts = []
    for name, value in fields.items():
        disposition = f'Content-Disposition: form-data; name="{name}"'
        parts.append(f"--{boundary}\r\n{disposition}\r\n\r\n{value}\r\n".encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
        f'filename="image.png"\r\nContent-Type: image/png\r\n\r\n'.encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def remove_with_service(data: bytes, call: ServiceCall) -> bytes:
    """PhotoRoom or remove.bg: POST the image, get a transparent PNG back."""
    url = call.base_url or SERVICE_URLS[call.service]
    fields = {"size": "auto"} if call.service == "removebg" else {}
    header = "X-Api-Key" if call.service == "removebg" else "x-api-key"
    body, content_type = _multipart(fields, "image_file", data)
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={header: call.api_key, "Content-Type": content_type, "Accept": "image/png"},
    )
    label = {"photoroom": "PhotoRoom", "removebg": "remove.bg"}[call.service]
    try:
        with urllib.request.urlopen(request, timeout=call.timeout_s) as response:
            result = response.read()
    except urllib.error.HTTPError as exc:
        detail = _error_detail(exc.read())
        hint = " Check the project secret." if exc.code in (401, 403) else ""
        raise BackgroundError(f"{label} refused the image ({exc.code}): {detail}.{hint}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BackgroundError(f"{label} could not be reached: {reason}") from None
    try:
        with Image.open(io.BytesIO(result)) as image:
            image.load()
            if "A" not in image.getbands():
                raise BackgroundError(f"{label} answered with an image without transparency.")
    except BackgroundError:
        raise
    except Exception:
        raise BackgroundError(f"{label} answered with something that is not an image.") from None
    return result


def _error_detail(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body[:200].decode(errors="replace") or "no detail"
    errors = data.get("errors") if isinstance(data, dict) else None
    if isinstance(errors, list) and errors:
        return str(errors[0].get("title", errors[0]))
    if isinstance(data, dict):
        return str(data.get("detail") or data.get("message") or data.get("error") or data)
    return str(data)
