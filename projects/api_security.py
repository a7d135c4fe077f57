"""API routes of provider accounts and secrets (mounted by api_universe).

A secret is answered masked (provider, name, hint, updated_at): its value is write-only.
Provider and secret names are plain words (letters, digits, '-', '_'), never a path.
"""

from __future__ import annotations

from datetime import datetime

from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import field_validator

from kroma.lib.providers import PROVIDERS, get_spec
from projects.api_common import ERRORS, api_project
from projects.api_crud import NAME, SLUG, PageQuery, changes, paged
from projects.models import Project, ProjectSecret, ProviderAccount
from projects.services import security

router = Router(tags=["provider accounts and secrets"])


def _known_provider(value: str) -> str:
    if get_spec(value) is None:
        raise ValueError(f"unknown provider; providers: {', '.join(PROVIDERS)}")
    return value


class AccountOut(Schema):
    id: int
    provider: str
    name: str
    base_url: str
    is_enabled: bool
    created_at: datetime


class AccountList(Schema):
    items: list[AccountOut]
    total: int
    offset: int
    limit: int


class AccountIn(Schema):
    model_config = {"extra": "forbid"}

    provider: str = Field(max_length=12, pattern=SLUG)
    name: str = Field("default", max_length=80, pattern=NAME)
    base_url: str = Field("", max_length=200)
    is_enabled: bool = True

    _provider = field_validator("provider")(_known_provider)


class AccountPatch(Schema):
    model_config = {"extra": "forbid"}

    base_url: str | None = Field(None, max_length=200)
    is_enabled: bool | None = None


def account_of(project: Project, account_id: int) -> ProviderAccount:
    account = ProviderAccount.objects.filter(project=project, pk=account_id).first()
    if account is None:
        raise Http404("No such provider account.")
    return account


@router.get("/{slug}/provider-accounts", response={200: AccountList, **ERRORS})
def list_accounts(request: HttpRequest, slug: str, page: Query[PageQuery]):
    accounts = ProviderAccount.objects.filter(project=api_project(request, slug))
    return paged(accounts.order_by("provider", "name", "pk"), page)


@router.post("/{slug}/provider-accounts", response={201: AccountOut, **ERRORS})
def create_account(request: HttpRequest, slug: str, payload: AccountIn):
    project = api_project(request, slug, write=True)
    account = security.add_provider_account(project=project, user=request.user, **payload.dict())
    return Status(201, account)


@router.get("/{slug}/provider-accounts/{account_id}", response={200: AccountOut, **ERRORS})
def get_account(request: HttpRequest, slug: str, account_id: int):
    return account_of(api_project(request, slug), account_id)


@router.patch("/{slug}/provider-accounts/{account_id}", response={200: AccountOut, **ERRORS})
def update_account(request: HttpRequest, slug: str, account_id: int, payload: AccountPatch):
    account = account_of(api_project(request, slug, write=True), account_id)
    wanted = {"base_url": account.base_url, "is_enabled": account.is_enabled, **changes(payload)}
    return security.update_provider_account(account=account, user=request.user, **wanted)


@router.delete("/{slug}/provider-accounts/{account_id}", response={204: None, **ERRORS})
def delete_account(request: HttpRequest, slug: str, account_id: int):
    account = account_of(api_project(request, slug, write=True), account_id)
    security.delete_provider_account(account=account, user=request.user)
    return Status(204, None)


class SecretOut(Schema):
    """A secret as the API shows it: masked. Its value is never answered."""

    provider: str
    name: str
    hint: str
    updated_at: datetime


class SecretList(Schema):
    items: list[SecretOut]
    total: int
    offset: int
    limit: int


class SecretIn(Schema):
    model_config = {"extra": "forbid"}

    provider: str = Field(max_length=40, pattern=SLUG)
    name: str = Field("api_key", max_length=80, pattern=NAME)
    value: str = Field(min_length=1, max_length=4000, description="Write-only.")

    _provider = field_validator("provider")(_known_provider)


@router.get("/{slug}/secrets", response={200: SecretList, **ERRORS}, summary="Secrets (masked)")
def list_secrets(request: HttpRequest, slug: str, page: Query[PageQuery]):
    secrets = ProjectSecret.objects.filter(project=api_project(request, slug))
    secrets = secrets.only("provider", "name", "hint", "updated_at")
    return paged(secrets.order_by("provider", "name", "pk"), page)


@router.post("/{slug}/secrets", response={201: SecretOut, **ERRORS}, summary="Set a secret")
def set_secret(request: HttpRequest, slug: str, payload: SecretIn):
    project = api_project(request, slug, write=True)
    return Status(201, security.set_secret(project=project, user=request.user, **payload.dict()))


@router.delete("/{slug}/secrets/{provider}/{name}", response={204: None, **ERRORS})
def delete_secret(request: HttpRequest, slug: str, provider: str, name: str):
    project = api_project(request, slug, write=True)
    if not ProjectSecret.objects.filter(project=project, provider=provider, name=name).exists():
        raise Http404("No such secret.")
    security.delete_secret(project=project, user=request.user, provider=provider, name=name)
    return Status(204, None)
