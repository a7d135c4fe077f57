"""Exports: requested with checked options, made through the work engine, read back."""

from __future__ import annotations

import io
import json
import zipfile
from xml.etree import ElementTree as ET

import pytest
from PIL import Image
from pypdf import PdfReader

from kroma.lib.errors import UserError
from pipeline.models import StepRun
from pipeline.models.work import EXPORT_JOB
from pipeline.services import exports
from pipeline.work import EXPORT_JOBS, WORK_TYPES
from projects.models import AuditEvent, Page, ProjectExport
from projects.services.story import add_page
from projects.storage import read_file

pytestmark = pytest.mark.django_db


def _made(project, user, kind, **options):
    export = exports.request_export(project=project, user=user, kind=kind, options=options)
    done = exports.run_export(export.pk)
    assert done.status == "done", done.error
    return done, read_file(project, done.path)


def test_the_export_work_type_is_registered():
    assert WORK_TYPES[EXPORT_JOB] is EXPORT_JOBS
    assert EXPORT_JOBS.model is ProjectExport


def test_request_export_queues_one_row_and_one_audit_event(
    scene_project, user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        export = exports.request_export(project=scene_project, user=user, kind="pdf")
    assert len(callbacks) == 1  # the worker task is queued after commit
    assert export.status == "queued" and export.requested_by == user
    assert export.options["settings"]["dpi"] == 300
    assert export.options["settings"]["bleed_mm"] == 3.0
    event = AuditEvent.objects.get(project=scene_project, action="export.request")
    assert event.data["kind"] == "pdf"


@pytest.mark.parametrize(
    ("kind", "options", "field"),
    [
        ("tiff", {}, "kind"),
        ("pdf", {"dpi": 9999}, "dpi"),
        ("pdf", {"dpi": "high"}, "dpi"),
        ("pdf", {"page_size": "tabloid", "dpi": 600}, "dpi"),
        ("pdf", {"page_size": "napkin"}, "page_size"),
        ("pdf", {"pages": [999999]}, "pages"),
        ("pdf", {"pages": []}, "pages"),
        ("pdf", {"pages": ["one"]}, "pages"),
        ("pdf", {"colour": "red"}, "colour"),
        ("cbz", {"assets": [1]}, "assets"),
        ("zip", {"assets": [999999]}, "assets"),
        ("zip", {"dpi": 300}, "dpi"),
    ],
)
def test_bad_input_is_refused_and_creates_nothing(scene_project, user, kind, options, field):
    with pytest.raises(UserError) as caught:
        exports.request_export(project=scene_project, user=user, kind=kind, options=options)
    assert caught.value.field == field
    assert not ProjectExport.objects.exists()
    assert not AuditEvent.objects.filter(action="export.request").exists()


def test_another_projects_page_is_unknown(scene_project, other_project, user):
    page = Page.objects.get(project=scene_project)
    with pytest.raises(UserError) as caught:
        exports.request_export(
            project=other_project, user=user, kind="pdf", options={"pages": [page.pk]}
        )
    assert caught.value.code == "not_found"


def test_an_empty_story_has_nothing_to_export(project, user):
    for kind in ("zip", "cbz", "pdf"):
        with pytest.raises(UserError, match="Nothing to export"):
            exports.request_export(project=project, user=user, kind=kind)


def test_a_pdf_has_a_page_per_story_page_at_trim_plus_bleed(scene_project, user):
    chapter = Page.objects.get(project=scene_project).chapter
    add_page(project=scene_project, actor=user, chapter=chapter)  # an empty second page
    export, data = _made(scene_project, user, "pdf", page_size="a4", dpi=72, bleed_mm=3)
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 2
    assert reader.metadata.title == scene_project.name  # not the temporary file's name
    box = reader.pages[0].mediabox
    assert float(box.width) == pytest.approx(216 / 25.4 * 72, abs=1)
    assert float(box.height) == pytest.approx(303 / 25.4 * 72, abs=1)
    assert export.progress == {"done": 2, "total": 2, "what": "saving"}
    assert export.size_bytes == len(data)
    assert export.file_name == f"noir_city_pages_{export.created_at:%Y%m%d-%H%M}_{export.pk}.pdf"
    assert [p["number"] for p in export.manifest["pages"]] == [1, 2]
    step = StepRun.objects.get(item_type=EXPORT_JOB, item_id=str(export.pk))
    assert (step.step, step.status) == ("build", "done")


def test_a_cbz_holds_the_pages_in_order_and_comic_info(scene_project, user):
    chapter = Page.objects.get(project=scene_project).chapter
    add_page(project=scene_project, actor=user, chapter=chapter)
    export, data = _made(scene_project, user, "cbz", dpi=72)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.namelist() == ["page-001.jpg", "page-002.jpg", "ComicInfo.xml"]
    info = ET.fromstring(archive.read("ComicInfo.xml"))
    assert info.findtext("Title") == "Noir City"
    assert info.findtext("Series") == "Noir City"
    assert info.findtext("PageCount") == "2"
    pages = info.find("Pages").findall("Page")
    assert [p.get("Image") for p in pages] == ["0", "1"]
    with Image.open(io.BytesIO(archive.read("page-001.jpg"))) as first:
        assert (int(pages[0].get("ImageWidth")), int(pages[0].get("ImageHeight"))) == first.size
    assert export.file_name.endswith(".cbz")


def test_a_cbz_is_150_dpi_without_bleed_unless_told(scene_project, user):
    export = exports.request_export(project=scene_project, user=user, kind="cbz")
    assert (export.options["settings"]["dpi"], export.options["settings"]["bleed_mm"]) == (150, 0)
    told = exports.request_export(
        project=scene_project, user=user, kind="cbz", options={"dpi": "96", "bleed_mm": "2"}
    )
    assert (told.options["settings"]["dpi"], told.options["settings"]["bleed_mm"]) == (96, 2.0)


def test_a_cbz_of_chosen_pages_only(scene_project, user):
    chapter = Page.objects.get(project=scene_project).chapter
    second = add_page(project=scene_project, actor=user, chapter=chapter)
    export, data = _made(scene_project, user, "cbz", dpi=72, pages=[second.pk])
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["page-001.jpg", "ComicInfo.xml"]
    assert export.manifest["pages"][0]["page"] == second.pk


def test_a_zip_holds_images_recipes_and_the_manifest(scene_project, user):
    panels = list(scene_project.panels.order_by("position"))
    asset = panels[0].base_asset
    asset.metadata = {**asset.metadata, "recipe": {"stage": "style", "prompt": "ink"}}
    asset.save()
    export, data = _made(scene_project, user, "zip")
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = archive.namelist()
    images = [n for n in names if n.startswith("images/")]
    assert len(images) == 3
    manifest = json.loads(archive.read("manifest.json"))
    assert [e["asset"] for e in manifest["images"]] == [p.base_asset_id for p in panels]
    recipe = manifest["images"][0]["recipe"]
    assert json.loads(archive.read(recipe)) == {"stage": "style", "prompt": "ink"}
    assert archive.read(images[0]) == read_file(scene_project, asset.path)
    pipeline_manifest = json.loads(archive.read("pipeline-manifest.json"))
    assert pipeline_manifest["generation"]["retry_base_s"] == 0.01  # the project's overrides
    assert export.file_name.endswith(".zip") and "_images_" in export.file_name


def test_a_zip_of_chosen_assets_with_their_run_logs(scene_project, user):
    from tests.conftest import local_run

    run = local_run(scene_project, user)
    candidate = run.jobs.first().candidates.filter(selected=True).first()
    _, data = _made(scene_project, user, "zip", assets=[candidate.asset_id])
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert [n for n in names if n.startswith("images/")] == [
        f"images/{candidate.asset.download_name}"
    ]
    assert f"runs/{run.uid}.json" in names


def test_a_missing_image_fails_the_export_with_its_reason(scene_project, user):
    from projects.storage import storage_for

    asset = scene_project.panels.first().base_asset
    storage_for(scene_project).delete(asset.path)
    export = exports.request_export(project=scene_project, user=user, kind="zip")
    done = exports.run_export(export.pk)
    assert (done.status, done.error_code) == ("failed", "missing_file")
    assert "missing from storage" in done.error


def test_an_export_whose_worker_died_is_requeued_and_made(scene_project, user):
    from datetime import timedelta

    from django.utils import timezone

    from pipeline import engine

    export = exports.request_export(
        project=scene_project, user=user, kind="cbz", options={"dpi": 72}
    )
    ProjectExport.objects.filter(pk=export.pk).update(
        status="running",
        attempts=1,
        locked_by="elsewhere:1:1",
        lease_expires_at=timezone.now() - timedelta(seconds=5),
    )
    assert engine.sweep(EXPORT_JOBS)["requeued"] == 1
    done = exports.run_export(export.pk)
    assert (done.status, done.attempts) == ("done", 2)
    assert zipfile.ZipFile(io.BytesIO(read_file(scene_project, done.path))).namelist()[-1] == (
        "ComicInfo.xml"
    )
