"""Decoding and encoding images for post-processing, keeping mode family and bit depth.

Images travel between steps as integer arrays in their own depth (uint8 or uint16), HxWxC with
C = 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA); a step converts to float where it must.
8-bit images go through Pillow (ICC profile kept); 16-bit PNGs through OpenCV, because Pillow
reduces 16-bit RGB(A) to 8 bits.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
import zlib
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from PIL import Image, UnidentifiedImageError

from kroma.lib.images import declared_pixels
from pipeline.errors import PipelineError


class ImageInputError(PipelineError):
    """The input is not an image post-processing can read; the message says why."""


@dataclass
class Pixels:
    array: np.ndarray  # uint8 or uint16, HxWxC
    icc_profile: bytes | None = None
    extra: dict = field(default_factory=dict)

    @property
    def bit_depth(self) -> int:
        return 16 if self.array.dtype == np.uint16 else 8

    @property
    def max_value(self) -> float:
        return 65535.0 if self.bit_depth == 16 else 255.0

    def to_float(self) -> np.ndarray:
        return self.array.astype(np.float32) / np.float32(self.max_value)

    def with_float(self, array: np.ndarray) -> Pixels:
        """New Pixels of the same depth from a float array in 0..1."""
        scaled = np.rint(np.clip(array, 0.0, 1.0) * self.max_value)
        return Pixels(scaled.astype(self.array.dtype), self.icc_profile, dict(self.extra))

    @property
    def channels(self) -> int:
        return self.array.shape[2]

    @property
    def has_alpha(self) -> bool:
        return self.channels in (2, 4)

    @property
    def size(self) -> tuple[int, int]:
        return self.array.shape[1], self.array.shape[0]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _png_bit_depth(data: bytes) -> int | None:
    if len(data) >= 25 and data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return data[24]
    return None


def _check_size(width: int, height: int, name: str) -> None:
    """Inputs of post-processing are uploads or earlier steps' outputs (up to the output cap)."""
    if width < 2 or height < 2:
        raise ImageInputError(f"{name} is {width}x{height}; images need at least 2x2 pixels.")
    if width * height > settings.MAX_OUTPUT_PIXELS:
        raise ImageInputError(
            f"{name} is {width}x{height} = {width * height / 1e6:.1f} megapixels; the limit is "
            f"{settings.MAX_OUTPUT_PIXELS / 1e6:.1f} (KROMA_MAX_OUTPUT_PIXELS)."
        )


def decode(data: bytes, name: str = "the image") -> Pixels:
    """Bytes -> Pixels, refusing non-images, truncated files and oversized images clearly."""
    if not data:
        raise ImageInputError(f"{name} is empty.")
    if _png_bit_depth(data) == 16:
        return _decode_16bit(data, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            _check_size(*image.size, name)
            image.load()
    except ImageInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        pixels = declared_pixels(str(exc))
        size = f"{pixels / 1e6:.1f} megapixels" if pixels else "too many pixels"
        raise ImageInputError(
            f"{name} is {size}; the limit is {settings.MAX_OUTPUT_PIXELS / 1e6:.1f} "
            "(KROMA_MAX_OUTPUT_PIXELS)."
        ) from None
    except UnidentifiedImageError:
        raise ImageInputError(f"{name} is not an image Kroma can read.") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageInputError(f"{name} is damaged or truncated ({exc}).") from None
    # A CMYK (or other non-RGB) profile would lie about the RGB pixels we produce: drop it.
    icc = image.info.get("icc_profile") if image.mode not in ("CMYK", "YCbCr", "LAB") else None
    if image.mode in ("I;16", "I;16B", "I"):
        array = np.clip(np.asarray(image, dtype=np.int64), 0, 65535).astype(np.uint16)
        return Pixels(array[..., None], icc)
    target = {"1": "L", "L": "L", "LA": "LA", "P": "RGBA", "PA": "RGBA", "RGB": "RGB"}.get(
        image.mode, "RGBA" if "A" in image.getbands() else "RGB"
    )
    if image.mode == "P" and "transparency" not in image.info:
        target = "RGB"
    array = np.asarray(image.convert(target), dtype=np.uint8)
    if array.ndim == 2:
        array = array[..., None]
    return Pixels(np.ascontiguousarray(array), icc)


def _decode_16bit(data: bytes, name: str) -> Pixels:
    import cv2

    width, height = struct.unpack(">II", data[16:24])
    _check_size(width, height, name)
    raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ImageInputError(f"{name} is a damaged or truncated 16-bit PNG.")
    gray_alpha = data[25] == 4  # PNG colour type 4; OpenCV expands it to BGRA
    if raw.ndim == 2:
        raw = raw[..., None]
    elif gray_alpha and raw.shape[2] == 4:
        raw = raw[..., [0, 3]]
    elif raw.shape[2] == 3:
        raw = raw[..., ::-1]  # OpenCV is BGR
    elif raw.shape[2] == 4:
        raw = raw[..., [2, 1, 0, 3]]
    return Pixels(np.ascontiguousarray(raw))


def encode(pixels: Pixels) -> bytes:
    """Pixels -> PNG bytes in the same mode family and bit depth."""
    array = pixels.array
    if pixels.bit_depth == 16 and pixels.channels == 2:
        return _png_gray_alpha_16(array)
    if pixels.bit_depth == 16 and pixels.channels != 1:
        import cv2

        raw = array
        if raw.shape[2] == 3:
            raw = raw[..., ::-1]
        elif raw.shape[2] == 4:
            raw = raw[..., [2, 1, 0, 3]]
        ok, buffer = cv2.imencode(".png", np.ascontiguousarray(raw))
        assert ok
        return buffer.tobytes()
    if pixels.bit_depth == 16:
        image = Image.fromarray(np.ascontiguousarray(array[..., 0]))  # uint16 -> "I;16"
    else:
        mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[pixels.channels]
        image = Image.fromarray(array[..., 0] if mode == "L" else array, mode)
    out = io.BytesIO()
    extra = {"icc_profile": pixels.icc_profile} if pixels.icc_profile else {}
    image.save(out, "PNG", **extra)
    return out.getvalue()


def resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Lanczos resize of a float HxWxC array, channel by channel (Pillow 'F' mode)."""
    channels = [
        np.asarray(Image.fromarray(array[..., c], "F").resize(size, Image.Resampling.LANCZOS))
        for c in range(array.shape[2])
    ]
    return np.clip(np.stack(channels, axis=2), 0.0, 1.0)


def _png_gray_alpha_16(array: np.ndarray) -> bytes:
    """16-bit gray+alpha PNG (colour type 4), which neither Pillow nor OpenCV writes."""
    height, width = array.shape[:2]
    rows = np.ascontiguousarray(array.astype(">u2")).reshape(height, width * 2)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows.view(np.uint8)], axis=1)

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 16, 4, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )
