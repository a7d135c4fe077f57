"""User errors of the projects app (the base classes live in kroma.lib.errors)."""

from __future__ import annotations

from kroma.lib.errors import Conflict


class StyleLocked(Conflict):
    """A locked style guide's content (name, description, rules, references) was to change."""

    code = "style_locked"

    def __init__(self, guide_name: str, *, field: str | None = None) -> None:
        super().__init__(
            f"Style guide '{guide_name}' is locked: unlock it first (audited) to change its "
            "rules or references.",
            field=field,
        )
        self.guide_name = guide_name
