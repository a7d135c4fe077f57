"""Asset links made by hand (the API): both ends assets of the project, each change audited.

The pipeline writes its own derived_from links as it makes outputs; these are the artist's
(a variant of, a reference of, or derived from an image made elsewhere).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from kroma.lib.errors import Conflict, UserError
from projects.models import Asset, AssetLink, Project
from projects.services.records import audit


def _asset(project: Project, asset_id: int, field: str) -> Asset:
    asset = Asset.objects.filter(project=project, pk=asset_id).first()
    if asset is None:
        raise UserError(f"No asset {asset_id} in this project.", code="not_found", field=field)
    return asset


def link_assets(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    source_id: int,
    target_id: int,
    relation: str,
    metadata: dict[str, Any] | None = None,
) -> AssetLink:
    """Link `source` to `target` (source <relation> target, e.g. "12 variant_of 7")."""
    if relation not in AssetLink.Relation.values:
        choices = ", ".join(AssetLink.Relation.values)
        raise UserError(f"Choose a relation: {choices}.", field="relation")
    source = _asset(project, source_id, "source")
    target = _asset(project, target_id, "target")
    if source.pk == target.pk:
        raise UserError("An asset cannot be linked to itself.", field="target")
    with transaction.atomic():
        if AssetLink.objects.filter(source=source, target=target, relation=relation).exists():
            raise Conflict(
                f"Asset {source.pk} is already {relation} {target.pk}.",
                code="exists",
                field="target",
            )
        link = AssetLink.objects.create(
            project=project,
            source=source,
            target=target,
            relation=relation,
            metadata=metadata or {},
        )
        audit(
            project,
            user,
            "asset_link.created",
            f"link {link.pk}",
            source_asset=source.pk,
            target_asset=target.pk,
            relation=relation,
        )
    return link


def unlink_assets(*, project: Project, user: AbstractBaseUser | None, link: AssetLink) -> None:
    """Remove one link of the project (its assets stay)."""
    if link.project_id != project.pk:
        raise UserError(f"No link {link.pk} in this project.", code="not_found", field="id")
    data = {
        "source_asset": link.source_id,
        "target_asset": link.target_id,
        "relation": link.relation,
    }
    with transaction.atomic():
        AssetLink.objects.filter(pk=link.pk).delete()
        audit(project, user, "asset_link.deleted", f"link {link.pk}", **data)
