"""The JSON API: one NinjaAPI, routers per app, one error shape.

Paths follow the seed's contract (`/api/projects/...`, `/auth/token`); the OpenAPI document is
served at /api/openapi.json, its docs at /api/docs, and committed as
openapi/backend-api.openapi.yaml (`manage.py kroma_openapi` writes it; a test compares).
Every error answers `{"error": {"code", "message", "field"}}`.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from kroma.lib.errors import Conflict, NotAllowed, UserError

api = NinjaAPI(
    title="Kroma API",
    version="1",
    description=(
        "Kroma's JSON API. Authenticate with `Authorization: Bearer kroma_…` (a token from a "
        "project's Settings or `manage.py kroma_token`) or the browser's session. Every error "
        'is `{"error": {"code", "message", "field"}}`.'
    ),
    openapi_url="/api/openapi.json",
    docs_url="/api/docs",
    urls_namespace="api",
)


def error(request: HttpRequest, status: int, code: str, message: str, field: str | None = None):
    body = {"error": {"code": code, "message": message, "field": field}}
    return api.create_response(request, body, status=status)


def _field(loc: list | tuple) -> str:
    """A validation error's place as a JSON path (`body.panels[2].cast`), without the wrapper."""
    parts = [str(p) for p in loc if p not in ("body", "payload", "query", "path")]
    path = ""
    for part in parts:
        path += f"[{part}]" if part.isdigit() else (f".{part}" if path else part)
    return path


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    field = _field(first.get("loc", ())) or None
    message = first.get("msg", "invalid input")
    if field:
        message = f"{field}: {message}"
    return error(request, 422, "invalid", message, field)


@api.exception_handler(UserError)
def _user_error(request: HttpRequest, exc: UserError) -> HttpResponse:
    status = 403 if isinstance(exc, NotAllowed) else 409 if isinstance(exc, Conflict) else 400
    return error(request, status, exc.code, exc.message, exc.field)


@api.exception_handler(DjangoValidationError)
def _model_invalid(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    if hasattr(exc, "message_dict"):
        field, messages = next(iter(exc.message_dict.items()))
        return error(request, 400, "invalid", " ".join(messages), field)
    return error(request, 400, "invalid", " ".join(exc.messages))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error(request, 404, "not_found", str(exc) or "Not found.")


@api.exception_handler(PermissionDenied)
def _denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return error(request, 403, "not_allowed", str(exc) or "Not allowed.")


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = error(
        request,
        401,
        "unauthenticated",
        "Send a valid token (Authorization: Bearer kroma_…) or log in; this one is missing, "
        "unknown, expired or revoked.",
    )
    response["WWW-Authenticate"] = 'Bearer realm="kroma"'
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    codes = {400: "invalid", 403: "not_allowed", 404: "not_found", 405: "method_not_allowed"}
    return error(request, exc.status_code, codes.get(exc.status_code, "error"), str(exc))


def _routers() -> None:
    from pipeline.api import router as pipeline_router
    from pipeline.api_prompts import router as prompts_router
    from projects import api_assets, api_storage, api_universe
    from projects.api import auth_router
    from projects.api import router as projects_router

    api.add_router("/api/projects", projects_router)
    api.add_router("/api/projects", pipeline_router)
    api.add_router("/api/projects", api_assets.router)
    api.add_router("/api/projects", api_universe.router)
    api.add_router("/api/projects", prompts_router)
    api.add_router("/api/projects", api_storage.router)
    api.add_router("/auth", auth_router)


_routers()
