"""API tokens: created (shown once), checked, revoked and rotated.

A token reads `kroma_<prefix>_<secret>`; only its prefix and the SHA-256 digest of the whole
token are stored, so a leaked database gives no usable token. Scopes are `read` and `write`; a
token may be limited to one project and may expire. Every change is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from kroma.lib.errors import NotAllowed, UserError
from projects.models import ApiToken, Project
from projects.services.records import audit

TOKEN_PREFIX = "kroma_"
SCOPES = ("read", "write")
# last_used_at is written at most this often per token (a busy script is not a write per call).
LAST_USED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str  # shown once, never stored


def digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _scopes(scopes: list[str] | tuple[str, ...] | None) -> list[str]:
    chosen = list(dict.fromkeys(scopes or ["read"]))
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown:
        raise UserError(
            f"Unknown scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}.", field="scopes"
        )
    if "write" in chosen and "read" not in chosen:
        chosen.insert(0, "read")  # writing implies reading
    return chosen


def create_token(
    *,
    user: AbstractBaseUser,
    name: str,
    scopes: list[str] | None = None,
    project: Project | None = None,
    expires_at: datetime | None = None,
) -> IssuedToken:
    """A new token for `user` (limited to `project` when given). The plaintext is returned once."""
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise UserError("Give the token a name of 1 to 80 characters.", field="name")
    if expires_at is not None and expires_at <= timezone.now():
        raise UserError("The expiry date must be in the future.", field="expires_at")
    if project is not None and not Project.objects.visible_to(user).filter(pk=project.pk).exists():
        raise NotAllowed("You cannot make a token for this project.", field="project")
    prefix = secrets.token_hex(4)
    plaintext = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            project=project,
            name=name,
            prefix=prefix,
            digest=digest(plaintext),
            scopes=_scopes(scopes),
            expires_at=expires_at,
        )
        audit(
            project,
            user,
            "token.created",
            f"{name} ({prefix})",
            token=token.pk,
            scopes=token.scopes,
            expires_at=expires_at.isoformat() if expires_at else None,
        )
    return IssuedToken(token, plaintext)


def authenticate(plaintext: str) -> ApiToken | None:
    """The active token this plaintext is, or None (unknown, malformed, revoked or expired)."""
    if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 200:
        return None
    wanted = digest(plaintext)
    token = ApiToken.objects.active().select_related("user", "project").filter(digest=wanted)
    token = token.first()
    if token is None or not hmac.compare_digest(token.digest, wanted):
        return None
    if not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def revoke_token(*, token: ApiToken, user: AbstractBaseUser | None) -> ApiToken:
    """Revoke a token now (repeating it is harmless)."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit(
            token.project, user, "token.revoked", f"{token.name} ({token.prefix})", token=token.pk
        )
    return token


def rotate_token(*, token: ApiToken, user: AbstractBaseUser) -> IssuedToken:
    """A new token with the same name, scopes, project and expiry; the old one is revoked."""
    if token.revoked_at is not None:
        raise UserError("This token is revoked: create a new one.", code="revoked", field="token")
    if token.expires_at is not None and token.expires_at <= timezone.now():
        raise UserError("This token has expired: create a new one.", code="expired", field="token")
    with transaction.atomic():
        issued = create_token(
            user=token.user,
            name=token.name,
            scopes=token.scopes,
            project=token.project,
            expires_at=token.expires_at,
        )
        revoke_token(token=token, user=user)
        audit(token.project, user, "token.rotated", token.name, old=token.pk, new=issued.token.pk)
    return issued


def user_tokens(user: AbstractBaseUser, project: Project | None = None):
    """The user's tokens (for one project: that project's and the unscoped ones), newest first."""
    tokens = ApiToken.objects.filter(user=user).select_related("project")
    if project is not None:
        from django.db.models import Q

        tokens = tokens.filter(Q(project=project) | Q(project__isnull=True))
    return tokens.order_by("-created_at", "-pk")
