"""Exports of a project, made in the worker: a zip of images, a CBZ or a PDF of the pages.

`request_export` checks everything first (nothing is created for bad input), then writes one
ProjectExport row (a work item) and its audit event, and queues it after commit. The engine
runs its one step, `build`, which writes the file to project storage under exports/ and keeps
progress ({done, total, what}) on the row while it works. The row's options hold everything
the file is made from (pages or assets, the page settings), so a retried export is the same.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from xml.etree import ElementTree as ET

from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.storage import FileSystemStorage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kroma.lib.errors import UserError
from kroma.lib.ids import parse_ids
from pipeline.config import load_manifest
from pipeline.models import Run
from pipeline.services import layouts
from projects.models import Asset, Page, Project, ProjectExport
from projects.services.records import audit
from projects.storage import read_file, storage_for

Kind = ProjectExport.Kind
EXTENSIONS = {Kind.ZIP: "zip", Kind.CBZ: "cbz", Kind.PDF: "pdf"}
PRINT_OPTIONS = ("page_size", "dpi", "bleed_mm")
CBZ_DPI = 150  # screen reading: a CBZ page at 150 dpi is about 1000 x 1600 px
MAX_PAGES = 500
MAX_ASSETS = 2000


# --- requesting ------------------------------------------------------------------------------


def _ids(values: object, field: str, most: int) -> list[int]:
    if not isinstance(values, list | tuple) or not values:
        raise UserError(f"Give a list of {field} to export.", field=field)
    if len(values) > most:
        raise UserError(f"At most {most} {field} in one export.", field=field)
    return parse_ids(values, field=field, what=field)


def _page_ids(project: Project, values: object) -> list[int]:
    ids = _ids(values, "pages", MAX_PAGES)
    found = set(Page.objects.filter(project=project, pk__in=ids).values_list("pk", flat=True))
    missing = [i for i in ids if i not in found]
    if missing:
        raise UserError(f"No page {missing[0]} in this project.", code="not_found", field="pages")
    return ids


def export_assets(project: Project, options: dict[str, Any]) -> list[Asset]:
    """The images a zip holds: the chosen assets, else the current image of each panel (of the
    chosen pages), in reading order."""
    if "assets" in options:
        found = Asset.objects.filter(project=project, pk__in=options["assets"])
        by_id = {a.pk: a for a in found.select_related("project")}
        return [by_id[pk] for pk in options["assets"] if pk in by_id]
    pages = layouts.story_pages(project, options.get("pages"))
    images = [page.images[p.pk] for page in pages for p in page.panels_in_order]
    return list({a.pk: a for a in images if a is not None}.values())


def clean_export_options(project: Project, kind: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options an export is made from, checked (a UserError names the bad field)."""
    if kind not in EXTENSIONS:
        raise UserError(f"Choose an export kind: {', '.join(EXTENSIONS)}.", field="kind")
    if not isinstance(options, dict):
        raise UserError("Export options are a JSON object.", field="options")
    allowed = {"pages", *(("assets",) if kind == Kind.ZIP else PRINT_OPTIONS)}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise UserError(f"Unknown option for a {kind} export: {unknown[0]}.", field=unknown[0])
    if "pages" in options and "assets" in options:
        raise UserError("Export either pages or assets, not both.", field="assets")
    clean: dict[str, Any] = {}
    if "pages" in options:
        clean["pages"] = _page_ids(project, options["pages"])
    if "assets" in options:
        ids = _ids(options["assets"], "assets", MAX_ASSETS)
        if Asset.objects.filter(project=project, pk__in=ids).count() != len(ids):
            raise UserError("Some of these images are not in this project.", field="assets")
        clean["assets"] = ids
    if kind == Kind.ZIP:
        if not export_assets(project, clean):
            raise UserError("Nothing to export: no panel has an image yet.", field="pages")
        return clean
    saved = layouts.layout_settings(project)
    if kind == Kind.CBZ:  # for screens: no bleed to trim, a lighter page
        saved |= {"dpi": CBZ_DPI, "bleed_mm": 0}
    settings, errors = layouts.check_layout(
        {**saved, **{k: options[k] for k in options if k in PRINT_OPTIONS}}
    )
    if errors:
        field, message = next(iter(errors.items()))
        raise UserError(message, field=field)
    if not Page.objects.filter(project=project, **_in("pk", clean.get("pages"))).exists():
        raise UserError("Nothing to export: the story has no pages yet.", field="pages")
    return {**clean, "settings": settings}


