"""The pipeline's JSON API: run-log ingest, QA reports, cost events and the cost summary."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from pipeline.models import CostEvent, QualityReport, Run
from pipeline.runlog import build_run_log
from projects.models import AuditEvent
from tests.conftest import local_run
from tests.pipeline import api_client
from tests.pipeline.api_client import error_of

pytestmark = pytest.mark.django_db
# Fixtures shared by the API tests (tests/pipeline/api_client.py).
api = api_client.api
token = api_client.token


def test_ingest_a_run_log_then_again_adds_nothing(api, scene_project, user):
    run = local_run(scene_project, user, candidates=2, panels=["harbor"])
    log = build_run_log(run)
    run.delete()
    first = api.post("/run-logs", log)
    assert first.status_code == 201, first.content
    assert first.json() == {"run": log["run"]["uid"], "created": True, "status": "done", "jobs": 1}
    again = api.post("/run-logs", log)
    assert again.status_code == 200 and again.json()["created"] is False
    assert Run.objects.get(uid=log["run"]["uid"]).jobs.get().candidates.count() == 2
    assert AuditEvent.objects.filter(action="run.ingested").count() == 1


def test_a_bad_run_log_names_the_json_path(api, scene_project, user):
    run = local_run(scene_project, user, candidates=1, panels=["harbor"])
    log = build_run_log(run)
    run.delete()
    log["jobs"][0]["candidates"][0]["path"] = "../../etc/passwd"
    error = error_of(api.post("/run-logs", log), 422)
    assert (error["code"], error["field"]) == ("bad_run_log", "jobs[0].candidates[0].path")
    assert error_of(api.post("/run-logs", raw="{nope"), 422)["code"] == "bad_run_log"
    assert error_of(api.post("/run-logs", {"schema": "x"}), 422)["message"].startswith(
        "not a Kroma"
    )
    assert not Run.objects.exists()


def test_a_run_log_larger_than_the_limit_is_413(api, project, monkeypatch):
    from pipeline import api_reports

    monkeypatch.setattr(api_reports, "MAX_RUN_LOG_BYTES", 100)
    assert error_of(api.post("/run-logs", raw=json.dumps({"x": "y" * 200})), 413)["code"] == (
        "too_large"
    )


# --- QA reports and costs ------------------------------------------------------------------


def test_quality_reports_by_run_and_outcome(api, scene_project, user):
    run = local_run(scene_project, user, candidates=2, panels=["harbor"])
    other = local_run(scene_project, user, candidates=1, panels=["alley"])
    body = api.get("/quality-reports", run=run.uid).json()
    assert body["total"] == 2 == QualityReport.objects.filter(run=run).count()
    assert {(r["run"], r["panel"]) for r in body["items"]} == {(run.uid, "harbor")}
    assert sorted(r["candidate"] for r in body["items"]) == [0, 1]
    everything = api.get("/quality-reports", limit=1).json()
    assert everything["total"] == 3 and everything["items"][0]["run"] == other.uid
    assert api.get("/quality-reports", run="nope").status_code == 404


def _event(project, run, usd: str, key: str, model: str = "gpt-image-1") -> CostEvent:
    return CostEvent.objects.create(
        project=project,
        run=run,
        provider="openai",
        model=model,
        operation="images.edit",
        usd=Decimal(usd),
        idempotency_key=key,
    )


def test_cost_events_paginate_newest_first_and_filter_by_run(api, project):
    runs = [Run.objects.create(project=project, stage="style", mode="run") for _ in range(2)]
    for n in range(3):
        _event(project, runs[n % 2], "0.5", f"k{n}")
    first = api.get("/cost-events", limit=2).json()
    rest = api.get("/cost-events", limit=2, offset=2).json()
    assert first["total"] == rest["total"] == 3
    assert [e["id"] for e in first["items"] + rest["items"]] == sorted(
        CostEvent.objects.values_list("pk", flat=True), reverse=True
    )
    only = api.get("/cost-events", run=runs[1].uid).json()
    assert [e["run"] for e in only["items"]] == [runs[1].uid]
    assert api.get("/cost-events", limit=0).status_code == 422


def test_cost_summary_by_day_model_and_run(api, project):
    run = Run.objects.create(
        project=project, stage="style", mode="run", estimated_cost_usd=Decimal("1")
    )
    _event(project, run, "0.25", "a")
    _event(project, run, "0.5", "b", model="gpt-image-1-mini")
    by_day = api.get("/cost-summary", days=3).json()
    assert (by_day["group_by"], Decimal(by_day["total_usd"]), by_day["calls"]) == (
        "day",
        Decimal("0.75"),
        2,
    )
    assert len(by_day["groups"]) == 3 and Decimal(by_day["groups"][-1]["usd"]) == Decimal("0.75")
    by_model = api.get("/cost-summary", group_by="model").json()["groups"]
    assert [g["key"] for g in by_model] == ["openai/gpt-image-1-mini", "openai/gpt-image-1"]
    (by_run,) = api.get("/cost-summary", group_by="run").json()["groups"]
    assert (by_run["key"], Decimal(by_run["usd"]), Decimal(by_run["estimate_usd"])) == (
        run.uid,
        Decimal("0.75"),
        Decimal("1"),
    )
    assert error_of(api.get("/cost-summary", group_by="week"), 422)["field"] == "group_by"


@pytest.mark.parametrize("count", [1, 3])
def test_lists_cost_the_same_queries_for_one_or_three_rows(
    api, project, count, django_assert_num_queries
):
    from pipeline.models import RunCandidate, RunJob

    run = Run.objects.create(project=project, stage="style", mode="run")
    job = RunJob.objects.create(project=project, run=run, index=0, scene_key="harbor")
    for n in range(count):
        _event(project, run, "0.1", f"k{n}")
        candidate = RunCandidate.objects.create(project=project, job=job, index=n, passed=True)
        QualityReport.objects.create(project=project, run=run, candidate=candidate, passed=True)
    api.get("/cost-events")  # the token's last use is written once a minute
    for path in ("/cost-events", "/quality-reports"):
        with django_assert_num_queries(4):  # token, project, count, page
            assert api.get(path).json()["total"] == count
