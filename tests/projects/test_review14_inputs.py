"""Fixes from the review of issue 14 on the projects side: ids from input are parsed once
(1 <= id < 2**63, a clear 400 otherwise), the last date there is as a filter, odd TIFF modes, a
rating cleared with "0", and uploads checked for size before they are read."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from kroma.lib.errors import UserError
from kroma.lib.ids import MAX_ID, parse_id, parse_ids
from projects.models import Asset, AuditEvent
from projects.services.assets import read_asset_bytes, store_image, upload_images
from projects.services.ratings import rate_assets
from projects.storage import local_root

pytestmark = pytest.mark.django_db
HUGE = "99999999999999999999"


def _url(project, name="asset_list") -> str:
    return reverse(f"projects:{name}", args=[project.slug])


def _tiff(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "TIFF")
    return out.getvalue()


def _stored(project, data: bytes) -> Image.Image:
    asset = store_image(project=project, data=data, kind="upload", name="scan.tif")
    return Image.open(io.BytesIO(read_asset_bytes(asset)))


# --- ids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12", 12), (7, 7), (" 3 ", 3), (MAX_ID, MAX_ID), (str(MAX_ID), MAX_ID)],
)
def test_parse_id_takes_positive_64_bit_ids(value, expected):
    assert parse_id(value) == expected


@pytest.mark.parametrize(
    "value", ["", "0", "-1", "1.5", "abc", HUGE, str(MAX_ID + 1), 0, -4, True, None, 2.0, "١٢"]
)
def test_parse_id_refuses_anything_else(value):
    assert parse_id(value) is None


def test_parse_ids_keeps_order_drops_repeats_and_names_the_bad_one():
    assert parse_ids(["3", 1, "3"], field="pages") == [3, 1]
    with pytest.raises(UserError) as refused:
        parse_ids(["1", HUGE], field="pages", what="pages")
    assert refused.value.field == "pages" and HUGE in refused.value.message


def test_bulk_action_with_a_huge_id_is_a_400_not_a_500(artist_client, project, make_png):
    asset = store_image(project=project, data=make_png(8, 8), kind="upload", name="a.png")
    response = artist_client.post(
        _url(project, "asset_bulk"),
        {"action": "rate", "assets": [HUGE], "rate_choice": "3"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    assert HUGE in response.content.decode()
    asset.refresh_from_db()
    assert asset.rating is None


def test_rate_assets_with_a_huge_id_is_a_user_error(project, user):
    with pytest.raises(UserError) as refused:
        rate_assets(project=project, user=user, asset_ids=[HUGE], rating=3)
    assert refused.value.field == "assets"
    with pytest.raises(UserError):
        rate_assets(project=project, user=user, asset_ids=[2**64], rating=3)


# --- dates --------------------------------------------------------------------------------------


def test_the_last_date_there_is_as_until_filter_shows_everything(artist_client, project, make_png):
    store_image(project=project, data=make_png(8, 8), kind="upload", name="a.png")
    response = artist_client.get(_url(project), {"until": "9999-12-31"})
    assert response.status_code == 200
    assert response.content.decode().count('name="assets" value="') == 1
    partial = artist_client.get(
        _url(project), {"until": "9999-12-31", "since": "9999-12-31"}, HTTP_HX_REQUEST="true"
    )
    assert partial.status_code == 200
    assert partial.content.decode().count('name="assets" value="') == 0


# --- TIFF modes ---------------------------------------------------------------------------------


def test_a_32_bit_integer_tiff_is_stored_as_16_bit_grey(project):
    values = (np.arange(64 * 32, dtype=np.int32).reshape(32, 64) - 1000) * 70_000
    image = _stored(project, _tiff(Image.fromarray(values)))
    assert (image.format, image.mode, image.size) == ("PNG", "I;16", (64, 32))
    assert image.getextrema() == (0, 65535)  # scaled from its range, order kept
    pixels = np.asarray(image)
    assert pixels[0, 0] == 0 and pixels[-1, -1] == 65535 and (np.diff(pixels.ravel()) >= 0).all()


def test_an_integer_tiff_in_16_bit_range_keeps_its_values(project):
    values = np.full((8, 8), 1234, dtype=np.int32)
    image = _stored(project, _tiff(Image.fromarray(values)))
    assert image.mode == "I;16" and image.getextrema() == (1234, 1234)


def test_a_float_tiff_in_0_to_1_is_scaled_not_black(project):
    values = np.linspace(0, 1, 16 * 16, dtype=np.float32).reshape(16, 16)
    image = _stored(project, _tiff(Image.fromarray(values)))
    assert image.mode == "I;16"
    assert image.getextrema() == (0, 65535)
    assert abs(int(np.asarray(image)[8, 0]) - 32896) < 300  # the middle stays mid-grey


def test_a_lab_tiff_becomes_rgb_without_alpha(project):
    lab = Image.new("RGB", (10, 10), (200, 10, 10)).convert("LAB")
    image = _stored(project, _tiff(lab))
    assert image.mode == "RGB"
    red, green, blue = image.getpixel((5, 5))
    assert red > 150 and green < 60 and blue < 60


def test_an_image_that_cannot_be_stored_is_a_per_file_error(artist_client, project, make_png):
    """Any OSError while storing (here the uploads folder is a file) names the file: no 500."""
    root = local_root(project) / "assets"
    root.mkdir(parents=True, exist_ok=True)
    (root / "upload").write_bytes(b"in the way")
    response = artist_client.post(
        reverse("projects:asset_upload", args=[project.slug]),
        {"images": [SimpleUploadedFile("one.png", make_png(8, 8))]},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error.startswith("one.png: this image cannot be stored (")
    assert not Asset.objects.exists()


# --- ratings ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cleared", ["0", 0, "", None])
def test_a_rating_is_cleared_with_0_as_a_form_sends_it(project, user, make_png, cleared):
    asset = store_image(project=project, data=make_png(8, 8), kind="upload", name="a.png")
    rate_assets(project=project, user=user, asset_ids=[asset.pk], rating="4")
    result = rate_assets(project=project, user=user, asset_ids=[asset.pk], rating=cleared)
    asset.refresh_from_db()
    assert result.rating is None and asset.rating is None
    assert (
        AuditEvent.objects.filter(action="asset.rate").order_by("pk").last().data["rating"] is None
    )


@pytest.mark.parametrize("bad", ["6", "-1", "x", 9])
def test_a_rating_outside_1_to_5_is_refused(project, user, make_png, bad):
    asset = store_image(project=project, data=make_png(8, 8), kind="upload", name="a.png")
    with pytest.raises(UserError) as refused:
        rate_assets(project=project, user=user, asset_ids=[asset.pk], rating=bad)
    assert refused.value.field == "rating"


# --- upload size before reading -----------------------------------------------------------------


def test_an_upload_over_the_limit_is_refused_without_being_read(project, user, settings, make_png):
    settings.MAX_UPLOAD_BYTES = 1000
    big = SimpleUploadedFile("big.png", b"\0" * 5000, content_type="image/png")
    small = SimpleUploadedFile("small.png", make_png(8, 8), content_type="image/png")
    result = upload_images(
        project=project, user=user, files=[("big.png", big), ("small.png", small)]
    )
    assert result.errors == ["big.png: larger than 0 MB. Nothing was stored."]
    assert big.file.tell() == 0  # never read
    assert [a.metadata["original_name"] for a in result.stored] == ["small.png"]
    assert Asset.objects.filter(project=project).count() == 1