def _in(field: str, ids: list[int] | None) -> dict[str, Any]:
    return {} if ids is None else {f"{field}__in": ids}


def request_export(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    kind: str,
    options: dict[str, Any] | None = None,
) -> ProjectExport:
    """Queue an export of the project (zip, cbz or pdf); bad input raises UserError and
    creates nothing.

    options: {"pages": [page ids]} (all pages by default); for a zip {"assets": [asset ids]}
    instead (a selection from the asset browser); for a PDF or CBZ page_size, dpi, bleed_mm
    (the project's page settings by default; a CBZ is 150 dpi without bleed unless told).
    """
    clean = clean_export_options(project, kind, options or {})
    with transaction.atomic():
        export = ProjectExport.objects.create(
            project=project,
            kind=kind,
            options=clean,
            requested_by=user if getattr(user, "is_authenticated", False) else None,
            progress={"done": 0, "total": 0, "what": "queued"},
        )
        audit(project, user, "export.request", f"export {export.pk}", kind=kind, options=clean)
        enqueue_export(export)
    return export


def enqueue_export(export: ProjectExport) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task("pipeline.tasks.export_task", export.pk, task_name=f"export {export.pk}")
    )


def run_export(export_id: int) -> ProjectExport | None:
    """Claim and run one export in this process (what the worker's task does)."""
    from pipeline.engine import work_through
    from pipeline.work import EXPORT_JOBS

    if not work_through(EXPORT_JOBS, ProjectExport.objects.filter(pk=export_id)):
        return None
    return ProjectExport.objects.get(pk=export_id)


def recent_exports(project: Project, limit: int = 20) -> list[ProjectExport]:
    """The newest exports, each with `left_out`: how many panels had no frame in it."""
    recent = ProjectExport.objects.filter(project=project).order_by("-created_at", "-pk")
    found = list(recent[:limit])
    for export in found:
        pages = (export.manifest or {}).get("pages") or []
        export.left_out = sum(len(page.get("left_out") or []) for page in pages)
    return found


def download_name(export: ProjectExport) -> str:
    """`<project>_<images|pages>_<YYYYMMDD-HHMM>_<n>.<ext>` (n: the export's number, so two
    exports of one minute keep apart)."""
    what = "images" if export.kind == Kind.ZIP else "pages"
    when = f"{export.created_at:%Y%m%d-%H%M}"
    return f"{export.project.slug}_{what}_{when}_{export.pk}.{EXTENSIONS[export.kind]}"


# --- building (the engine's one step) --------------------------------------------------------


@dataclass
class ExportContext:
    item: ProjectExport
    row: Any = None


def build_step(ctx: ExportContext) -> None:
    export = ctx.item
    project = export.project
    report = _reporter(export)
    handle, tmp = tempfile.mkstemp(suffix=f".{EXTENSIONS[export.kind]}")
    os.close(handle)
    path = f"exports/{export.pk}-{export.kind}.{EXTENSIONS[export.kind]}"
    try:
        builder = {Kind.ZIP: build_zip, Kind.CBZ: build_cbz, Kind.PDF: build_pdf}[export.kind]
        manifest = builder(project, export.options, tmp, report)
        report(manifest["count"], manifest["count"], "saving")
        size = os.path.getsize(tmp)
        _store(project, path, tmp)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    ProjectExport.objects.filter(pk=export.pk).update(
        path=path, file_name=download_name(export), size_bytes=size, manifest=manifest
    )
    if ctx.row is not None:
        ctx.row.notes = {"path": path, "size_bytes": size}


