"""The pipeline's JSON API: plan, confirm and cancel runs (a run's shape is pinned here)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from pipeline.models import Run
from projects.models import AuditEvent
from tests.conftest import local_run
from tests.pipeline import api_client
from tests.pipeline.api_client import bearer, error_of

pytestmark = pytest.mark.django_db
# Fixtures shared by the API tests (tests/pipeline/api_client.py).
api = api_client.api
read_token = api_client.read_token
token = api_client.token

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
        ({"stage": "style", "panels": [10**30]}, 400, None, "panels"),
        ({"stage": "style", "panels": ["9" * 30], "from_candidate": 1}, 400, None, "panels"),
    ],
)
def test_plan_refusals_have_a_code_and_field(api, scene_project, body, status, code, field):
    error = error_of(api.post("/runs", body), status)
    assert error["field"] == field
    if code:
        assert error["code"] == code
    assert Run.objects.count() == 0


def test_plan_over_the_batch_limit_is_refused(api, scene_project):
    scene_project.manifest_overrides = {**scene_project.manifest_overrides, "safe_batch_limit": 2}
    scene_project.save()
    error = error_of(api.post("/runs", {"stage": "style", "provider": "local"}), 400)
    assert (error["code"], error["field"]) == ("batch_limit", "panels")
    assert Run.objects.count() == 0


def test_a_token_for_another_project_cannot_reach_this_one(client, user, scene_project):
    from projects.models import Project
    from projects.services.tokens import create_token

    elsewhere = Project.objects.create(owner=user, slug="elsewhere", name="Elsewhere")
    scoped = create_token(user=user, name="one", scopes=["write"], project=elsewhere).plaintext
    body = json.dumps({"stage": "style", "provider": "local"})
    url = "/api/projects/noir_city/runs"
    assert client.post(url, body, "application/json", **bearer(scoped)).status_code == 404
    assert Run.objects.count() == 0


def test_plan_over_the_run_cap_is_refused(api, scene_project, fake_openai):
    scene_project.run_cap_usd = Decimal("0.01")
    scene_project.save()
    error = error_of(api.post("/runs", {"stage": "style"}), 400)
    assert error["code"] == "over_budget"
    assert Run.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"stage": "style", "colour": "red"}, "colour"),
        ({"stage": "style", "candidates": "many"}, "candidates"),
        ({"stage": "style", "panels": ["x"] * 501}, "panels"),
        ({"stage": "style", "build_on": "somewhere"}, "build_on"),
        ({"stage": "style", "panels": ["x" * 65]}, "panels[0]"),
        ({"stage": "style", "panels": [1], "from_candidate": 2**63}, "from_candidate"),
        ({"stage": "style", "prompt": "x" * 4001}, "prompt"),
        ({}, "stage"),
    ],
)
def test_bad_plan_bodies_are_422_with_the_field(api, scene_project, body, field):
    assert error_of(api.post("/runs", body), 422)["field"] == field


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
    assert error_of(api.post(f"/runs/{run.uid}/confirm"), 403)["code"] == "not_a_plan"


def test_confirm_refuses_a_plan_that_now_costs_more(api, scene_project, fake_openai):
    uid = api.post("/runs", {"stage": "style", "candidates": 1}).json()["run"]["uid"]
    Run.objects.filter(uid=uid).update(estimated_cost_usd=Decimal("0.000001"))
    assert error_of(api.post(f"/runs/{uid}/confirm"), 400)["code"] == "estimate_rose"
    assert not Run.objects.filter(mode="run").exists()


def test_a_plan_without_a_key_warns_and_its_confirm_is_refused(api, scene_project, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    plan = api.post("/runs", {"stage": "style", "provider": "openai", "candidates": 1}).json()
    assert any("Confirming this plan is refused" in w for w in plan["warnings"])
    error = error_of(api.post(f"/runs/{plan['run']['uid']}/confirm"), 400)
    assert (error["code"], error["field"]) == ("no_key", "provider")
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
        assert error_of(api.post(path, body, as_token=read_token), 403)["code"] == "not_allowed"
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
        assert client.get(base + path, **bearer(token)).status_code == 404, path
    posts = {
        "/runs": {"stage": "style"},
        f"/runs/{run.uid}/confirm": {},
        f"/runs/{run.uid}/cancel": {},
        "/run-logs": {},
        "/exports": {"kind": "zip"},
    }
    for path, body in posts.items():
        response = client.post(base + path, json.dumps(body), "application/json", **bearer(token))
        assert response.status_code == 404, path
    run.refresh_from_db()
    assert run.status == "planned"


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
    csrf = browser.cookies["csrftoken"].value
    made = browser.post(url, body, "application/json", HTTP_X_CSRFTOKEN=csrf)
    assert made.status_code == 201 and Run.objects.count() == 1
