"""The asset browser's search index, outside the ORM: FTS5 on SQLite, pg_trgm on PostgreSQL.

SQLite: an FTS5 table over projects_asset.search_text (external content, so no second copy),
kept in step by triggers on every insert, update and delete, bulk ones included. Django's SQLite
schema editor rebuilds a table to alter it, which drops its triggers: `ensure_search_index` runs
after every `migrate` (projects.apps) and puts back what is missing, rebuilding the index then.

PostgreSQL: a trigram GIN index on search_text, which word-start regular expressions use; where
the pg_trgm extension cannot be created, search reads the rows instead (slower, same answers).
"""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, transaction

FTS_TABLE = "projects_asset_search"
TRIGGERS = {
    "projects_asset_search_insert": (
        "AFTER INSERT ON projects_asset BEGIN "
        f"INSERT INTO {FTS_TABLE}(rowid, search_text) VALUES (new.id, new.search_text); END"
    ),
    "projects_asset_search_delete": (
        "AFTER DELETE ON projects_asset BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_text) "
        "VALUES ('delete', old.id, old.search_text); END"
    ),
    "projects_asset_search_update": (
        "AFTER UPDATE OF search_text ON projects_asset BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_text) "
        "VALUES ('delete', old.id, old.search_text); "
        f"INSERT INTO {FTS_TABLE}(rowid, search_text) VALUES (new.id, new.search_text); END"
    ),
}


def ensure_search_index(connection: Any) -> bool:
    """Create whatever part of the search index is missing; True when something was made."""
    if connection.vendor == "sqlite":
        return _ensure_sqlite(connection)
    if connection.vendor == "postgresql":
        return _ensure_postgresql(connection)
    return False


def _ensure_sqlite(connection: Any) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
        present = {row[0] for row in cursor.fetchall()}
        if "projects_asset" not in present:
            return False
        cursor.execute("SELECT name FROM pragma_table_info('projects_asset')")
        if "search_text" not in {row[0] for row in cursor.fetchall()}:
            return False  # migrated back before projects 0009
        missing = [name for name in TRIGGERS if name not in present]
        if FTS_TABLE in present and not missing:
            return False
        if FTS_TABLE not in present:
            cursor.execute(
                f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(search_text, "
                "content='projects_asset', content_rowid='id', prefix='2 3')"
            )
        for name in missing:
            cursor.execute(f"CREATE TRIGGER {name} {TRIGGERS[name]}")
        cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
    return True


def _ensure_postgresql(connection: Any) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = 'projects_asset' "
            "AND column_name = 'search_text'"
        )
        if not cursor.fetchone():
            return False  # migrated back before projects 0009
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'asset_search_trgm'")
        if cursor.fetchone():
            return False
        try:
            with transaction.atomic(using=connection.alias):
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except DatabaseError:
            return False  # not allowed to add the extension here: search reads the rows
        cursor.execute(
            "CREATE INDEX IF NOT EXISTS asset_search_trgm ON projects_asset "
            "USING gin (search_text gin_trgm_ops)"
        )
    return True


def drop_search_index(connection: Any) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for name in TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
        elif connection.vendor == "postgresql":
            cursor.execute("DROP INDEX IF EXISTS asset_search_trgm")


def ensure_after_migrate(using: str = "default", **kwargs: Any) -> None:
    """post_migrate receiver (projects.apps): a later migration may have rebuilt the table."""
    from django.db import connections

    ensure_search_index(connections[using])
