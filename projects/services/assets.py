"""Writing assets: the file and its row together, the file undone if the row fails.

Decoding, re-encoding and hashing happen before (clean_image), never inside a transaction: the
row is written in a transaction of its own that holds the write lock for one INSERT.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile, File
from django.db import IntegrityError, transaction
from django.db.models import Q

from kroma.lib.errors import UserError
from kroma.lib.ids import parse_ids
from kroma.lib.images import CleanImage, clean_image
from projects.models import Asset, AssetLink, Project
from projects.services.records import audit
from projects.storage import storage_for

logger = logging.getLogger(__name__)

THUMB_SIZES = (320,)  # the asset views' thumbnail sizes (thumbs/<sha256>_<size>.webp)


def asset_path(kind: str, sha256: str, extension: str) -> str:
    """Deterministic: the same bytes of the same kind always land at the same path."""
    return f"assets/{kind}/{sha256[:2]}/{sha256}.{extension}"


def store_image(
    *,
    project: Project,
    data: bytes,
    kind: str,
    name: str = "",
    title: str = "",
    metadata: dict[str, Any] | None = None,
) -> Asset:
    """Validate image bytes by content, re-encode and store them as an Asset.

    Raises ImageRejectedError (nothing written) for anything that is not an acceptable image.
    The same content stored twice as the same kind returns the existing asset.
    """
    image = clean_image(data, name=name, max_pixels=settings.MAX_IMAGE_PIXELS)
    extra: dict[str, Any] = {"original_name": name} if name else {}
    if image.notes:
        extra["notes"] = list(image.notes)
    return store_clean_image(
        project=project,
        image=image,
        kind=kind,
        title=title or name,
        metadata={**extra, **(metadata or {})},
    )


def store_clean_image(
    *,
    project: Project,
    image: CleanImage,
    kind: str,
    title: str = "",
    metadata: dict[str, Any] | None = None,
) -> Asset:
    sha256 = image.sha256
    existing = Asset.objects.filter(project=project, kind=kind, sha256=sha256).first()
    if existing is not None:
        return existing
    storage = storage_for(project)
    path = asset_path(kind, sha256, image.extension)
    wrote = not storage.exists(path)
    if wrote:
        saved = storage.save(path, ContentFile(image.data))
        if saved != path:
            # Another request stored the same bytes first: theirs is the file (the same one).
            storage.delete(saved)
            wrote = False
    try:
        with transaction.atomic():
            return Asset.objects.create(
                project=project,
                kind=kind,
                title=title[:200],
                path=path,
                sha256=sha256,
                size_bytes=len(image.data),
                width=image.width,
                height=image.height,
                mime=image.mime,
                metadata={"mode": image.mode, **(metadata or {})},
            )
    except IntegrityError:
        # Another process stored the same content first: theirs is the row; the file is the same.
        return Asset.objects.get(project=project, kind=kind, sha256=sha256)
    except Exception:
        if wrote:
            storage.delete(path)
        raise


def read_asset_bytes(asset: Asset) -> bytes:
    with storage_for(asset.project).open(asset.path, "rb") as fh:
        return fh.read()


@dataclass
class UploadResult:
    stored: list[Asset] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # one per refused file, naming it


def upload_images(
    *, project: Project, user: AbstractBaseUser | None, files: Iterable[tuple[str, bytes | File]]
) -> UploadResult:
    """Store each file as an upload: a refused file is reported, the good ones are kept.

    A file may be given as its bytes or as an (uploaded) File: its size is checked before it is
    read, and files are read one at a time, so a batch never sits in memory at once.
    """
    result = UploadResult()
    limit = settings.MAX_UPLOAD_BYTES
    for name, upload in files:
        size = len(upload) if isinstance(upload, bytes) else upload.size
        if size is None or size > limit:
            result.errors.append(f"{name}: larger than {limit / 1e6:.0f} MB. Nothing was stored.")
            continue
        try:
            data = upload if isinstance(upload, bytes) else upload.read()
            asset = store_image(project=project, data=data, kind=Asset.Kind.UPLOAD, name=name)
        except UserError as exc:
            result.errors.append(str(exc))
            continue
        except (OSError, ValueError) as exc:  # an image Pillow reads but cannot store
            logger.warning("upload %s of project %s refused: %r", name, project.slug, exc)
            result.errors.append(
                f"{name}: this image cannot be stored ({exc}). Nothing was stored."
            )
            continue
        result.stored.append(asset)
        result.notes.extend(asset.metadata.get("notes", []) if asset.metadata else [])
    if result.stored:
        ids = [a.pk for a in result.stored]
        audit(project, user, "asset.upload", ",".join(map(str, ids))[:200], assets=ids)
    return result


@dataclass(frozen=True)
class DeleteResult:
    deleted: list[int]
    kept: dict[int, str]  # asset id -> why it was not deleted


def _uses(project: Project, ids: list[int]) -> dict[int, str]:
    """Which of these assets another row still uses (a style guide, a character sheet, a run's
    candidate or job, a panel's base image ...): every relation to Asset but its own links."""
    used: dict[int, str] = {}
    # include_hidden: the pipeline's references (related_name="+") are relations too.
    for relation in Asset._meta.get_fields(include_hidden=True):
        if not (relation.auto_created and relation.is_relation and not relation.concrete):
            continue
        if relation.related_model is AssetLink or relation.many_to_many:
            continue
        column = relation.field.name
        rows = relation.related_model._base_manager.filter(**{f"{column}__in": ids})
        what = relation.related_model._meta.verbose_name
        for asset_id in rows.values_list(f"{column}_id", flat=True):
            used.setdefault(asset_id, f"used by a {what}")
    return used


def delete_assets(
    *, project: Project, user: AbstractBaseUser | None, asset_ids: list[int]
) -> DeleteResult:
    """Delete the project's assets that nothing else uses, and their files when no other row
    points at the same file. Used ones are kept and reported; one audit event."""
    ids = sorted(parse_ids(asset_ids, field="assets", what="images"))
    if not ids:
        raise UserError("Select at least one image first.", field="assets")
    assets = list(Asset.objects.filter(project=project, pk__in=ids))
    if len(assets) != len(ids):
        raise UserError("Some of these images are not in this project.", field="assets")
    kept = _uses(project, ids)
    doomed = [a for a in assets if a.pk not in kept]
    with transaction.atomic():
        Asset.objects.filter(project=project, pk__in=[a.pk for a in doomed]).delete()
        audit(
            project,
            user,
            "asset.delete",
            ",".join(str(a.pk) for a in doomed)[:200],
            assets=[a.pk for a in doomed],
            paths=[a.path for a in doomed],
            kept=sorted(kept),
        )
    _delete_unused_files(project, doomed)
    return DeleteResult(deleted=[a.pk for a in doomed], kept=kept)


def _delete_unused_files(project: Project, deleted: list[Asset]) -> None:
    """After the rows are gone: a file (or thumbnail) goes only if no remaining row uses it."""
    storage = storage_for(project)
    paths = {a.path for a in deleted}
    digests = {a.sha256 for a in deleted}
    remaining = project.assets.filter(Q(path__in=paths) | Q(sha256__in=digests))
    still_paths = set(remaining.values_list("path", flat=True))
    still_digests = set(remaining.values_list("sha256", flat=True))
    for path in paths - still_paths:
        if storage.exists(path):
            storage.delete(path)
    for digest in digests - still_digests:
        for thumb in (f"thumbs/{digest}_{size}.webp" for size in THUMB_SIZES):
            if storage.exists(thumb):
                storage.delete(thumb)
