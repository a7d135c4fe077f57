"""Where a project's files live: var/projects/<slug>/ by default, or S3 per project."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
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
