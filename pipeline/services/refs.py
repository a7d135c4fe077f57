"""Resolving a run's inputs: scenes, style references and character references.

Style references are the project's style anchors; a path outside `policy.allowed_style_roots`
(absolute, with '..', or a symlink that leads out) is refused, so nothing else can contaminate
the style.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.utils.text import slugify
from PIL import Image

from pipeline.config import STAGES
from pipeline.errors import GuardError
from pipeline.models import RunCandidate
from projects.models import Asset, Project, ProjectStorage, StyleGuide
from projects.storage import local_root, storage_for


@dataclass(frozen=True)
class InputRef:
    key: str
    path: str
    asset_id: int | None
    source: str  # "scene_ref", "style_ref", "character_ref" or "<stage> run <uid>"


def scene_key(asset: Asset) -> str:
    name = asset.metadata.get("original_name") or asset.title or asset.path
    return slugify(PurePosixPath(str(name)).stem) or f"asset-{asset.pk}"


def _clean_relative(path: str, what: str) -> str:
    if not path or path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path) or "\\" in path:
        raise GuardError(f"{what}: {path!r} is not a relative path inside the project.")
    if ".." in PurePosixPath(path).parts:
        raise GuardError(f"{what}: {path!r} contains '..'; paths must stay inside the project.")
    return posixpath.normpath(path)


def check_style_path(project: Project, path: str, allowed_roots: list[str]) -> str:
    """Return the normalised path, or raise GuardError saying why it is refused."""
    norm = _clean_relative(path, "style_refs")
    roots = [_clean_relative(r, "policy.allowed_style_roots").rstrip("/") for r in allowed_roots]
    if not any(norm == root or norm.startswith(root + "/") for root in roots):
        raise GuardError(
            f"style_refs: {path!r} is outside policy.allowed_style_roots ({', '.join(roots)}); "
            "style anchors must come from an allowed folder."
        )
    if _is_local(project):
        base = local_root(project)
        real = Path(os.path.realpath(base / norm))
        real_roots = [Path(os.path.realpath(base / root)) for root in roots]
        if not any(real == r or r in real.parents for r in real_roots):
            raise GuardError(
                f"style_refs: {path!r} is a link that leads outside the allowed style roots."
            )
    check_input_image(project, norm, "style_refs", path)
    return norm


def _is_local(project: Project) -> bool:
    policy = getattr(project, "storage", None)
    return policy is None or policy.backend == ProjectStorage.Backend.LOCAL


def check_input_image(project: Project, norm: str, what: str, path: str) -> None:
    """An input a run sends to the provider: a file inside the project, and an image."""
    storage = storage_for(project)
    if _is_local(project):
        base = Path(os.path.realpath(local_root(project)))
        real = Path(os.path.realpath(local_root(project) / norm))
        if real != base and base not in real.parents:
            raise GuardError(f"{what}: {path!r} is a link that leads outside the project.")
        if real.is_dir():
            raise GuardError(f"{what}: {path!r} is a folder; name an image file.")
    if not storage.exists(norm):
        raise GuardError(f"{what}: {path!r} does not exist in the project's storage.")
    try:
        with storage.open(norm, "rb") as fh, Image.open(fh):
            pass  # the header only: cheap, and enough to refuse a non-image
    except (OSError, Image.DecompressionBombError, ValueError):
        raise GuardError(f"{what}: {path!r} is not an image Kroma can read.") from None


def resolve_scenes(
    project: Project, manifest_paths: list[str], wanted: list[str] | None
) -> list[InputRef]:
    if manifest_paths:
        refs = []
        for path in manifest_paths:
            norm = _clean_relative(path, "scene_refs")
            check_input_image(project, norm, "scene_refs", path)
            asset = Asset.objects.filter(project=project, path=norm).first()
            key = scene_key(asset) if asset else slugify(PurePosixPath(norm).stem)
            refs.append(InputRef(key, norm, asset.pk if asset else None, "scene_ref"))
    else:
        assets = Asset.objects.filter(project=project, kind=Asset.Kind.SCENE_REF).order_by(
            "created_at", "id"
        )
        refs = [InputRef(scene_key(a), a.path, a.pk, "scene_ref") for a in assets]
    if not refs:
        raise GuardError(
            "This project has no scenes: upload scene references (kind 'Scene reference') "
            "or list scene_refs in the project's manifest overrides."
        )
    if wanted:
        by_key = {ref.key: ref for ref in refs}
        unknown = [key for key in wanted if key not in by_key]
        if unknown:
            raise GuardError(
                f"Unknown scene(s): {', '.join(unknown)}. Scenes: {', '.join(by_key)}."
            )
        refs = [by_key[key] for key in dict.fromkeys(wanted)]
    return refs


def stage_input(project: Project, stage: str, scene: InputRef) -> InputRef:
    """The newest selected output of an earlier stage for this scene, else the scene itself."""
    earlier = STAGES[: STAGES.index(stage)]
    for previous in reversed(earlier):
        candidate = (
            RunCandidate.objects.filter(
                project=project,
                selected=True,
                job__scene_key=scene.key,
                job__run__stage=previous,
                job__run__mode="run",
                asset__isnull=False,
            )
            .select_related("asset", "job__run")
            .order_by("-created_at")
            .first()
        )
        if candidate is not None:
            return InputRef(
                scene.key,
                candidate.asset.path,
                candidate.asset_id,
                f"{previous} run {candidate.job.run.uid}",
            )
    return scene


def locked_style_guide(project: Project) -> StyleGuide | None:
    return (
        StyleGuide.objects.filter(project=project, status=StyleGuide.Status.LOCKED)
        .order_by("-locked_at")
        .first()
    )


def resolve_style_refs(
    project: Project, manifest_paths: list[str], allowed_roots: list[str]
) -> tuple[list[InputRef], StyleGuide | None]:
    guide = locked_style_guide(project) or StyleGuide.objects.filter(project=project).first()
    if manifest_paths:
        paths = manifest_paths
    elif guide is not None:
        paths = [ref.asset.path for ref in guide.references.select_related("asset")]
    else:
        paths = []
    refs = []
    for path in paths:
        norm = check_style_path(project, path, allowed_roots)
        refs.append(InputRef(PurePosixPath(norm).stem, norm, None, "style_ref"))
    return refs, guide


def resolve_character_refs(project: Project) -> list[InputRef]:
    assets = Asset.objects.filter(
        project=project,
        kind=Asset.Kind.CHARACTER_REF,
        reference_items__reference_set__character__isnull=False,
    ).distinct()
    return [InputRef(scene_key(a), a.path, a.pk, "character_ref") for a in assets]
