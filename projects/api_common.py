"""What every API router shares: authentication, scopes, the project lookup, errors, pages.

Requests carry either a bearer token (`Authorization: Bearer kroma_…`, no session, no CSRF) or
the browser's session (CSRF applies). `api_project` is the one way a route reaches a project:
another user's project, or another project than a token's own, is a 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from django.http import Http404, HttpRequest
from ninja import Field, Schema
from ninja.security import APIKeyCookie, HttpBearer

from kroma.lib.errors import NotAllowed
from kroma.lib.ids import MAX_ID
from projects.models import ApiToken, Project
from projects.services.tokens import authenticate

MAX_PAGE = 200  # the most items one page of a list returns
# A row id in a body: 1..2**63-1 (kroma.lib.ids; a larger one cannot even be bound by SQLite).
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]


class TokenAuth(HttpBearer):
    """`Authorization: Bearer kroma_…`: the token's user acts, within the token's scopes."""

    openapi_scheme = "bearer"

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        found = authenticate(token)
        if found is not None:
            request.user = found.user
        return found


class SessionAuth(APIKeyCookie):
    """The browser's login session; unsafe methods need the CSRF token, as on every page."""

    param_name = "sessionid"

    def __init__(self) -> None:
        super().__init__(csrf=True)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        return user if user is not None and user.is_authenticated else None


AUTH = [TokenAuth(), SessionAuth()]


def token_of(request: HttpRequest) -> ApiToken | None:
    return request.auth if isinstance(getattr(request, "auth", None), ApiToken) else None


def require_write(request: HttpRequest) -> None:
    """Writes need a token with the `write` scope (the browser's session may write)."""
    token = token_of(request)
    if token is not None and "write" not in (token.scopes or []):
        raise NotAllowed("This token may only read: create one with the write scope.")


def api_project(request: HttpRequest, slug: str, *, write: bool = False) -> Project:
    """The project `slug` if the acting user may see it (and the token is not for another)."""
    if write:
        require_write(request)
    token = token_of(request)
    projects = Project.objects.visible_to(request.user).select_related("storage")
    if token is not None and token.project_id:
        projects = projects.filter(pk=token.project_id)
    project = projects.filter(slug=slug).first()
    if project is None:
        raise Http404("No such project.")
    return project


class ErrorBody(Schema):
    code: str
    message: str
    field: str | None = None


class ErrorOut(Schema):
    """Every error of the API: `{"error": {"code", "message", "field"}}`."""

    error: ErrorBody


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def page_of(queryset: Any, *, offset: int, limit: int) -> tuple[list[Any], int]:
    """One page of an ordered queryset and its total (offset/limit checked by the route)."""
    total = queryset.count()
    return list(queryset[offset : offset + limit]), total
