"""kroma_move_to_postgres: an existing SQLite install moves to PostgreSQL, every row intact."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC
from decimal import Decimal
from pathlib import Path

import pytest

from tests.databases import new_postgres_database, postgres_server
from tests.processes import manage

ROOT = Path(__file__).resolve().parents[2]
RUNS = "SELECT id, uid, status, estimated_cost_usd, created_at FROM pipeline_run ORDER BY id"


def _sqlite_tables(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' AND name != 'django_migrations' "
                # SQLite's own asset search index (FTS5; PostgreSQL has a trigram index)
                "AND name NOT LIKE 'projects_asset_search%'"
            )
        ]
        return {
            name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names
        }


@pytest.mark.slow
def test_every_row_moves_with_its_files_and_a_non_empty_target_is_refused(tmp_path):
    server = postgres_server()
    assert server, "needs PostgreSQL: run ./kroma.sh test, or set KROMA_TEST_POSTGRES_URL"
    env = {**os.environ, "KROMA_VAR_DIR": str(tmp_path / "var"), "PYTHONUNBUFFERED": "1"}
    for name in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "KROMA_TASKS_SYNC"):
        env.pop(name, None)
    manage(env, "migrate", "-v0")
    manage(env, "kroma_seed", "--with-default-user", "--demo")
    manage(env, "kroma_run", "--project", "demo", "--stage", "style", "--provider", "local",
            "--candidates", "2", "--inline")  # fmt: skip
    source = tmp_path / "var" / "kroma.sqlite3"
    counts = _sqlite_tables(source)
    assert counts["pipeline_steprun"] > 0 and counts["projects_asset"] > 0

    with new_postgres_database(server) as target:
        url = target.env["DATABASE_URL"]
        moved = manage(env, "kroma_move_to_postgres", url)
        assert "Verifying" in moved.stdout and "Done." in moved.stdout
        for table, count in counts.items():
            assert target.rows(f'SELECT count(*) FROM "{table}"') == [(count,)], table
        with sqlite3.connect(source) as conn:
            runs = conn.execute(RUNS).fetchall()
            assets = conn.execute(
                "SELECT id, path, sha256 FROM projects_asset ORDER BY id"
            ).fetchall()
        moved_runs = target.rows(RUNS)
        assert [(r[0], r[1], r[2], Decimal(str(r[3]))) for r in runs] == [
            (r[0], r[1], r[2], r[3]) for r in moved_runs
        ]
        assert (
            [r[4][:19] for r in runs]
            == [  # timestamps kept, not rewritten by auto_now
                r[4].astimezone(UTC).isoformat(" ")[:19] for r in moved_runs
            ]
        )
        assert assets == target.rows("SELECT id, path, sha256 FROM projects_asset ORDER BY id")

        # The moved install works: the demo's pages and a new row (sequences were reset).
        pg_env = {**env, **target.env}
        manage(pg_env, "kroma_run", "--project", "demo", "--stage", "style", "--provider", "local",
                "--candidates", "1", "--inline")  # fmt: skip
        assert target.rows("SELECT count(*) FROM pipeline_run") == [(len(runs) + 1,)]

        again = manage(env, "kroma_move_to_postgres", url, ok=False)
        assert again.returncode != 0 and "The target is not empty" in again.stderr
