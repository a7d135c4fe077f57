"""What the CRUD routes of the API share: the page query, the list answer, a PATCH's fields."""

from __future__ import annotations

from django.db.models import QuerySet
from ninja import Field, Schema

from projects.api_common import MAX_PAGE, page_of

SLUG = r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$"  # slugs, keys: never a path
NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$"  # secret and account names: never a path


class PageQuery(Schema):
    offset: int = Field(0, ge=0, le=1_000_000)
    limit: int = Field(50, ge=1, le=MAX_PAGE)


def paged(queryset: QuerySet, page: PageQuery) -> dict[str, object]:
    """`{items, total, offset, limit}` of an ordered queryset: what every list answers."""
    items, total = page_of(queryset, offset=page.offset, limit=page.limit)
    return {"items": items, "total": total, "offset": page.offset, "limit": page.limit}


def changes(payload: Schema) -> dict[str, object]:
    """The fields a PATCH body sets (an explicit null keeps the value, like a missing one)."""
    return {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}


def by_id_or(field: str, ref: str | int) -> dict[str, object]:
    """A lookup by id when `ref` is a number, else by `field` (a slug or a name)."""
    ref = str(ref)
    return {"pk": int(ref)} if ref.isdigit() and len(ref) < 10 else {field: ref}
