"""API routes of the universe: projects, and the tokens that reach them (/auth)."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import authenticate as check_password
from django.contrib.auth import login
from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import AuthenticationError

from projects.api_common import AUTH, ERRORS, MAX_PAGE, api_project, page_of, require_write
from projects.models import ApiToken, Project
from projects.services.projects import create_project
from projects.services.tokens import (
    SCOPES,
    authenticate,
    create_token,
    revoke_token,
    rotate_token,
    user_tokens,
)

router = Router(auth=AUTH, tags=["projects"])
auth_router = Router(tags=["auth"])


class ProjectIn(Schema):
    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1, max_length=120)
    slug: str = Field("", max_length=64)
    logline: str = Field("", max_length=300)
    setting: str = Field("", max_length=4000)
    tone: str = Field("", max_length=200)
    notes: str = Field("", max_length=20000)


class ProjectOut(Schema):
    slug: str
    name: str
    logline: str
    setting: str
    tone: str
    notes: str
    created_at: datetime
    updated_at: datetime


class ProjectList(Schema):
    items: list[ProjectOut]
    total: int
    offset: int
    limit: int


@router.get("", response={200: ProjectList, **ERRORS}, summary="The projects you can see")
def list_projects(
    request: HttpRequest,
    offset: int = Query(0, ge=0, le=1_000_000),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
):
    projects = Project.objects.visible_to(request.user).order_by("name", "pk")
    token = getattr(request, "auth", None)
    if isinstance(token, ApiToken) and token.project_id:
        projects = projects.filter(pk=token.project_id)
    items, total = page_of(projects, offset=offset, limit=limit)
    return {"items": items, "total": total, "offset": offset, "limit": limit}


@router.post("", response={201: ProjectOut, **ERRORS}, summary="Create a project")
def create(request: HttpRequest, payload: ProjectIn):
    require_write(request)
    token = getattr(request, "auth", None)
    if isinstance(token, ApiToken) and token.project_id:
        raise Http404("A token for one project cannot create projects.")
    data = payload.dict()
    project = create_project(owner=request.user, **data)
    return Status(201, project)


@router.get("/{slug}", response={200: ProjectOut, **ERRORS}, summary="One project")
def get_project(request: HttpRequest, slug: str):
    return api_project(request, slug)


# --- /auth -------------------------------------------------------------------------------


class LoginIn(Schema):
    model_config = {"extra": "forbid"}

    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=4096)


class UserOut(Schema):
    username: str


class TokenIn(Schema):
    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1, max_length=80)
    scopes: list[str] = Field(default_factory=lambda: ["read"], max_length=len(SCOPES))
    project: str | None = Field(None, description="Limit the token to this project (its slug).")
    expires_at: datetime | None = None
    username: str | None = Field(None, max_length=150, description="Without a session or token.")
    password: str | None = Field(None, max_length=4096)


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    project: str | None = Field(None, alias="project.slug")
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime


class IssuedTokenOut(Schema):
    token: str = Field(description="Shown once: store it now.")
    details: TokenOut


def _acting_user(request: HttpRequest, username: str | None, password: str | None):
    """Who asks for a token: the bearer of a token with write scope, the session, or a login."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        token = authenticate(header.removeprefix("Bearer ").strip())
        if token is None:
            raise AuthenticationError()
        request.auth = token
        request.user = token.user
        require_write(request)
        return token.user
    if request.user.is_authenticated:
        return request.user
    if username and password:
        user = check_password(request, username=username, password=password)
        if user is not None:
            return user
    raise AuthenticationError()


@auth_router.post("/login", response={200: UserOut, **ERRORS}, summary="Log in (a session)")
def api_login(request: HttpRequest, payload: LoginIn):
    user = check_password(request, username=payload.username, password=payload.password)
    if user is None:
        raise AuthenticationError()
    login(request, user)
    return user


@auth_router.post("/token", response={201: IssuedTokenOut, **ERRORS}, summary="Create a token")
def api_create_token(request: HttpRequest, payload: TokenIn):
    user = _acting_user(request, payload.username, payload.password)
    project = None
    if payload.project:
        project = Project.objects.visible_to(user).filter(slug=payload.project).first()
        if project is None:
            raise Http404("No such project.")
    issued = create_token(
        user=user,
        name=payload.name,
        scopes=payload.scopes,
        project=project,
        expires_at=payload.expires_at,
    )
    return Status(201, {"token": issued.plaintext, "details": issued.token})


@auth_router.get("/tokens", auth=AUTH, response={200: list[TokenOut], **ERRORS})
def api_list_tokens(request: HttpRequest):
    return list(user_tokens(request.user)[:MAX_PAGE])


def _own_token(request: HttpRequest, token_id: int) -> ApiToken:
    require_write(request)
    token = user_tokens(request.user).filter(pk=token_id).first()
    if token is None:
        raise Http404("No such token.")
    return token


@auth_router.post("/tokens/{token_id}/revoke", auth=AUTH, response={200: TokenOut, **ERRORS})
def api_revoke_token(request: HttpRequest, token_id: int):
    return revoke_token(token=_own_token(request, token_id), user=request.user)


@auth_router.post("/tokens/{token_id}/rotate", auth=AUTH, response={201: IssuedTokenOut, **ERRORS})
def api_rotate_token(request: HttpRequest, token_id: int):
    issued = rotate_token(token=_own_token(request, token_id), user=request.user)
    return Status(201, {"token": issued.plaintext, "details": issued.token})
