from __future__ import annotations

import sqlite3

from kroma import checks


def _ids(messages) -> list[str]:
    return [m.id for m in messages]


def test_retry_not_above_timeout_warns(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 600, "retry": 600}
    assert _ids(checks.check_q_cluster()) == ["kroma.W001"]


def test_retry_above_timeout_is_fine(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 600, "retry": 700}
    assert checks.check_q_cluster() == []


def test_missing_models_dir_warns(settings, tmp_path):
    settings.MODELS_DIR = tmp_path / "nope"
    assert _ids(checks.check_models_dir()) == ["kroma.W002"]
    settings.MODELS_DIR = tmp_path
    assert checks.check_models_dir() == []


def test_old_sqlite_with_several_workers_warns(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 2}
    on_sqlite = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
    old = sqlite3.sqlite_version_info < checks.SQLITE_WAL_FIX
    assert _ids(checks.check_sqlite_workers()) == (["kroma.W003"] if on_sqlite and old else [])
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 1}
    assert checks.check_sqlite_workers() == []


def test_single_user_requested_off_loopback_warns(settings):
    settings.SINGLE_USER_REQUESTED, settings.SINGLE_USER = True, False
    assert _ids(checks.check_single_user()) == ["kroma.W004"]
