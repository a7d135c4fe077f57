"""The pipeline's JSON API: plan, confirm and cancel runs; run logs; QA reports; costs; exports."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from pipeline.models import CostEvent, QualityReport, Run
from pipeline.runlog import build_run_log
from pipeline.services import exports
from projects.models import AuditEvent, ProjectExport
from projects.services.tokens import create_token
from tests.conftest import local_run

pytestmark = pytest.mark.django_db

RUN_KEYS = [
    "actual_cost_usd",
    "candidates_per_job",
    "confirmed_as",
    "created_at",
    "error",
    "estimated_cost_usd",
    "finished_at",
    "mode",
    "model",
    "name",
    "provider",
    "stage",
    "started_at",
    "status",
    "uid",
]


@pytest.fixture
def token(user):
    return create_token(user=user, name="script", scopes=["write"]).plaintext


@pytest.fixture
def read_token(user):
    return create_token(user=user, name="reader").plaintext


@pytest.fixture
def api(client, token):
    """get(path) / post(path, body) with the write token, against /api/projects/noir_city."""

    class Api:
        def get(self, path: str, **query):
            return client.get(f"/api/projects/noir_city{path}", query, **_bearer(token))

        def post(self, path: str, body=None, *, as_token: str | None = None, raw=None):
            data = raw if raw is not None else json.dumps(body or {})
            return client.post(
                f"/api/projects/noir_city{path}",
                data,
                content_type="application/json",
                **_bearer(as_token or token),
            )

    return Api()


def _bearer(plaintext: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]


# --- plan, confirm, cancel ------------------------------------------------------------------


def test_plan_a_dry_run_returns_its_jobs_warnings_and_estimate(api, scene_project, fake_openai):
    response = api.post("/runs", {"stage": "style", "panels": ["alley", "harbor"], "candidates": 2})
    assert response.status_code == 201, response.content
    body = response.json()
    run = Run.objects.get()
    assert sorted(body) == ["estimate_usd", "jobs", "prices_estimated", "run", "warnings"]
    assert sorted(body["run"]) == RUN_KEYS  # the golden shape of a run
    assert (body["run"]["uid"], body["run"]["mode"], body["run"]["status"]) == (
        run.uid,
        "dry",
        "planned",
    )
    assert [job["panel"] for job in body["jobs"]] == ["harbor", "alley"]  # story order
    job = body["jobs"][0]
    assert sorted(job) == [
        "estimate_usd", "index", "input", "panel", "panel_id", "prompt", "references", "size",
    ]  # fmt: skip
    assert job["input"]["source"] == "base image"
    assert [ref["source"] for ref in job["references"]] == ["style_ref", "style_ref"]
    assert Decimal(body["estimate_usd"]) == run.estimated_cost_usd > 0
    assert body["warnings"] == ["Style guide 'Ink' is not locked yet."]
    assert fake_openai.calls == []  # planning spends nothing
    assert AuditEvent.objects.filter(action="run.planned", target=run.uid).count() == 1


def test_plan_takes_panel_ids_a_prompt_and_a_candidate_to_start_from(api, scene_project, user):
    done = local_run(scene_project, user, candidates=1, panels=["rooftop"])
    candidate = done.jobs.get().candidates.get()
    panel = scene_project.panels.get(key="rooftop")
    response = api.post(
        "/runs",
        {
            "stage": "style",
            "panels": [panel.pk],
            "provider": "local",
            "prompt": "Rain on the roof.",
            "from_candidate": candidate.pk,
        },
    )
    assert response.status_code == 201, response.content
    (job,) = response.json()["jobs"]
    assert (job["panel"], job["prompt"]) == ("rooftop", "Rain on the roof.")
    assert job["input"]["path"] == candidate.asset.path


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"stage": "characters"}, 400, "style_not_locked", "stage"),
        ({"stage": "style", "candidates": 7}, 400, "too_many_candidates", "candidates"),
        ({"stage": "style", "panels": ["nowhere"]}, 400, None, "panels"),
        ({"stage": "style", "from_candidate": 5}, 400, "invalid", "from_candidate"),
        ({"stage": "style", "provider": "nobody"}, 400, "guard", "provider"),
    ],
)
def test_plan_refusals_have_a_code_and_field(api, scene_project, body, status, code, field):
    error = _error(api.post("/runs", body), status)
    assert error["field"] == field
    if code:
        assert error["code"] == code
    assert Run.objects.count() == 0


def test_plan_over_the_run_cap_is_refused(api, scene_project, fake_openai):
    scene_project.run_cap_usd = Decimal("0.01")
    scene_project.save()
    error = _error(api.post("/runs", {"stage": "style"}), 400)
    assert error["code"] == "over_budget"
    assert Run.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"stage": "style", "colour": "red"}, "colour"),
        ({"stage": "style", "candidates": "many"}, "candidates"),
        ({"stage": "style", "panels": ["x"] * 501}, "panels"),
        ({"stage": "style", "build_on": "somewhere"}, "build_on"),
        ({"stage": "style", "prompt": "x" * 4001}, "prompt"),
        ({}, "stage"),
    ],
)
def test_bad_plan_bodies_are_422_with_the_field(api, scene_project, body, field):
    assert _error(api.post("/runs", body), 422)["field"] == field


def test_confirm_runs_the_plan_once_and_a_second_confirm_answers_that_run(
    api, scene_project, user, django_capture_on_commit_callbacks
):
    plan = api.post("/runs", {"stage": "style", "provider": "local", "candidates": 1}).json()
    uid = plan["run"]["uid"]
    with django_capture_on_commit_callbacks(execute=False):
        first = api.post(f"/runs/{uid}/confirm")
        second = api.post(f"/runs/{uid}/confirm")
    assert first.status_code == 201 and second.status_code == 200
    run = Run.objects.get(mode="run")
    assert first.json()["uid"] == second.json()["uid"] == run.uid
    assert (run.status, run.provider) == ("queued", "local")
    assert api.get(f"/runs/{uid}").json()["confirmed_as"] == run.uid
    assert _error(api.post(f"/runs/{run.uid}/confirm"), 403)["code"] == "not_a_plan"


def test_confirm_refuses_a_plan_that_now_costs_more(api, scene_project, fake_openai):
    uid = api.post("/runs", {"stage": "style", "candidates": 1}).json()["run"]["uid"]
    Run.objects.filter(uid=uid).update(estimated_cost_usd=Decimal("0.000001"))
    assert _error(api.post(f"/runs/{uid}/confirm"), 400)["code"] == "estimate_rose"
    assert not Run.objects.filter(mode="run").exists()


def test_cancel_a_queued_run(api, scene_project, user):
    run = local_run(scene_project, user, dispatch="none")
    body = api.post(f"/runs/{run.uid}/cancel").json()
    assert body["status"] == "canceled"
    assert set(run.jobs.values_list("status", flat=True)) == {"canceled"}
    assert AuditEvent.objects.filter(action="run.canceled", target=run.uid).exists()


def test_a_plan_can_be_read_back(api, scene_project):
    uid = api.post("/runs", {"stage": "style", "provider": "local"}).json()["run"]["uid"]
    body = api.get(f"/runs/{uid}/plan").json()
    assert [job["panel"] for job in body["jobs"]] == ["harbor", "alley", "rooftop"]


def test_a_read_token_may_not_plan_confirm_or_cancel(api, scene_project, user, read_token):
    run = local_run(scene_project, user, dispatch="none")
    for path in ("/runs", f"/runs/{run.uid}/confirm", f"/runs/{run.uid}/cancel", "/run-logs"):
        body = {"stage": "style"} if path == "/runs" else {}
        assert _error(api.post(path, body, as_token=read_token), 403)["code"] == "not_allowed"
    run.refresh_from_db()
    assert run.status == "queued" and Run.objects.count() == 1


def test_another_users_project_is_404_on_every_route(client, token, other_project, other_user):
    run = Run.objects.create(project=other_project, stage="style")
    base = f"/api/projects/{other_project.slug}"
    gets = [
        "/runs/" + run.uid, f"/runs/{run.uid}/plan", "/quality-reports", "/cost-events",
        "/cost-summary", "/exports", "/exports/1", "/exports/1/download",
    ]  # fmt: skip
    for path in gets:
        assert client.get(base + path, **_bearer(token)).status_code == 404, path
    posts = {
        "/runs": {"stage": "style"},
        f"/runs/{run.uid}/confirm": {},
        f"/runs/{run.uid}/cancel": {},
        "/run-logs": {},
        "/exports": {"kind": "zip"},
    }
    for path, body in posts.items():
        response = client.post(base + path, json.dumps(body), "application/json", **_bearer(token))
        assert response.status_code == 404, path
    run.refresh_from_db()
    assert run.status == "planned"


# --- run logs ------------------------------------------------------------------------------


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
    error = _error(api.post("/run-logs", log), 422)
    assert (error["code"], error["field"]) == ("bad_run_log", "jobs[0].candidates[0].path")
    assert _error(api.post("/run-logs", raw="{nope"), 422)["code"] == "bad_run_log"
    assert _error(api.post("/run-logs", {"schema": "x"}), 422)["message"].startswith("not a Kroma")
    assert not Run.objects.exists()


def test_a_run_log_larger_than_the_limit_is_413(api, project, monkeypatch):
    from pipeline import api_reports

    monkeypatch.setattr(api_reports, "MAX_RUN_LOG_BYTES", 100)
    assert _error(api.post("/run-logs", raw=json.dumps({"x": "y" * 200})), 413)["code"] == (
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
    assert _error(api.get("/cost-summary", group_by="week"), 422)["field"] == "group_by"


# --- exports -------------------------------------------------------------------------------


def test_request_an_export_then_read_it_and_download_its_file(api, scene_project, user):
    response = api.post("/exports", {"kind": "cbz", "options": {"dpi": 100}})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["status"], body["download_url"]) == ("cbz", "queued", None)
    assert body["options"]["settings"]["dpi"] == 100
    exports.run_export(body["id"])
    done = api.get(f"/exports/{body['id']}").json()
    assert done["status"] == "done" and done["size_bytes"] > 0
    assert done["download_url"] == f"/api/projects/noir_city/exports/{body['id']}/download"
    file = api.get(f"/exports/{body['id']}/download")
    assert file.status_code == 200
    assert file["Content-Disposition"].startswith("attachment")
    assert b"".join(file.streaming_content)[:2] == b"PK"
    listed = api.get("/exports").json()
    assert [e["id"] for e in listed["items"]] == [body["id"]] and listed["total"] == 1


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"kind": "tar"}, 422, "kind"),
        ({"kind": "pdf", "options": {"colour": 1}}, 422, "options.colour"),
        ({"kind": "pdf", "options": {"pages": []}}, 422, "options.pages"),
        ({"kind": "pdf", "options": {"assets": [1]}}, 400, "assets"),
        ({"kind": "pdf", "options": {"pages": [999999]}}, 400, "pages"),
        ({"kind": "pdf", "options": {"page_size": "napkin"}}, 400, "page_size"),
    ],
)
def test_bad_export_requests(api, scene_project, body, status, field):
    assert _error(api.post("/exports", body), status)["field"] == field
    assert not ProjectExport.objects.exists()


def test_an_export_not_done_has_no_file(api, scene_project):
    export_id = api.post("/exports", {"kind": "zip"}).json()["id"]
    assert api.get(f"/exports/{export_id}/download").status_code == 404
    assert api.get("/exports/999999").status_code == 404


def test_cancelling_a_finished_run_changes_nothing(api, scene_project, user):
    run = local_run(scene_project, user, candidates=1, panels=["harbor"])
    assert api.post(f"/runs/{run.uid}/cancel").json()["status"] == "done"
    assert not AuditEvent.objects.filter(action="run.canceled").exists()


def test_the_browser_session_plans_with_csrf_only(scene_project, user):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    body = json.dumps({"stage": "style", "provider": "local"})
    url = "/api/projects/noir_city/runs"
    assert browser.post(url, body, "application/json").status_code == 403
    browser.get("/projects/")  # a page sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    made = browser.post(url, body, "application/json", HTTP_X_CSRFTOKEN=token)
    assert made.status_code == 201 and Run.objects.count() == 1
