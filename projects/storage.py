"""Where a project's files live: var/projects/<slug>/ by default, or S3 per project."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage

from projects.models import Project, ProjectStorage


def local_root(project: Project) -> Path:
    policy = getattr(project, "storage", None)
    if policy is not None and policy.local_root:
        return Path(policy.local_root)
    return Path(settings.PROJECTS_ROOT) / project.slug


def storage_for(project: Project) -> Storage:
    """The Django storage that holds `project`'s files, per its storage policy."""
    policy = getattr(project, "storage", None)
    if policy is not None and policy.backend == ProjectStorage.Backend.S3:
        from storages.backends.s3 import S3Storage

        prefix = "/".join(p for p in (policy.s3_prefix.strip("/"), project.slug) if p)
        return S3Storage(
            bucket_name=policy.s3_bucket,
            location=prefix,
            region_name=policy.s3_region or None,
            endpoint_url=policy.s3_endpoint_url or None,
            file_overwrite=True,
        )
    return FileSystemStorage(location=local_root(project))


def write_file_atomic(project: Project, path: str, data: bytes) -> None:
    """Write (or replace) a file so that readers see the old or the new bytes, never half."""
    storage = storage_for(project)
    if isinstance(storage, FileSystemStorage):
        full = Path(storage.path(path))
        full.parent.mkdir(parents=True, exist_ok=True)
        tmp = full.with_name(f".{full.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, full)
        return
    if storage.exists(path):  # an S3 PUT replaces atomically; delete keeps other backends honest
        storage.delete(path)
    storage.save(path, ContentFile(data))


def read_file(project: Project, path: str) -> bytes:
    with storage_for(project).open(path, "rb") as fh:
        return fh.read()


def move_file(project: Project, source: str, target: str) -> None:
    storage = storage_for(project)
    if isinstance(storage, FileSystemStorage):
        full_target = Path(storage.path(target))
        full_target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(storage.path(source), full_target)
        return
    write_file_atomic(project, target, read_file(project, source))
    storage.delete(source)
