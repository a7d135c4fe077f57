"""One base class for every error a user should read: a stable code, a message, the field.

Services raise a UserError (or a subclass) for anything the user can fix or should know; the
browser shows the message next to the field, the API maps it to
`{"error": {"code", "message", "field"}}`, and the work engine ends an item `failed` with it.
Any other exception is a bug: the engine ends the item `errored` and keeps the traceback.
"""

from __future__ import annotations

from kroma.lib.redact import redact


class UserError(Exception):
    """An expected failure with a user-facing message (what happened and what to do)."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        message = redact(message)  # it is shown, stored and logged: never with a key in it
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}


class NotAllowed(UserError):
    """The acting user may not do this (or the thing is in a state that forbids it)."""

    code = "not_allowed"


class Conflict(UserError):
    """The thing changed under us (already confirmed, still running, locked)."""

    code = "conflict"
