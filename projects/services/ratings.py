"""Ratings (1-5) and rejects on a project's images: the artist's judgement, audited.

Ranking uses the rating as a tie-breaker after QA (pipeline.qa.ranking_key); browsers filter and
sort by it. Views, bulk actions, the API and the copilot all call `rate_assets`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from kroma.lib.errors import UserError
from kroma.lib.ids import parse_ids
from projects.models import Asset, Project
from projects.services.records import audit

UNCHANGED = object()


@dataclass(frozen=True)
class RatingResult:
    updated: int
    rating: int | object | None
    rejected: bool | object


def _check_rating(rating: object) -> int | None:
    """1-5, or None to clear: None, "", 0 and "0" (what a form's clear button sends) clear."""
    if rating is None or str(rating).strip() in ("", "0"):
        return None
    try:
        value = int(rating)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise UserError(
            f"A rating is a whole number from 1 to 5 (got {rating!r}).", field="rating"
        ) from None
    if not 1 <= value <= 5:
        raise UserError(f"A rating is from 1 to 5 (got {value}).", field="rating")
    return value


@transaction.atomic
def rate_assets(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    asset_ids: Iterable[int],
    rating: object = UNCHANGED,
    rejected: object = UNCHANGED,
) -> RatingResult:
    """Set the rating (1-5, or None/0 to clear) and/or the reject flag of the project's assets.

    Only the project's own assets are touched (an id of another project is an error, not a
    silent skip); one audit event records the change.
    """
    ids = sorted(parse_ids(asset_ids, field="assets", what="images"))
    if not ids:
        raise UserError("Choose at least one image.", field="assets")
    changes: dict[str, object] = {}
    if rating is not UNCHANGED:
        changes["rating"] = _check_rating(rating)
    if rejected is not UNCHANGED:
        changes["rejected"] = bool(rejected)
    if not changes:
        raise UserError("Nothing to change: give a rating or a reject flag.", field="rating")
    found = Asset.objects.filter(project=project, pk__in=ids)
    if found.count() != len(ids):
        raise UserError("Some of these images are not in this project.", field="assets")
    updated = found.update(**changes)
    audit(project, user, "asset.rate", ",".join(map(str, ids))[:200], assets=ids, **changes)
    return RatingResult(
        updated=updated,
        rating=changes.get("rating", UNCHANGED),
        rejected=changes.get("rejected", UNCHANGED),
    )
