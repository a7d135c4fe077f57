"""A project's settings page: where its files live and its manifest overrides.

Overrides are stored sparse: only the settings that differ from settings/manifest.json are
written to `Project.manifest_overrides`, so a later change of a default reaches every project
that did not choose otherwise. Every save is checked the way a run is planned
(`check_project_overrides`) and audited.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from pipeline.config import check_project_overrides, load_manifest
from projects.models import AuditEvent, Project, ProjectStorage
from projects.storage import local_root

MISSING = object()  # a dotted path with no value (no override, or no such default)


@dataclass(frozen=True)
class StorageSummary:
    backend: str
    backend_label: str
    root: str
    is_default_root: bool


def storage_summary(*, project: Project) -> StorageSummary:
    """Where the project's files live, as the settings page shows it."""
    policy = getattr(project, "storage", None)
    backend = policy.backend if policy is not None else ProjectStorage.Backend.LOCAL
    if backend == ProjectStorage.Backend.S3:
        prefix = "/".join(p for p in (policy.s3_prefix.strip("/"), project.slug) if p)
        root = f"s3://{policy.s3_bucket}/{prefix}"
    else:
        root = str(local_root(project))
    return StorageSummary(
        backend=backend,
        backend_label=ProjectStorage.Backend(backend).label,
        root=root,
        is_default_root=policy is None or not (policy.local_root or policy.s3_bucket),
    )


def manifest_defaults() -> dict[str, Any]:
    """settings/manifest.json, validated (a ConfigError names the file and path)."""
    return load_manifest(None).data


def get_path(data: Any, dotted: str) -> Any:
    """The value at `dotted` ("generation.size"), or MISSING."""
    node = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[leaf] = value


def _drop_path(data: dict[str, Any], dotted: str) -> None:
    """Remove `dotted` and any parent object it leaves empty."""
    *parents, leaf = dotted.split(".")
    trail = [data]
    for part in parents:
        child = trail[-1].get(part)
        if not isinstance(child, dict):
            return
        trail.append(child)
    trail[-1].pop(leaf, None)
    for node, part in zip(reversed(trail[:-1]), reversed(parents), strict=True):
        if node[part] == {}:
            del node[part]


def save_manifest_overrides(
    *, project: Project, user: AbstractBaseUser | None, values: dict[str, Any]
) -> Project:
    """Set each dotted path in `values` (None: back to the manifest default) and save.

    Only values that differ from the default are stored; paths not in `values` (for example
    the post-processing overrides) are kept as they are. The merged manifest is checked as
    planning checks it: a ConfigError (a UserError whose `field` is the dotted path) leaves the
    project unchanged.
    """
    defaults = manifest_defaults()
    current = project.manifest_overrides if isinstance(project.manifest_overrides, dict) else {}
    overrides = copy.deepcopy(current)
    for dotted, value in values.items():
        if value is None or value == get_path(defaults, dotted):
            _drop_path(overrides, dotted)
        else:
            _set_path(overrides, dotted, value)
    changed = sorted(
        dotted for dotted in values if get_path(current, dotted) != get_path(overrides, dotted)
    )
    if not changed:
        return project
    candidate = copy.copy(project)
    candidate.manifest_overrides = overrides
    check_project_overrides(candidate)
    with transaction.atomic():
        project.manifest_overrides = overrides
        project.save(update_fields=["manifest_overrides", "updated_at"])
        AuditEvent.objects.create(
            project=project,
            actor=user,
            action="project.overrides_updated",
            target=project.slug,
            data={
                "set": {
                    d: get_path(overrides, d)
                    for d in changed
                    if get_path(overrides, d) is not MISSING
                },
                "cleared": [d for d in changed if get_path(overrides, d) is MISSING],
            },
        )
    return project