def _store(project: Project, path: str, local: str) -> None:
    """Put the finished file at `path` in project storage without holding it in memory (a
    print PDF can be hundreds of MB): moved into place on local storage, streamed to S3."""
    storage = storage_for(project)
    if isinstance(storage, FileSystemStorage):
        target = Path(storage.path(path))
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(local, staged)
        os.replace(staged, target)  # readers see the old file or the new, never half
        return
    if storage.exists(path):
        storage.delete(path)
    with open(local, "rb") as fh:
        storage.save(path, File(fh))


Report = Callable[[int, int, str], None]


def _reporter(export: ProjectExport) -> Report:
    def report(done: int, total: int, what: str) -> None:
        progress = {"done": done, "total": total, "what": what}
        ProjectExport.objects.filter(pk=export.pk).update(progress=progress)

    return report


def _read(project: Project, asset: Asset) -> bytes:
    try:
        return read_file(project, asset.path)
    except FileNotFoundError:
        raise UserError(
            f"The image {asset.pk} ({asset}) is missing from storage.", code="missing_file"
        ) from None


def _unique(name: str, taken: set[str]) -> str:
    stem, suffix, n = PurePosixPath(name).stem, PurePosixPath(name).suffix, 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}{suffix}"
    taken.add(name)
    return name


def build_zip(project: Project, options: dict[str, Any], path: str, report: Report) -> dict:
    """images/ (each image as stored), recipes/ (Asset.metadata["recipe"]), runs/ (the run
    logs of the runs that made them), pipeline-manifest.json (the project's pipeline settings:
    settings/manifest.json with its overrides) and manifest.json (what is where, with sha256)."""
    assets = export_assets(project, options)
    runs = _runs_of(project, [a.pk for a in assets])
    total, files, taken = len(assets) + len(runs), [], set()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for done, asset in enumerate(assets, 1):
            name = _unique(asset.download_name, taken)
            archive.writestr(f"images/{name}", _read(project, asset), zipfile.ZIP_STORED)
            entry = {"file": f"images/{name}", "asset": asset.pk, "sha256": asset.sha256}
            entry |= {"kind": asset.kind, "width": asset.width, "height": asset.height}
            recipe = (asset.metadata or {}).get("recipe")
            if recipe:
                entry["recipe"] = f"recipes/{PurePosixPath(name).stem}.json"
                archive.writestr(entry["recipe"], json.dumps(recipe, indent=2, sort_keys=True))
            files.append(entry)
            report(done, total, f"image {done} of {len(assets)}")
        logs = []
        for done, run in enumerate(runs, len(assets) + 1):
            if run.log_path and storage_for(project).exists(run.log_path):
                archive.writestr(f"runs/{run.uid}.json", read_file(project, run.log_path))
                logs.append(f"runs/{run.uid}.json")
            report(done, total, f"run log {done - len(assets)} of {len(runs)}")
        settings = json.dumps(load_manifest(project).data, indent=2, sort_keys=True)
        archive.writestr("pipeline-manifest.json", settings)
        manifest = _manifest(project, "zip", options, count=len(files), images=files, run_logs=logs)
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def _runs_of(project: Project, asset_ids: list[int]) -> list[Run]:
    made = Q(jobs__candidates__asset__in=asset_ids) | Q(jobs__final_asset__in=asset_ids)
    return list(
        Run.objects.filter(project=project, mode=Run.Mode.RUN)
        .filter(made)
        .distinct()
        .order_by("pk")
    )


def _manifest(project: Project, kind: str, options: dict[str, Any], **extra: Any) -> dict:
    return {
        "project": {"slug": project.slug, "name": project.name},
        "kind": kind,
        "options": options,
        "made_at": timezone.now().isoformat(),
        **extra,
    }


