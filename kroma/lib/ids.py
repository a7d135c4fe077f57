"""Row ids that come from input (forms, query strings, JSON): one parser for all of them.

A database id is a positive 64-bit integer. Anything else ("abc", "-1", "1.5", a 20-digit number
that SQLite cannot even bind) is refused here as the user's mistake, never passed to a query.
"""

from __future__ import annotations

from collections.abc import Iterable

from kroma.lib.errors import UserError

MAX_ID = 2**63 - 1


def parse_id(value: object) -> int | None:
    """The id in `value` (an int or a string of digits), or None when it is not a valid id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    else:
        return None
    return number if 1 <= number <= MAX_ID else None


def parse_ids(values: Iterable[object], *, field: str, what: str = "ids") -> list[int]:
    """Every value as an id, in order and without repeats; a UserError at `field` otherwise."""
    ids: list[int] = []
    for value in values:
        number = parse_id(value)
        if number is None:
            raise UserError(
                f"The {what} must be given by their ids (whole numbers from 1), not {value!r}.",
                field=field,
            )
        ids.append(number)
    return list(dict.fromkeys(ids))
