from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from kroma.lib.images import ImageRejectedError, clean_image
from projects.models import Asset
from projects.services.assets import read_asset_bytes, store_image


def _files_under(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _png_bomb(width: int, height: int) -> bytes:
    """A valid grayscale PNG of width x height zeros, compressed to a few hundred KB."""
    row = b"\x00" + b"\x00" * width
    raw = zlib.compress(row * height, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


@pytest.mark.django_db
def test_store_image_valid_png_is_stored_with_metadata(project, make_png, settings):
    data = make_png(80, 60)
    asset = store_image(project=project, data=data, kind=Asset.Kind.UPLOAD, name="scene.png")
    assert (asset.width, asset.height, asset.mime) == (80, 60, "image/png")
    assert asset.path == f"assets/upload/{asset.sha256[:2]}/{asset.sha256}.png"
    assert (settings.PROJECTS_ROOT / project.slug / asset.path).is_file()
    assert Image.open(io.BytesIO(read_asset_bytes(asset))).size == (80, 60)


@pytest.mark.django_db
def test_store_image_same_content_twice_returns_same_asset(project, make_png):
    data = make_png()
    first = store_image(project=project, data=data, kind=Asset.Kind.UPLOAD, name="a.png")
    second = store_image(project=project, data=data, kind=Asset.Kind.UPLOAD, name="b.png")
    assert first.pk == second.pk
    assert Asset.objects.filter(project=project).count() == 1


@pytest.mark.django_db
def test_store_image_jpeg_and_webp_accepted(project, make_png):
    jpeg = store_image(project=project, data=make_png(fmt="JPEG"), kind="upload", name="x.jpeg")
    webp = store_image(project=project, data=make_png(fmt="WEBP"), kind="upload", name="y.webp")
    assert (jpeg.mime, webp.mime) == ("image/jpeg", "image/webp")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        ("notes.png", "text", "is not an image Kroma can read"),
        ("bomb.png", "bomb", "100.0 megapixels (10000x10000); the limit is 80.0 megapixels"),
        ("cut.png", "truncated", "is damaged or truncated"),
        ("anim.gif", "gif", "only PNG, JPEG, WebP and TIFF are accepted"),
        ("empty.png", "empty", "is empty"),
    ],
)
def test_store_image_rejects_bad_input_and_writes_nothing(
    project, make_png, settings, name, payload, message
):
    data = {
        "text": lambda: b"just some notes, certainly not a picture\n" * 10,
        "bomb": lambda: _png_bomb(10_000, 10_000),
        "truncated": lambda: make_png(400, 400)[:600],
        "gif": lambda: _gif(),
        "empty": lambda: b"",
    }[payload]()
    with pytest.raises(ImageRejectedError) as excinfo:
        store_image(project=project, data=data, kind=Asset.Kind.UPLOAD, name=name)
    assert message in str(excinfo.value)
    assert name in str(excinfo.value)
    assert Asset.objects.count() == 0
    assert _files_under(settings.PROJECTS_ROOT) == []


def _gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (8, 8)).save(out, "GIF")
    return out.getvalue()


def test_clean_image_applies_exif_orientation(make_png):
    image = Image.new("RGB", (40, 20), "red")
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    cleaned = clean_image(out.getvalue(), name="rotated.jpg", max_pixels=10_000)
    assert (cleaned.width, cleaned.height) == (20, 40)


def test_clean_image_drops_trailing_bytes(make_png):
    data = make_png() + b"<script>alert(1)</script>"
    cleaned = clean_image(data, name="x.png", max_pixels=10_000)
    assert b"<script>" not in cleaned.data
