"""Validate image bytes by their content and re-encode them; never trust a file name.

An image is accepted only if Pillow recognises it as PNG, JPEG, WebP or TIFF, its pixel count is
under the cap (checked from the header, before any decoding), and it decodes completely. The
content decides the format: a JPEG named `.png` is stored as the JPEG it is, with a note saying
so; a TIFF is stored as a lossless PNG (browsers do not show TIFF). It is then re-encoded, which
drops anything that is not the picture (trailing bytes, most metadata) and applies the EXIF
orientation.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import PurePath

from PIL import Image, ImageOps, UnidentifiedImageError

from kroma.lib.errors import UserError

ALLOWED_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
EXTENSION_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
READABLE_FORMATS = {*ALLOWED_FORMATS, "TIFF"}
STORED_AS = {"TIFF": "PNG"}  # formats accepted but kept as another (lossless) one
# Our cap is checked from the header right after opening, so Pillow's bomb warning is silenced;
# its hard refusal (above twice Image.MAX_IMAGE_PIXELS, ~179 MP) still applies to any cap.


class ImageRejectedError(UserError, ValueError):
    """The bytes are not an image Kroma accepts; the message says why, for the user."""

    code = "image_rejected"


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    format: str
    mime: str
    extension: str
    width: int
    height: int
    mode: str
    notes: tuple[str, ...] = ()

    @cached_property
    def sha256(self) -> str:
        """Hashed once, while preparing: never inside a database transaction."""
        return hashlib.sha256(self.data).hexdigest()


def _open_checked(data: bytes, name: str, max_pixels: int) -> Image.Image:
    label = name or "the upload"
    if not data:
        raise ImageRejectedError(f"{label} is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(label, declared_pixels(str(exc)), max_pixels) from None
    except UnidentifiedImageError:
        raise ImageRejectedError(
            f"{label} is not an image Kroma can read (PNG, JPEG, WebP or TIFF expected)."
        ) from None
    if image.format not in READABLE_FORMATS:
        raise ImageRejectedError(
            f"{label} is a {image.format} image; only PNG, JPEG, WebP and TIFF are accepted."
        )
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageRejectedError(f"{label} has no pixels ({width}x{height}).")
    if width * height > max_pixels:
        raise _too_many_pixels(label, width * height, max_pixels, f" ({width}x{height})")
    return image


def declared_pixels(pillow_message: str) -> int | None:
    match = re.search(r"\((\d+) pixels\)", pillow_message)
    return int(match.group(1)) if match else None


def _too_many_pixels(
    label: str, pixels: int | None, max_pixels: int, dims: str = ""
) -> ImageRejectedError:
    size = f"{pixels / 1e6:.1f} megapixels{dims}" if pixels else "too many pixels"
    return ImageRejectedError(
        f"{label} is {size}; the limit is {max_pixels / 1e6:.1f} megapixels "
        f"(KROMA_MAX_IMAGE_PIXELS). Nothing was stored."
    )


def clean_image(data: bytes, *, name: str = "", max_pixels: int) -> CleanImage:
    """Decode `data` fully and re-encode it; raise ImageRejectedError with a clear reason.

    The content decides the format; `notes` say where it differs from what the name claims.
    """
    image = _open_checked(data, name, max_pixels)
    found = image.format
    assert found is not None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
            image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageRejectedError(
            f"{name or 'the upload'} is damaged or truncated and cannot be decoded ({exc})."
        ) from None
    fmt = STORED_AS.get(found, found)
    notes = _format_notes(name, found, fmt)
    if fmt == "PNG" and found == "PNG" and len(data) > 24 and data[24] == 16:
        # Pillow would reduce 16-bit colour to 8 bits: keep the decoded-and-checked original.
        return CleanImage(
            data,
            fmt,
            ALLOWED_FORMATS[fmt],
            EXTENSIONS[fmt],
            image.width,
            image.height,
            image.mode,
            notes,
        )
    if fmt == "PNG" and image.mode not in PNG_MODES:
        image = png_ready(image)
    cleaned = encode_image(image, fmt)
    return replace(cleaned, notes=notes) if notes else cleaned


PNG_MODES = {"1", "L", "LA", "I;16", "P", "RGB", "RGBA"}  # the modes Pillow writes as PNG
ALPHA_MODES = {"LA", "La", "PA", "RGBA", "RGBa"}


def png_ready(image: Image.Image) -> Image.Image:
    """`image` in a mode PNG can hold, losing as little as it can.

    Integer and float grey (32-bit I, F, I;16B ...) become 16-bit grey: I values already in
    0..65535 are kept as they are, others and floats are scaled from their range (floats in
    0..1, the usual convention, from 0..1) so that a float TIFF does not come out black. Colour
    spaces such as LAB, CMYK or YCbCr become RGB (LAB's "A" band is no alpha), and RGB with
    alpha when the image has transparency.
    """
    if image.mode in ("I", "F") or image.mode.startswith("I;"):
        return _grey16(image)
    alpha = image.mode in ALPHA_MODES or (
        image.mode not in ("LAB", "CMYK", "YCbCr", "HSV") and "transparency" in image.info
    )
    return image.convert("RGBA" if alpha else "RGB")


def _grey16(image: Image.Image) -> Image.Image:
    import numpy as np

    values = np.asarray(image).astype(np.float64)
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if image.mode == "F" and low >= 0 and high <= 1:
        low, high = 0.0, 1.0
    elif image.mode != "F" and low >= 0 and high <= 65535:
        low, high = 0.0, 65535.0
    scale = 65535.0 / (high - low) if high > low else 0.0
    grey = np.clip(np.rint((values - low) * scale), 0, 65535).astype(np.uint16)
    out = Image.fromarray(grey)
    out.info.update({k: v for k, v in image.info.items() if k == "icc_profile"})
    return out


def _format_notes(name: str, found: str, stored: str) -> tuple[str, ...]:
    notes = []
    suffix = PurePath(name).suffix.lower() if name else ""
    claimed = EXTENSION_FORMATS.get(suffix)
    if suffix and claimed != found:
        notes.append(
            f"{name} is a {found} image although its name ends in {suffix}; "
            f"it is stored as {stored}."
        )
    if stored != found:
        notes.append(f"{name or 'The upload'} was converted from {found} to lossless {stored}.")
    return tuple(notes)


def encode_image(image: Image.Image, fmt: str) -> CleanImage:
    out = io.BytesIO()
    icc = image.info.get("icc_profile")
    extra = {"icc_profile": icc} if icc else {}
    if fmt == "JPEG":
        if image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=95, subsampling=0, **extra)
    elif fmt == "WEBP":
        image.save(out, "WEBP", lossless=True, **extra)
    else:
        image.save(out, "PNG", **extra)
    return CleanImage(
        data=out.getvalue(),
        format=fmt,
        mime=ALLOWED_FORMATS[fmt],
        extension=EXTENSIONS[fmt],
        width=image.width,
        height=image.height,
        mode=image.mode,
    )