def _pages(project: Project, options: dict[str, Any]) -> list[Page]:
    pages = layouts.story_pages(project, options.get("pages"))
    for page in pages:
        layouts.fill_page(page, options["settings"])
    return pages


def _rendered(
    project: Project, options: dict[str, Any], report: Report
) -> Iterable[tuple[Page, Any]]:
    """Each page rendered in reading order, one at a time (a print page is tens of MB)."""
    pages = _pages(project, options)
    for done, page in enumerate(pages, 1):
        try:
            image = layouts.render_page(project, page, options["settings"])
        except FileNotFoundError:
            raise UserError(
                f"An image of {page} is missing from storage.", code="missing_file"
            ) from None
        yield page, image
        image.close()
        report(done, len(pages), f"page {done} of {len(pages)}")


def _page_entry(number: int, page: Page, image: Any) -> dict[str, Any]:
    return {
        "number": number,
        "page": page.pk,
        "title": str(page),
        "layout": page.layout_used,
        "panels": [p.key for p in page.panels_in_order],
        "left_out": [p.key for p in page.left_out],
        "width": image.width,
        "height": image.height,
    }


def build_cbz(project: Project, options: dict[str, Any], path: str, report: Report) -> dict:
    """page-001.jpg … in reading order and a ComicInfo.xml (Title, Series, PageCount, Pages)."""
    entries = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for number, (page, image) in enumerate(_rendered(project, options, report), 1):
            out = io.BytesIO()
            image.save(out, "JPEG", quality=90, dpi=(options["settings"]["dpi"],) * 2)
            name = f"page-{number:03d}.jpg"
            archive.writestr(name, out.getvalue())
            entries.append({**_page_entry(number, page, image), "file": name, "bytes": out.tell()})
        archive.writestr("ComicInfo.xml", comic_info(project, entries))
    return _manifest(project, "cbz", options, count=len(entries), pages=entries)


def comic_info(project: Project, pages: list[dict[str, Any]]) -> bytes:
    """ComicInfo.xml (the Anansi Project's schema, v2.0) for these pages."""
    root = ET.Element("ComicInfo")
    for tag, text in (("Title", project.name), ("Series", project.name)):
        ET.SubElement(root, tag).text = text
    if project.logline:
        ET.SubElement(root, "Summary").text = project.logline
    ET.SubElement(root, "PageCount").text = str(len(pages))
    listed = ET.SubElement(root, "Pages")
    for i, page in enumerate(pages):
        ET.SubElement(
            listed,
            "Page",
            Image=str(i),
            Type="Story",
            ImageSize=str(page["bytes"]),
            ImageWidth=str(page["width"]),
            ImageHeight=str(page["height"]),
            Bookmark=page["title"],
        )
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def build_pdf(project: Project, options: dict[str, Any], path: str, report: Report) -> dict:
    """One PDF page per story page at the trim size plus bleed, written page by page with
    Pillow's PDF writer (JPEG-compressed, `resolution` = dpi so the page has its print size)."""
    entries, dpi = [], options["settings"]["dpi"]
    for number, (page, image) in enumerate(_rendered(project, options, report), 1):
        image.save(
            path,
            "PDF",
            resolution=dpi,
            append=number > 1,
            quality=92,
            title=project.name,
            creator="Kroma",
        )
        entries.append(_page_entry(number, page, image))
    if not entries:
        raise UserError("Nothing to export: the chosen pages are gone.", field="pages")
    w_mm, h_mm = layouts.page_mm(options["settings"])
    bleed = options["settings"]["bleed_mm"]
    size = {"trim_mm": [w_mm, h_mm], "bleed_mm": bleed, "dpi": dpi}
    return _manifest(project, "pdf", options, count=len(entries), pages=entries, print=size)
