"""Run logs are checked in full before they become rows; hostile ones are refused by path."""

from __future__ import annotations

import copy
import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from pipeline.models import Run, RunJob
from pipeline.runlog import build_run_log, ingest_run_log
from pipeline.runlog_schema import RunLogError
from tests.conftest import local_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def log(scene_project, user) -> dict:
    run = local_run(scene_project, user, candidates=2, panels=["harbor"])
    data = build_run_log(run)
    run.delete()
    return data


def _with(data: dict, path: str, value) -> dict:
    changed = copy.deepcopy(data)
    node = changed
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("run.uid", "../../tmp/x", r"run\.uid: '\.\./\.\./tmp/x' is not allowed"),
        ("run.uid", "<img src=x onerror=alert(1)>", r"run\.uid: .* is not allowed"),
        ("run.status", "hacked", r"run\.status: must be one of"),
        ("run.candidates_per_job", 10**12, r"run\.candidates_per_job: must be a whole number"),
        ("estimate_usd", "abc", r"estimate_usd: must be an amount of dollars"),
        ("costs.total_usd", "-5", r"costs\.total_usd: must be an amount of dollars"),
        ("jobs.0.candidates.0.path", "../../etc/passwd", r"jobs\[0\]\.candidates\[0\]\.path"),
        ("jobs.0.candidates.0.path", "runs/other/c0.png", r"must stay inside runs/"),
        ("jobs.0.index", "zero", r"jobs\[0\]\.index: must be a whole number"),
        ("jobs", {"not": "a list"}, r"jobs: must be a list"),
        ("jobs.0.steps.0.attempt", "x", r"jobs\[0\]\.steps\[0\]\.attempt: must be a whole"),
        ("jobs.0.steps.0.attempt", -3, r"jobs\[0\]\.steps\[0\]\.attempt: must be a whole"),
        ("jobs.0.steps.0.duration_s", "fast", r"jobs\[0\]\.steps\[0\]\.duration_s: must be"),
        ("jobs.0.input.asset_id", "abc", r"jobs\[0\]\.input\.asset_id: must be a whole"),
        ("jobs.0.candidates.0.qa", {"metrics": {}}, r"jobs\[0\]\.candidates\[0\]\.qa\.passed"),
    ],
)
def test_a_bad_value_is_refused_naming_its_json_path(log, path, value, message):
    with pytest.raises(RunLogError, match=message):
        ingest_run_log(_with(log, path, value))
    assert not Run.objects.exists()


def test_a_run_logged_while_running_is_ingested_as_failed_with_the_reason(log, artist_client):
    running = _with(_with(log, "run.status", "running"), "jobs.0.status", "running")
    run, _ = ingest_run_log(running)
    assert run.status == "failed" and "before the run finished" in run.error
    assert RunJob.objects.get(run=run).error_code == "ingested_unfinished"
    page = artist_client.get(reverse("pipeline:dashboard", args=["noir_city"]))
    assert page.status_code == 200


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "not a Kroma run log"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply|not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        ("{not json", "not valid JSON"),
    ],
)
def test_kroma_ingest_reports_unreadable_logs_without_a_traceback(tmp_path, content, message):
    path = tmp_path / "run.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    err = StringIO()
    with pytest.raises(CommandError, match="1 log"):
        call_command("kroma_ingest", str(path), stdout=StringIO(), stderr=err)
    assert re.search(message, err.getvalue())
    assert "Traceback" not in err.getvalue()


def test_a_candidate_file_that_is_not_an_image_is_ingested_without_an_asset(
    log, scene_project, settings
):
    from projects.models import Asset

    candidate = log["jobs"][0]["candidates"][0]
    Asset.objects.filter(path=candidate["path"]).delete()
    (settings.PROJECTS_ROOT / scene_project.slug / candidate["path"]).write_text("not a png")
    run, _ = ingest_run_log(json.loads(json.dumps(log)))
    assert run.jobs.get().candidates.get(index=0).asset is None


def test_cost_events_keep_their_unconfirmed_flag_and_optional_fields(log):
    event = {"key": "lost-call", "provider": "openai", "operation": "images.edit", "usd": "0.2"}
    changed = copy.deepcopy(log)
    changed["costs"]["events"] = [{**event, "unconfirmed": True}, {**event, "key": "bare"}]
    run, _ = ingest_run_log(changed)
    from pipeline.models import CostEvent

    flags = dict(CostEvent.objects.filter(run=run).values_list("idempotency_key", "unconfirmed"))
    assert flags == {"lost-call": True, "bare": False}
