"""Re-encrypt project secrets under the newest master key (key rotation).

Rows are read in batches by primary key and each batch is written in one short transaction, so
a run that is interrupted keeps what it did and a second run carries on: rows already under the
newest key id are not read again. A row replaced meanwhile (set_secret writes the newest key) is
left alone, because the update is conditional on the key id it was read with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

from kroma.lib import crypto
from projects.models import ProjectSecret
from projects.services.records import audit


@dataclass
class RotationResult:
    key_id: str  # the newest key: what every row is under afterwards
    rotated: int = 0
    current: int = 0  # already under the newest key (skipped)
    unreadable: list[str] = field(default_factory=list)  # "<project>:<provider>/<name>"


def rotate_secrets(
    *, batch_size: int = 100, on_batch: Callable[[RotationResult], None] | None = None
) -> RotationResult:
    """Re-encrypt every ProjectSecret not under the newest key; audited per secret.

    `on_batch` is called after each committed batch (progress output; tests interrupt there).
    A secret no configured key opens is counted in `unreadable` and left as it is.
    """
    newest = crypto.newest_key_id()
    result = RotationResult(key_id=newest)
    result.current = ProjectSecret.objects.filter(key_id=newest).count()
    last_pk = 0
    while True:
        batch = list(
            ProjectSecret.objects.filter(pk__gt=last_pk)
            .exclude(key_id=newest)
            .select_related("project")
            .order_by("pk")[:batch_size]
        )
        if not batch:
            return result
        last_pk = batch[-1].pk
        rewritten = []
        for secret in batch:  # decrypt and encrypt first, then write in one short transaction
            try:
                ciphertext, kid = crypto.rotate(secret.ciphertext)
            except crypto.SecretKeyError:
                result.unreadable.append(f"{secret.project.slug}:{secret.provider}/{secret.name}")
                continue
            rewritten.append((secret, ciphertext, kid))
        with transaction.atomic():
            for secret, ciphertext, kid in rewritten:
                updated = ProjectSecret.objects.filter(pk=secret.pk, key_id=secret.key_id).update(
                    ciphertext=ciphertext, key_id=kid
                )
                if not updated:
                    continue  # replaced (or deleted) since it was read
                audit(
                    secret.project,
                    None,
                    "secret.reencrypted",
                    f"{secret.provider}/{secret.name}",
                    from_key=secret.key_id,
                    to_key=kid,
                )
                result.rotated += 1
        if on_batch is not None:
            on_batch(result)
