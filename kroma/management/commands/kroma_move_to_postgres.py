"""kroma_move_to_postgres: move this install's database (SQLite) to an empty PostgreSQL one.

    manage.py kroma_move_to_postgres postgres://kroma:pw@127.0.0.1:5432/kroma

Creates the schema in the target (migrate), copies every row of every table in dependency
order with its primary key (raw: no timestamps rewritten, no signals), resets the target's
sequences, then verifies each table by row count and a checksum of its rows. A target that
already holds rows is refused. Files are not touched: rows keep their paths, so the same
`var/projects/` (or S3) serves both. Afterwards set DATABASE_URL to the target.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import dj_database_url
from django.apps import apps
from django.core import serializers
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, transaction
from django.db.models import Model

TARGET = "kroma_target"
BATCH = 2000


def _normal(value: Any) -> Any:
    """One representation per value, whichever database it was read from."""
    if isinstance(value, memoryview | bytearray):
        value = bytes(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def table_checksum(model: type[Model], using: str) -> tuple[int, str]:
    """Rows and a sha256 of every row (ordered by primary key) of one table."""
    fields = [f.attname for f in model._meta.concrete_fields]
    digest = hashlib.sha256()
    count = 0
    rows = model._base_manager.using(using).order_by("pk").values_list(*fields)
    for row in rows.iterator(chunk_size=BATCH):
        digest.update(json.dumps([_normal(v) for v in row], default=str).encode())
        count += 1
    return count, digest.hexdigest()


def models_in_order() -> list[type[Model]]:
    """Every concrete model (auto-created m2m tables too), parents before children."""
    app_list = {
        config: list(config.get_models(include_auto_created=True))
        for config in apps.get_app_configs()
    }
    ordered = serializers.sort_dependencies(app_list.items(), allow_cycles=True)
    seen = {m for m in ordered}
    extra = [
        m
        for models in app_list.values()
        for m in models
        if m not in seen and not m._meta.proxy and m._meta.managed
    ]
    return [m for m in [*ordered, *extra] if not m._meta.proxy and m._meta.managed]


class Command(BaseCommand):
    help = "Copy this install's database into an empty PostgreSQL database, then verify it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", help="postgres://user:password@host:port/database")

    def handle(self, *args: Any, target: str, **options: Any) -> None:
        source = connections["default"]
        if source.vendor == "postgresql":
            raise CommandError("This install already uses PostgreSQL (DATABASE_URL).")
        try:
            config = dj_database_url.parse(target)
        except ValueError as exc:
            raise CommandError(f"target: {exc}") from None
        if not config["ENGINE"].endswith("postgresql"):
            raise CommandError(f"target: {target.split('@')[-1]!r} is not a PostgreSQL URL.")
        connections.databases[TARGET] = connections.configure_settings({"default": config})[
            "default"
        ]
        try:
            connections[TARGET].ensure_connection()
        except Exception as exc:
            raise CommandError(f"target: cannot connect ({exc})") from None
        with connections[TARGET].cursor() as cursor:
            existing = connections[TARGET].introspection.table_names(cursor)
        if existing:
            raise CommandError(
                f"The target is not empty (it has {len(existing)} tables, e.g. "
                f"{sorted(existing)[0]}): move into a new, empty database."
            )
        self.stdout.write("Creating the schema in the target…")
        call_command("migrate", database=TARGET, verbosity=0, interactive=False)
        models = models_in_order()
        self._refuse_non_empty(models)
        # One transaction: PostgreSQL checks Django's (deferred) foreign keys at its end, so the
        # order of tables does not matter, and a failure leaves the target as it was.
        with transaction.atomic(using=TARGET):
            for model in models:
                self._copy(model)
        self._reset_sequences(models)
        self._verify(models)
        self.stdout.write(
            self.style.SUCCESS(
                "Done. Set DATABASE_URL to the target and restart Kroma; files stay where they are."
            )
        )

    def _refuse_non_empty(self, models: list[type[Model]]) -> None:
        # Migrations write their own rows (content types, permissions): those are replaced.
        own = {"contenttypes.contenttype", "auth.permission"}
        for model in models:
            if model._meta.label_lower in own:
                continue
            if model._base_manager.using(TARGET).exists():
                raise CommandError(
                    f"The target is not empty ({model._meta.db_table} has rows): "
                    "move into a new, empty database."
                )

    def _copy(self, model: type[Model]) -> None:
        fields = list(model._meta.concrete_fields)
        manager = model._base_manager
        if model._meta.label_lower in ("contenttypes.contenttype", "auth.permission"):
            manager.using(TARGET).all().delete()  # migrate's own rows: the source's replace them
        batch: list[Model] = []
        copied = 0
        for obj in manager.using("default").order_by("pk").iterator(chunk_size=BATCH):
            batch.append(obj)
            if len(batch) >= BATCH:
                copied += self._insert(model, batch, fields)
                batch = []
        copied += self._insert(model, batch, fields)
        if copied:
            self.stdout.write(f"  {model._meta.db_table}: {copied} rows")

    def _insert(self, model: type[Model], batch: list[Model], fields: list) -> int:
        if batch:
            # raw=True: values as stored (no auto_now, no defaults), like loaddata.
            model._base_manager.using(TARGET)._insert(batch, fields=fields, raw=True)
        return len(batch)

    def _reset_sequences(self, models: list[type[Model]]) -> None:
        connection = connections[TARGET]
        statements = connection.ops.sequence_reset_sql(self.style, models)
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)

    def _verify(self, models: list[type[Model]]) -> None:
        self.stdout.write("Verifying (rows and a checksum per table)…")
        problems = []
        for model in models:
            here = table_checksum(model, "default")
            there = table_checksum(model, TARGET)
            if here != there:
                problems.append(
                    f"{model._meta.db_table}: {here[0]} rows here, {there[0]} in the target"
                    + (" (same count, different content)" if here[0] == there[0] else "")
                )
            elif here[0]:
                self.stdout.write(
                    f"  {model._meta.db_table}: {here[0]} rows, sha256 {here[1][:16]}"
                )
        if problems:
            raise CommandError("The copy differs:\n  " + "\n  ".join(problems))
