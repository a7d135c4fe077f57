"""Writing assets: the file and its row together, the file undone if the row fails.

Decoding, re-encoding and hashing happen before (clean_image), never inside a transaction: the
row is written in a transaction of its own that holds the write lock for one INSERT.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from kroma.lib.images import CleanImage, clean_image
from projects.models import Asset, Project
from projects.storage import storage_for


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
    extra = {"original_name": name} if name else {}
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
