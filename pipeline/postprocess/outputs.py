"""Where step outputs are kept: a project's assets (with links), or a scratch folder (the Lab)."""

from __future__ import annotations

import io
from pathlib import Path

from django.db import IntegrityError, transaction
from PIL import Image

from pipeline.postprocess.base import Artifact
from pipeline.postprocess.pixels import sha256
from pipeline.recipes import derived_recipe, with_recipe
from projects.models import Asset, AssetLink, Project
from projects.storage import read_file, storage_for, write_file_atomic


def derived_path(step: str, key: str) -> str:
    return f"derived/{step}/{key[:2]}/{key}.png"


class ProjectOutputs:
    """Each output is an Asset of kind 'derived' with a derived_from link to its input."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def lookup(self, step: str, key: str) -> Artifact | None:
        path = derived_path(step, key)
        asset = Asset.objects.filter(
            project=self.project, kind=Asset.Kind.DERIVED, path=path
        ).first()
        if asset is None or not storage_for(self.project).exists(path):
            return None
        return Artifact(read_file(self.project, path), asset.sha256, asset)

    def save(self, step: str, key: str, data: bytes, source: Artifact, notes: dict) -> Artifact:
        path = derived_path(step, key)
        recipe = derived_recipe(source.ref, step, key)
        if recipe:  # the source's recipe, plus this step, in the file and on the row
            data = with_recipe(data, recipe)
            notes = {**notes, "recipe": recipe}
        write_file_atomic(self.project, path, data)
        with Image.open(io.BytesIO(data)) as image:
            width, height, mode = image.width, image.height, image.mode
        digest = sha256(data)
        try:
            with transaction.atomic():
                asset, _ = Asset.objects.get_or_create(
                    project=self.project,
                    kind=Asset.Kind.DERIVED,
                    path=path,
                    defaults={
                        "sha256": digest,
                        "size_bytes": len(data),
                        "width": width,
                        "height": height,
                        "mime": "image/png",
                        "title": f"{step} {key[:10]}",
                        "metadata": {"step": step, "step_key": key, "mode": mode, **notes},
                    },
                )
                if isinstance(source.ref, Asset) and source.ref.pk != asset.pk:
                    AssetLink.objects.get_or_create(
                        project=self.project,
                        source=asset,
                        target=source.ref,
                        relation=AssetLink.Relation.DERIVED_FROM,
                        defaults={"metadata": {"step": step}},
                    )
        except IntegrityError:
            asset = Asset.objects.get(project=self.project, kind=Asset.Kind.DERIVED, path=path)
        return Artifact(data, digest, asset)


class FolderOutputs:
    """Outputs as files in one folder (the Lab's per-user scratch area)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, step: str, key: str) -> Path:
        return self.folder / f"{step}-{key[:16]}.png"

    def lookup(self, step: str, key: str) -> Artifact | None:
        path = self._path(step, key)
        if not path.is_file():
            return None
        data = path.read_bytes()
        return Artifact(data, sha256(data), path)

    def save(self, step: str, key: str, data: bytes, source: Artifact, notes: dict) -> Artifact:
        path = self._path(step, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return Artifact(data, sha256(data), path)
