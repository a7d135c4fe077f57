"""The asset browser's queries: filters, search, sort and one asset's lineage.

Every filter is an indexed column of Asset (stage, panel_key, run_uid, failed, rating, kind),
copied from the asset's metadata and recipe when it is saved (projects.models.assets.
browser_fields), so that a filtered page of 100k assets costs a few index reads, not a JSON scan.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from projects.models import Asset, AssetLink, CastMember, Project, ReferenceSetItem
from projects.models.assets import fold_text

INDEXED = ("kind", "stage", "panel", "run", "rating", "character")
ORDERINGS = {
    "new": ("-created_at", "-id"),
    "old": ("created_at", "id"),
    "rating": (F("rating").desc(nulls_last=True), "-created_at", "-id"),
}


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def browse_assets(*, project: Project, filters: dict[str, Any]) -> QuerySet[Asset]:
    """The project's assets matching `filters` (AssetBrowserForm's cleaned data), sorted.

    Failed candidates are left out unless `failed` is set, or the rating filter asks for
    rejected images.
    """
    assets = Asset.objects.filter(project=project)
    if not filters.get("failed"):
        assets = assets.filter(failed=False)
    elif any(filters.get(name) for name in INDEXED):
        # Every browser index starts (project, failed, ...): naming both values lets a filtered
        # page use them rather than walk all the project's assets.
        assets = assets.filter(failed__in=[False, True])
    for name, column in (("kind", "kind"), ("stage", "stage"), ("panel", "panel_key")):
        if filters.get(name):
            assets = assets.filter(**{column: filters[name]})
    if filters.get("run"):
        assets = assets.filter(run_uid=filters["run"].strip())
    if filters.get("character"):
        assets = assets.filter(_of_character(project, filters["character"]))
    rating = filters.get("rating")
    if rating == "unrated":
        assets = assets.filter(rating__isnull=True)
    elif rating == "rejected":
        assets = assets.filter(rejected=True)
    elif rating:
        assets = assets.filter(rating__gte=int(rating))
    if filters.get("since"):
        assets = assets.filter(created_at__gte=_day_start(filters["since"]))
    # 9999-12-31, the last day there is, has no day after it: nothing is after it either.
    if filters.get("until") and filters["until"] < dt.date.max:
        assets = assets.filter(created_at__lt=_day_start(filters["until"] + dt.timedelta(1)))
    if filters.get("q"):
        assets = _search(assets, filters["q"])
    return assets.order_by(*ORDERINGS.get(filters.get("sort") or "new", ORDERINGS["new"]))


def _search(assets: QuerySet[Asset], query: str) -> QuerySet[Asset]:
    """Assets whose title, file name or prompt has a word starting with each word of `query`,
    through the search index migration 0009 made: FTS5 on SQLite, a trigram index on
    PostgreSQL (a plain row scan there when pg_trgm could not be added)."""
    words = re.findall(r"\w+", fold_text(query))[:8]
    if not words:
        return assets
    if connection.vendor == "sqlite":
        match = " ".join(f'"{word}"*' for word in words)
        return assets.filter(pk__in=RawSQL(FTS_MATCH, [match]))
    if connection.vendor == "postgresql":
        for word in words:
            assets = assets.filter(search_text__regex=rf"\m{re.escape(word)}")
        return assets
    for word in words:
        assets = assets.filter(search_text__contains=word)
    return assets


FTS_MATCH = "SELECT rowid FROM projects_asset_search WHERE projects_asset_search MATCH %s"


def _of_character(project: Project, slug: str) -> Q:
    """A character's reference sheets, and the run outputs of the panels they are cast in.

    Both lists are read first (two small queries): as literal lists each side of the OR can
    use an index, where subqueries made the database test every asset of the project.
    """
    sheets = ReferenceSetItem.objects.filter(
        reference_set__project=project, reference_set__character__slug=slug
    ).values_list("asset_id", flat=True)
    panels = CastMember.objects.filter(panel__project=project, character__slug=slug)
    keys = panels.values_list("panel__key", flat=True)
    return Q(pk__in=list(sheets)) | Q(panel_key__in=list(keys))


@dataclass(frozen=True)
class Lineage:
    derived_from: list[AssetLink]  # links whose target is what this asset was made from
    derived_into: list[AssetLink]  # links whose source was made from this asset


def asset_lineage(asset: Asset) -> Lineage:
    """Both directions of an asset's derived_from links, in two queries."""
    links = AssetLink.objects.filter(
        project_id=asset.project_id, relation=AssetLink.Relation.DERIVED_FROM
    ).select_related("source__project", "target__project")
    return Lineage(
        derived_from=list(links.filter(source=asset).order_by("pk")),
        derived_into=list(links.filter(target=asset).order_by("pk")),
    )


def recipe_of(asset: Asset) -> dict[str, Any] | None:
    recipe = (asset.metadata or {}).get("recipe")
    return recipe if isinstance(recipe, dict) and recipe else None
