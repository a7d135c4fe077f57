"""Command services for style locks, secrets and provider accounts: every change audited,
errors for the user.

A secret's value is never logged, audited or returned: only its masked hint.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from kroma.lib import crypto
from kroma.lib.errors import Conflict, UserError
from kroma.lib.providers import PROVIDERS, get_spec
from projects.models import AuditEvent, Project, ProjectSecret, ProviderAccount, StyleGuide


def lock_style_guide(*, guide: StyleGuide, user: AbstractBaseUser | None) -> StyleGuide:
    """Lock a style guide: the characters stage may run, and the guide stays as it is."""
    if guide.is_locked:
        raise Conflict(f"Style guide '{guide.name}' is already locked.", code="already_locked")
    if not guide.references.exists():
        raise UserError(
            f"Style guide '{guide.name}' has no style references: add some before locking it.",
            code="no_references",
            field="references",
        )
    with transaction.atomic():
        guide.status = StyleGuide.Status.LOCKED
        guide.save()
        AuditEvent.objects.create(
            project=guide.project,
            actor=user,
            action="style_guide.locked",
            target=guide.slug,
            data={"content_sha256": guide.content_sha256},
        )
    return guide


def unlock_style_guide(*, guide: StyleGuide, user: AbstractBaseUser | None) -> StyleGuide:
    """Back to draft, audited: the only way a locked guide's rules or references may change."""
    if not guide.is_locked:
        raise Conflict(f"Style guide '{guide.name}' is not locked.", code="not_locked")
    with transaction.atomic():
        guide.status = StyleGuide.Status.DRAFT
        guide.save()
        AuditEvent.objects.create(
            project=guide.project,
            actor=user,
            action="style_guide.unlocked",
            target=guide.slug,
            data={"content_sha256": guide.content_sha256},
        )
    return guide


def set_secret(
    *, project: Project, user: AbstractBaseUser | None, provider: str, name: str, value: str
) -> ProjectSecret:
    """Store (or replace) a project secret, encrypted with the master key."""
    provider, name = (provider or "").strip(), (name or "").strip()
    if not provider:
        raise UserError("Name the provider the secret is for.", field="provider")
    if not name:
        raise UserError("Name the secret (e.g. api_key).", field="name")
    if not value:
        raise UserError("A secret needs a value.", field="value")
    try:
        ciphertext, key_id = crypto.encrypt(value)
    except crypto.SecretKeyError as exc:
        raise UserError(str(exc), code="master_key", field="value") from None
    with transaction.atomic():
        secret, created = ProjectSecret.objects.update_or_create(
            project=project,
            provider=provider,
            name=name,
            defaults={"ciphertext": ciphertext, "key_id": key_id, "hint": crypto.mask(value)},
        )
        AuditEvent.objects.create(
            project=project,
            actor=user,
            action="secret.created" if created else "secret.replaced",
            target=f"{provider}/{name}",
            data={"hint": secret.hint, "key_id": key_id},
        )
    return secret


def delete_secret(
    *, project: Project, user: AbstractBaseUser | None, provider: str, name: str
) -> None:
    with transaction.atomic():
        deleted, _ = ProjectSecret.objects.filter(
            project=project, provider=provider, name=name
        ).delete()
        if not deleted:
            raise UserError(f"No secret {provider}/{name} in this project.", code="not_found")
        AuditEvent.objects.create(
            project=project, actor=user, action="secret.deleted", target=f"{provider}/{name}"
        )


def _checked_base_url(base_url: str) -> str:
    base_url = (base_url or "").strip()
    if base_url:
        try:
            URLValidator(schemes=["http", "https"])(base_url)
        except ValidationError:
            raise UserError(
                "Enter a full http(s) URL, e.g. https://api.openai.com/v1, or leave it empty.",
                code="invalid_url",
                field="base_url",
            ) from None
    return base_url


def _account_data(account: ProviderAccount) -> dict[str, object]:
    return {"base_url": account.base_url, "is_enabled": account.is_enabled}


def add_provider_account(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    provider: str,
    name: str = "default",
    base_url: str = "",
    is_enabled: bool = True,
) -> ProviderAccount:
    """Add where the project reaches a provider (registry: kroma.lib.providers)."""
    provider, name = (provider or "").strip(), (name or "").strip()
    if get_spec(provider) is None:
        known = ", ".join(PROVIDERS)
        raise UserError(f"Unknown provider {provider!r}; providers: {known}.", field="provider")
    if not name:
        raise UserError("Name the account (e.g. default).", field="name")
    base_url = _checked_base_url(base_url)
    if ProviderAccount.objects.filter(project=project, provider=provider, name=name).exists():
        raise Conflict(
            f"This project already has a {provider} account named {name!r}: edit that one.",
            code="account_exists",
            field="name",
        )
    with transaction.atomic():
        account = ProviderAccount.objects.create(
            project=project, provider=provider, name=name, base_url=base_url, is_enabled=is_enabled
        )
        AuditEvent.objects.create(
            project=project,
            actor=user,
            action="provider_account.created",
            target=f"{provider}/{name}",
            data=_account_data(account),
        )
    return account


def update_provider_account(
    *, account: ProviderAccount, user: AbstractBaseUser | None, base_url: str, is_enabled: bool
) -> ProviderAccount:
    account.base_url = _checked_base_url(base_url)
    account.is_enabled = is_enabled
    with transaction.atomic():
        account.save(update_fields=["base_url", "is_enabled"])
        AuditEvent.objects.create(
            project=account.project,
            actor=user,
            action="provider_account.updated",
            target=f"{account.provider}/{account.name}",
            data=_account_data(account),
        )
    return account


def delete_provider_account(*, account: ProviderAccount, user: AbstractBaseUser | None) -> None:
    with transaction.atomic():
        AuditEvent.objects.create(
            project=account.project,
            actor=user,
            action="provider_account.deleted",
            target=f"{account.provider}/{account.name}",
        )
        account.delete()
