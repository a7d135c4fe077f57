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


def test_deploy_check_is_clean_for_production_settings(tmp_path):
    import os
    import secrets
    import subprocess
    import sys
    from pathlib import Path

    env = {
        **os.environ,
        "KROMA_DEBUG": "0",
        "KROMA_HTTPS": "1",
        "KROMA_BIND": "0.0.0.0:8788",
        "KROMA_SECRET_KEY": secrets.token_urlsafe(60),
        "KROMA_ALLOWED_HOSTS": "kroma.example.com",
        "KROMA_VAR_DIR": str(tmp_path),
        "KROMA_MODELS_DIR": str(tmp_path),
    }
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues (0 silenced)" in result.stdout


def test_a_yes_no_setting_with_a_typo_stops_start_up_with_the_reason():
    import os
    import subprocess
    import sys

    env = {**os.environ, "KROMA_SINGLE_USER": "ture"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "KROMA_SINGLE_USER='ture' is not a yes/no value" in result.stderr
