"""A database of its own for a test that starts real processes (qcluster, manage.py).

On the SQLite pass it is a file in the test's KROMA_VAR_DIR; on the PostgreSQL pass (the test
run's DATABASE_URL points at PostgreSQL) it is a new database on that server, dropped after.
`postgres_server()` names a PostgreSQL server for tests that need one on either pass.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dj_database_url
from django.conf import settings


@dataclass
class ProcessDatabase:
    env: dict[str, str]  # what the processes' environment needs (DATABASE_URL, or nothing)
    rows: Callable[[str], list[tuple]]


def postgres_server() -> dict | None:
    """The PostgreSQL server of this test run: DATABASE_URL's, else KROMA_TEST_POSTGRES_URL."""
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return dict(settings.DATABASES["default"])
    url = os.environ.get("KROMA_TEST_POSTGRES_URL")
    return dj_database_url.parse(url) if url else None


def _connect(server: dict, name: str):
    import psycopg

    return psycopg.connect(
        host=server.get("HOST") or None,
        port=server.get("PORT") or None,
        user=server.get("USER") or None,
        password=server.get("PASSWORD") or None,
        dbname=name,
        autocommit=True,
    )


@contextmanager
def new_postgres_database(server: dict) -> Iterator[ProcessDatabase]:
    name = f"kroma_proc_{uuid.uuid4().hex[:12]}"
    with _connect(server, "postgres") as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    auth = server.get("USER") or "postgres"
    if server.get("PASSWORD"):
        auth += f":{server['PASSWORD']}"
    url = (
        f"postgres://{auth}@{server.get('HOST') or '127.0.0.1'}:{server.get('PORT') or 5432}/{name}"
    )

    def rows(sql: str) -> list[tuple]:
        with _connect(server, name) as conn:
            return [tuple(row) for row in conn.execute(sql).fetchall()]

    try:
        yield ProcessDatabase({"DATABASE_URL": url}, rows)
    finally:
        with _connect(server, "postgres") as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def process_database(var_dir: Path) -> Iterator[ProcessDatabase]:
    """The same kind of database as this test run's, for processes the test starts."""
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        with new_postgres_database(postgres_server()) as db:
            yield db
        return
    path = var_dir / "kroma.sqlite3"

    def rows(sql: str) -> list[tuple]:
        with sqlite3.connect(path, timeout=20) as conn:
            return conn.execute(sql).fetchall()

    yield ProcessDatabase({}, rows)
