"""Secrets and tokens stay out of logs, run logs, stored errors, API answers and error reports."""

from __future__ import annotations

import json
import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.test import Client, RequestFactory
from django.views.debug import technical_500_response

from kroma.lib.redact import RedactingFilter, redact
from pipeline.models import Run, RunJob, StepRun
from pipeline.services.runs import submit_run
from projects.services.security import set_secret
from projects.services.tokens import create_token

SECRET = "sk-proj-Leak0Check1Value2Zz9"
DB_URL = "postgres://kroma:db-Pass-w0rd@db.example:5432/kroma"


class EchoingProvider(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that refuses every call and quotes the key it was sent
    (as a badly written proxy does), so the key reaches Kroma inside an error message."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        message = f"Refused the request sent with {self.headers.get('Authorization')}"
        body = json.dumps({"error": {"message": message, "code": "bad_request"}}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echoing_provider(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingProvider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}/v1")
    yield server
    server.shutdown()


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"key={SECRET}!", "key=sk-…2Zz9!"),
        ("use kroma_0a1b2c3d_AbC-dEf_123456 now", "use kroma_0a1b2c3d_… now"),
        ("Authorization: Bearer abc.def-123", "Authorization: Bearer [redacted]"),
        (
            "{'HTTP_AUTHORIZATION': 'Basic dXNlcjpwdw=='}",
            "{'HTTP_AUTHORIZATION': 'Basic [redacted]'}",
        ),
        ("sent bearer eyJhbGciOi.x.y", "sent bearer [redacted]"),
        ("Send Authorization: Bearer kroma_…", "Send Authorization: Bearer kroma_…"),
        (
            f"DATABASE_URL={DB_URL}",
            "DATABASE_URL=postgres://kroma:[redacted]@db.example:5432/kroma",
        ),
        ("redis://:hunter22@127.0.0.1:6379/0", "redis://:[redacted]@127.0.0.1:6379/0"),
        ("task-list and https://example.com/a:b@c", "task-list and https://example.com/a:b@c"),
    ],
)
def test_redact_masks_what_secrets_look_like_and_twice_is_once(text, masked):
    assert redact(text) == masked
    assert redact(masked) == masked


def test_every_configured_handler_masks():
    handlers = settings.LOGGING["handlers"]
    assert all("redact" in h.get("filters", []) for h in handlers.values())
    for logger in logging.getLogger().handlers + logging.getLogger("django").handlers:
        if not type(logger).__module__.startswith("_pytest"):
            assert any(isinstance(f, RedactingFilter) for f in logger.filters), logger


def test_a_failing_run_and_the_api_leak_neither_the_secret_nor_the_token(
    scene_project, user, echoing_provider, caplog
):
    caplog.set_level(logging.INFO)
    set_secret(project=scene_project, user=user, provider="openai", name="api_key", value=SECRET)
    token = create_token(user=user, name="leak check", scopes=["write"]).plaintext
    run = submit_run(
        project=scene_project,
        user=user,
        stage="style",
        panels=["harbor"],
        candidates=1,
        mode="run",
        confirm_spend=True,
        provider="openai",
        dispatch="inline",
    )
    run.refresh_from_db()
    job = RunJob.objects.get(run=run)
    assert job.status == "failed" and "sk-…2Zz9" in job.error  # the error kept, the key masked
    logging.getLogger("pipeline.test").error("careless: key %s token %s", SECRET, token)

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    base = f"/api/projects/{scene_project.slug}/runs"
    answers = [
        client.get(base),
        client.get(f"{base}/{run.uid}"),
        client.get(f"{base}/{run.uid}/jobs"),
        client.get(f"{base}/no-such-run"),
        Client().get(base, HTTP_AUTHORIZATION=f"Bearer {token}x"),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 404, 401]
    assert "sk-…2Zz9" in answers[2].json()[0]["error"]

    run_log = (settings.PROJECTS_ROOT / scene_project.slug / run.log_path).read_text()
    stored = json.dumps(
        [
            list(RunJob.objects.values()),
            list(StepRun.objects.values("error", "notes")),
            list(Run.objects.values("error")),
        ],
        default=str,
    )
    places = {
        "logs": caplog.text,
        "run log": run_log,
        "rows": stored,
        "api": " ".join(a.content.decode() for a in answers),
    }
    for where, text in places.items():
        assert SECRET not in text, where
        assert token not in text and token.split("_", 2)[2] not in text, where
    assert "careless: key sk-…2Zz9 token kroma_" in caplog.text


def test_the_fake_providers_retries_and_refusal_leak_nothing(
    scene_project, user, fake_openai, caplog
):
    caplog.set_level(logging.INFO)
    set_secret(project=scene_project, user=user, provider="openai", name="api_key", value=SECRET)
    fake_openai.fail_next("500")  # retried: a warning in the log
    fake_openai.fail_next("401")  # then refused: the job fails
    run = submit_run(
        project=scene_project,
        user=user,
        stage="style",
        panels=["harbor"],
        candidates=1,
        mode="run",
        confirm_spend=True,
        provider="openai",
        dispatch="inline",
    )
    assert fake_openai.calls[0].authorization == f"Bearer {SECRET}"  # the key was really sent
    job = RunJob.objects.get(run=run)
    assert job.status == "failed" and "openai/api_key" in job.error
    assert "OpenAI attempt 1 failed" in caplog.text
    run_log = (settings.PROJECTS_ROOT / scene_project.slug / run.log_path).read_text()
    stored = json.dumps(
        [list(RunJob.objects.values()), list(StepRun.objects.values())], default=str
    )
    for where, text in {"logs": caplog.text, "run log": run_log, "rows": stored}.items():
        assert SECRET not in text and "Leak0Check1" not in text, where


def _report_request():
    return RequestFactory().post(
        "/projects/x/settings/secrets/",
        {"secret-value": SECRET, "note": f"pasted {SECRET}"},
        HTTP_AUTHORIZATION="Bearer kroma_0a1b2c3d_AbCdEfGh123",
    )


def _assert_masked(report: str) -> None:
    for plaintext in (SECRET, "AbCdEfGh123", "db-Pass-w0rd"):
        assert plaintext not in report


def test_the_500_email_hides_authorization_posted_secrets_settings_and_frame_values(
    settings, mailoutbox
):
    settings.DEBUG = False
    settings.ADMINS = ["ops@example.com"]
    settings.KROMA_TEST_DATABASE_URL = DB_URL
    request = _report_request()
    api_key = SECRET  # noqa: F841 - a frame variable the report shows
    try:
        raise RuntimeError(f"provider said no to {SECRET}")
    except RuntimeError:
        logging.getLogger("django.request").error(
            "Internal Server Error: %s (%s)",
            request.path,
            SECRET,
            exc_info=True,
            extra={"status_code": 500, "request": request},
        )
    (mail,) = mailoutbox
    report = mail.subject + mail.body + "".join(str(a[0]) for a in mail.alternatives)
    _assert_masked(report)
    assert "provider said no to sk-…2Zz9" in mail.body


def test_the_debug_page_is_masked_too(settings):
    settings.DEBUG = True
    settings.KROMA_TEST_DATABASE_URL = DB_URL
    request = _report_request()
    api_key = SECRET  # noqa: F841
    try:
        raise RuntimeError(f"provider said no to {SECRET}")
    except RuntimeError:
        page = technical_500_response(request, *sys.exc_info()).content.decode()
    _assert_masked(page)
    assert "provider said no to sk-…2Zz9" in page
