"""Resolving a run's inputs: panels, what each starts from, style and cast references.

Style references are the project's style anchors; a path outside `policy.allowed_style_roots`
(absolute, with '..', or a symlink that leads out) is refused, so nothing else can contaminate
the style.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.utils.text import slugify
from PIL import Image

from pipeline.config import STAGES
from pipeline.errors import GuardError
from pipeline.models import RunCandidate
from projects.models import (
    Asset,
    CastMember,
    Panel,
    Project,
    ProjectStorage,
    ReferenceSetItem,
    StyleGuide,
)
from projects.storage import local_root, storage_for


@dataclass(frozen=True)
class InputRef:
    key: str
    path: str
    asset_id: int | None
    source: str  # "base image", "scene_ref", "style_ref", "character_ref …", "<stage> run <uid>"


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


@dataclass(frozen=True)
class PanelTarget:
    """A panel a run may work on: its key, the row (None for a manifest scene_refs path) and
    its base image (None: drawn from the script)."""

    key: str
    panel: Panel | None
    base: InputRef | None


@dataclass(frozen=True)
class BuildOn:
    """What each job starts from: "pick" (the panel's current pick of the previous stage, else
    its base image), "base" (the base image), "run" (that run's pick for the panel, else the
    current pick) — and, over all of them, a chosen candidate per panel key."""

    mode: str = "pick"
    run_uid: str = ""
    candidates: dict[str, int] = field(default_factory=dict)


def _panels(project: Project) -> list[PanelTarget]:
    panels = Panel.objects.filter(project=project).select_related("base_asset", "page__chapter")
    return [
        PanelTarget(
            p.key,
            p,
            InputRef(p.key, p.base_asset.path, p.base_asset_id, "base image")
            if p.base_asset
            else None,
        )
        for p in panels
    ]


def resolve_panels(
    project: Project, manifest_paths: list[str], wanted: list[str] | None
) -> list[PanelTarget]:
    """The panels of a run in story order (`wanted`: keys or ids; none: every panel)."""
    if manifest_paths:
        targets = []
        for path in manifest_paths:
            norm = _clean_relative(path, "scene_refs")
            check_input_image(project, norm, "scene_refs", path)
            asset = Asset.objects.filter(project=project, path=norm).first()
            key = scene_key(asset) if asset else slugify(PurePosixPath(norm).stem)
            targets.append(
                PanelTarget(
                    key, None, InputRef(key, norm, asset.pk if asset else None, "scene_ref")
                )
            )
    else:
        targets = _panels(project)
    if not targets:
        raise GuardError(
            "This project has no panels yet: paste a script or add panels on the Story page, "
            "or upload scene images (each becomes a panel).",
            code="no_panels",
            field="panels",
        )
    if wanted:
        by_name = {t.key: t for t in targets}
        by_name.update({str(t.panel.pk): t for t in targets if t.panel})
        unknown = [str(w) for w in wanted if str(w) not in by_name]
        if unknown:
            raise GuardError(
                f"Unknown panel(s): {', '.join(unknown)}. "
                f"Panels: {', '.join(t.key for t in targets)}.",
                code="unknown_panel",
                field="panels",
            )
        chosen = {by_name[str(w)].key for w in wanted}
        targets = [t for t in targets if t.key in chosen]
    return targets


def _pick(project: Project, target: PanelTarget, stages: list[str], run_uid: str = ""):
    """The newest selected output of the latest of `stages` for the panel (optionally of one
    run): (candidate, stage) or (None, None)."""
    picks = RunCandidate.objects.filter(
        project=project, selected=True, job__run__mode="run", asset__isnull=False
    ).select_related("asset", "job__run")
    if target.panel is not None:
        picks = picks.filter(job__panel=target.panel)
    else:
        picks = picks.filter(job__scene_key=target.key)
    if run_uid:
        picks = picks.filter(job__run__uid=run_uid)
    for previous in reversed(stages):
        candidate = picks.filter(job__run__stage=previous).order_by("-created_at").first()
        if candidate is not None:
            return candidate, previous
    return None, None


def stage_input(
    project: Project, stage: str, target: PanelTarget, build_on: BuildOn | None = None
) -> InputRef | None:
    """What a job starts from (see BuildOn); None when the panel is drawn from its script."""
    build_on = build_on or BuildOn()
    chosen = build_on.candidates.get(target.key)
    if chosen is not None:
        candidate = (
            RunCandidate.objects.filter(project=project, pk=chosen, asset__isnull=False)
            .select_related("asset", "job__run")
            .first()
        )
        if candidate is None:
            raise GuardError(
                f"Panel {target.key}: candidate {chosen} is not an image of this project.",
                code="unknown_candidate",
                field="build_on",
            )
        return InputRef(
            target.key,
            candidate.asset.path,
            candidate.asset_id,
            f"c{candidate.index} of {candidate.job.run.stage} run {candidate.job.run.uid}",
        )
    if build_on.mode == "base":
        return target.base
    earlier = STAGES[: STAGES.index(stage)]
    candidate, previous = None, None
    if build_on.mode == "run" and build_on.run_uid:
        candidate, previous = _pick(project, target, list(STAGES), build_on.run_uid)
    if candidate is None:
        candidate, previous = _pick(project, target, earlier)
    if candidate is not None:
        return InputRef(
            target.key,
            candidate.asset.path,
            candidate.asset_id,
            f"{previous} run {candidate.job.run.uid}",
        )
    return target.base


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


def cast_of(panels: list[Panel]) -> dict[int, list[CastMember]]:
    """Each panel's cast with characters and outfits, in two queries."""
    members = CastMember.objects.filter(panel__in=panels).select_related("character", "outfit")
    cast: dict[int, list[CastMember]] = {p.pk: [] for p in panels}
    for member in members.order_by("position", "id"):
        cast[member.panel_id].append(member)
    return cast


def cast_refs(project: Project, members: list[CastMember]) -> list[InputRef]:
    """The reference sheets of a panel's cast: each character's own sheets, then those of the
    outfit it wears in this panel. Nobody else's."""
    if not members:
        return []
    items = (
        ReferenceSetItem.objects.filter(
            reference_set__project=project,
            reference_set__character__in=[m.character_id for m in members],
        )
        .select_related("asset", "reference_set")
        .order_by("reference_set__outfit_id", "position", "id")
    )
    by_character: dict[int, list[ReferenceSetItem]] = {}
    for item in items:
        by_character.setdefault(item.reference_set.character_id, []).append(item)
    refs = []
    for member in members:
        for item in by_character.get(member.character_id, []):
            outfit = item.reference_set.outfit_id
            if outfit is None or outfit == member.outfit_id:
                refs.append(
                    InputRef(
                        member.character.slug,
                        item.asset.path,
                        item.asset_id,
                        f"character_ref {member.character.name}"
                        + (f" / {member.outfit.name}" if outfit else ""),
                    )
                )
    return refs
