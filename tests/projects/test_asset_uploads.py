"""Upload rules for every upload in the app: the content decides the format, TIFF is accepted,
the pixel cap is a setting, decompression bombs are refused cleanly, a batch keeps good files."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from kroma.lib.images import ImageRejectedError
from projects.models import Asset, AuditEvent
from projects.services.assets import read_asset_bytes, store_image, upload_images

pytestmark = pytest.mark.django_db


def _files_under(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _encoded(fmt: str, size=(40, 30), mode="RGB", **options) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "red" if mode != "I;16" else 1000).save(out, fmt, **options)
    return out.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height gray pixels and holds almost none (a bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1))  # one row: enough to be a PNG, never decoded
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_a_jpeg_named_png_is_stored_as_jpeg_with_a_note(project):
    asset = store_image(project=project, data=_encoded("JPEG"), kind="upload", name="scan.png")
    assert (asset.mime, asset.path.rsplit(".", 1)[1]) == ("image/jpeg", "jpg")
    assert asset.metadata["notes"] == [
        "scan.png is a JPEG image although its name ends in .png; it is stored as JPEG."
    ]
    assert Image.open(io.BytesIO(read_asset_bytes(asset))).format == "JPEG"


def test_a_png_named_right_has_no_note(project):
    asset = store_image(project=project, data=_encoded("PNG"), kind="upload", name="ok.png")
    assert "notes" not in asset.metadata


@pytest.mark.parametrize(
    ("mode", "options"),
    [("RGB", {}), ("RGB", {"compression": "tiff_lzw"}), ("CMYK", {}), ("I;16", {})],
)
def test_tiff_is_accepted_and_stored_as_lossless_png(project, mode, options):
    data = _encoded("TIFF", mode=mode, **options)
    asset = store_image(project=project, data=data, kind="upload", name="page.tif")
    assert (asset.mime, asset.width, asset.height) == ("image/png", 40, 30)
    stored = Image.open(io.BytesIO(read_asset_bytes(asset)))
    assert stored.format == "PNG" and stored.size == (40, 30)
    assert asset.metadata["notes"] == ["page.tif was converted from TIFF to lossless PNG."]


def _png_of_zeros(width: int, height: int) -> bytes:
    """A real, fully decodable gray PNG of width x height (a few hundred KB compressed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress((b"\x00" * (width + 1)) * height, 1)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_the_default_cap_admits_a_600_dpi_11x17_page(project):
    page = store_image(
        project=project, data=_png_of_zeros(6600, 10200), kind="upload", name="page.png"
    )
    assert (page.width, page.height) == (6600, 10200)


def test_the_pixel_cap_is_the_setting(project, settings):
    data = _encoded("PNG", size=(200, 100))
    settings.MAX_IMAGE_PIXELS = 19_999
    with pytest.raises(ImageRejectedError, match=r"20\.0 megapixels|0\.0 megapixels"):
        store_image(project=project, data=data, kind="upload", name="wide.png")
    settings.MAX_IMAGE_PIXELS = 20_000
    assert store_image(project=project, data=data, kind="upload", name="wide.png").width == 200


@pytest.mark.parametrize("pixels", [(12_000, 12_000), (30_000, 30_000)])
def test_a_decompression_bomb_is_refused_cleanly_and_nothing_is_stored(project, settings, pixels):
    data = _png_header(*pixels)
    with pytest.raises(ImageRejectedError) as excinfo:
        store_image(project=project, data=data, kind="upload", name="bomb.png")
    message = str(excinfo.value)
    assert message.startswith("bomb.png is ") and "the limit is 80.0 megapixels" in message
    assert "Nothing was stored." in message
    assert Asset.objects.count() == 0 and _files_under(settings.PROJECTS_ROOT) == []


def test_a_mixed_batch_keeps_the_good_files_and_reports_each_bad_one(project, user, settings):
    files = [
        ("one.png", _encoded("PNG")),
        ("bomb.png", _png_header(12_000, 12_000)),
        ("two.jpg", _encoded("JPEG", size=(20, 20))),
        ("notes.txt", b"hello"),
        ("three.tiff", _encoded("TIFF", size=(10, 10))),
    ]
    result = upload_images(project=project, user=user, files=files)
    assert [a.metadata["original_name"] for a in result.stored] == [
        "one.png",
        "two.jpg",
        "three.tiff",
    ]
    assert [e.split(" ", 1)[0] for e in result.errors] == ["bomb.png", "notes.txt"]
    assert result.notes == ["three.tiff was converted from TIFF to lossless PNG."]
    assert Asset.objects.filter(project=project, kind="upload").count() == 3
    event = AuditEvent.objects.get(action="asset.upload")
    assert event.data["assets"] == [a.pk for a in result.stored]


def test_a_file_over_the_byte_limit_is_refused_before_decoding(project, user, settings):
    settings.MAX_UPLOAD_BYTES = 20
    result = upload_images(project=project, user=user, files=[("big.png", _encoded("PNG"))])
    assert result.stored == [] and result.errors == [
        "big.png: larger than 0 MB. Nothing was stored."
    ]
