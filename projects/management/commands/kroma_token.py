"""kroma_token: create, list, revoke and rotate API tokens from the command line.

The plaintext is printed only by `create` and `rotate`, once; `list` shows prefixes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from kroma.lib.errors import UserError
from projects.models import ApiToken, Project
from projects.services.tokens import IssuedToken, create_token, revoke_token, rotate_token


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _state(token: ApiToken) -> str:
    if token.revoked_at:
        return "revoked"
    if token.expires_at and token.expires_at <= timezone.now():
        return "expired"
    return "active"


class Command(BaseCommand):
    help = "API tokens: create (prints the token once), list, revoke PREFIX, rotate PREFIX."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="A new token; its plaintext is printed once.")
        create.add_argument("--user", required=True, help="The user the token acts as.")
        create.add_argument("--name", required=True, help="What the token is for.")
        create.add_argument("--scopes", default="read", help="read, or read,write (default read).")
        create.add_argument("--project", help="Limit the token to this project (its slug).")
        create.add_argument("--expires-days", type=int, help="Expire after this many days.")
        listing = sub.add_parser("list", help="Tokens (prefix, scopes, project, state).")
        listing.add_argument("--user", help="Only this user's tokens.")
        for action in ("revoke", "rotate"):
            one = sub.add_parser(action, help=f"{action.title()} the token with this prefix.")
            one.add_argument("prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "create":
                self._print_issued(self._create(options))
            elif action == "list":
                self._list(options.get("user"))
            elif action == "revoke":
                token = revoke_token(token=self._by_prefix(options["prefix"]), user=None)
                self.stdout.write(f"Revoked {token.name} ({token.prefix}).")
            else:
                token = self._by_prefix(options["prefix"])
                self._print_issued(rotate_token(token=token, user=token.user))
                self.stderr.write(f"The old token {token.prefix} is revoked.")
        except UserError as exc:
            raise CommandError(exc.message) from None

    def _create(self, options: dict[str, Any]) -> IssuedToken:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user {options['user']!r}.")
        project = None
        if options.get("project"):
            project = Project.objects.filter(slug=options["project"]).first()
            if project is None:
                raise CommandError(f"No project {options['project']!r}.")
        days = options.get("expires_days")
        if days is not None and not 1 <= days <= 3650:
            raise CommandError("--expires-days must be between 1 and 3650.")
        return create_token(
            user=user,
            name=options["name"],
            scopes=[s.strip() for s in options["scopes"].split(",") if s.strip()],
            project=project,
            expires_at=timezone.now() + timedelta(days=days) if days else None,
        )

    def _print_issued(self, issued: IssuedToken) -> None:
        token = issued.token
        where = token.project.slug if token.project else "all the user's projects"
        # The plaintext alone on stdout (scripts capture it); the notes go to stderr.
        self.stdout.write(issued.plaintext)
        self.stderr.write(
            f"Token {token.name} ({token.prefix}) for {token.user}: {','.join(token.scopes)} "
            f"on {where}, expires {_when(token.expires_at)}. Store it now: it is not shown again."
        )

    def _by_prefix(self, prefix: str) -> ApiToken:
        found = list(ApiToken.objects.filter(prefix=prefix).select_related("user", "project")[:2])
        if not found:
            raise CommandError(f"No token with prefix {prefix!r} (see `kroma_token list`).")
        if len(found) > 1:
            raise CommandError(f"More than one token has prefix {prefix!r}: revoke it in Settings.")
        return found[0]

    def _list(self, username: str | None) -> None:
        tokens = ApiToken.objects.select_related("user", "project").order_by("-created_at", "-pk")
        if username:
            tokens = tokens.filter(user__username=username)
        self.stdout.write("prefix    user  name  scopes  project  expires  last used  state")
        for t in tokens:
            self.stdout.write(
                f"{t.prefix}  {t.user}  {t.name}  {','.join(t.scopes)}  "
                f"{t.project.slug if t.project else '*'}  {_when(t.expires_at)}  "
                f"{_when(t.last_used_at)}  {_state(t)}"
            )
