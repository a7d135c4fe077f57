"""Command services for style locks and secrets: every change audited, errors for the user.

A secret's value is never logged, audited or returned: only its masked hint.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from kroma.lib import crypto
from kroma.lib.errors import Conflict, UserError
from projects.models import AuditEvent, Project, ProjectSecret, StyleGuide


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
            project=guide.project, actor=user, action="style_guide.locked", target=guide.slug
        )
    return guide


def unlock_style_guide(*, guide: StyleGuide, user: AbstractBaseUser | None) -> StyleGuide:
    if not guide.is_locked:
        raise Conflict(f"Style guide '{guide.name}' is not locked.", code="not_locked")
    with transaction.atomic():
        guide.status = StyleGuide.Status.DRAFT
        guide.save()
        AuditEvent.objects.create(
            project=guide.project, actor=user, action="style_guide.unlocked", target=guide.slug
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
