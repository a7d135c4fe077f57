"""kroma_rotate_secrets: re-encrypt every project secret under the newest master key.

Put the new key first in IAT_MASTER_KEY (or the first line of IAT_MASTER_KEY_FILE), keep the old
one after it, run this, then remove the old key. Safe to interrupt and run again.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kroma.lib.crypto import SecretKeyError
from projects.services.secret_keys import RotationResult, rotate_secrets


class Command(BaseCommand):
    help = "Re-encrypt project secrets under the newest master key (in batches, resumable)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=100, help="Rows per transaction.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")

        def progress(result: RotationResult) -> None:
            self.stdout.write(f"… {result.rotated} re-encrypted so far")

        try:
            result = rotate_secrets(batch_size=options["batch_size"], on_batch=progress)
        except SecretKeyError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Newest key {result.key_id}: {result.rotated} re-encrypted, "
            f"{result.current} already under it, {len(result.unreadable)} unreadable."
        )
        if result.unreadable:
            for name in result.unreadable:
                self.stderr.write(f"  no configured key opens {name}")
            raise CommandError(
                "Some secrets could not be opened: add back the key they were written with "
                "(after the newest) and run again, or set those secrets anew."
            )
