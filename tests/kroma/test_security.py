"""Reproductions of the security probe's findings (issue 12), each passing on the fixed code."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest
from django.urls import reverse

from tests.processes import served

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_health_shows_paths_and_error_details_to_staff_only(client, admin_client):
    anonymous = json.dumps(client.get("/health").json())
    assert '"path"' not in anonymous and '"dir"' not in anonymous and str(ROOT) not in anonymous
    staff = admin_client.get("/health").json()
    assert staff["models_dir"]["path"]


def test_a_body_over_the_limit_is_refused_before_it_is_read(artist_client, project, settings):
    settings.MAX_UPLOAD_BYTES = 1_000_000
    url = reverse("projects:add_reference_images", args=[project.slug])
    response = artist_client.post(
        url, data=b"x" * 10, content_type="application/octet-stream", CONTENT_LENGTH="1000000000"
    )
    assert response.status_code == 413
    assert "This request is 1000 MB; one request may send up to 1 MB" in response.content.decode()


@pytest.mark.parametrize(
    ("url", "data", "message"),
    [
        (
            "run_new",
            {"stage": "style", "candidates": "1", "provider": "bogus"},
            "Provider: Select a valid choice",
        ),
        (
            "run_new",
            {"stage": "style", "candidates": "1", "provider": "local", "variation": "v" * 300},
            "Variation: Ensure this value has at most 200 characters",
        ),
        (
            "run_new",
            {"stage": "style", "candidates": "1", "provider": "local", "panels": ["nope"]},
            "Panels: Select a valid choice. nope is not one of the available choices.",
        ),
        ("lab", {"operation": "sharpen"}, "Operation: Select a valid choice"),
        ("lab", {"operation": "upscale", "scale": "3"}, "Scale: Select a valid choice"),
        (
            "lab",
            {"operation": "generate", "prompt": "x", "quality": "ultra"},
            "Quality: Select a valid choice",
        ),
    ],
)
def test_tampered_forms_say_what_is_wrong(artist_client, scene_project, url, data, message):
    path = (
        reverse("pipeline:run_new", args=[scene_project.slug])
        if url == "run_new"
        else reverse("pipeline:lab")
    )
    response = artist_client.post(path, data)
    assert response.status_code == 400
    assert message in response.content.decode().replace("&quot;", '"')


def test_new_run_says_why_the_project_key_cannot_be_used(artist_client, scene_project, monkeypatch):
    from projects.models import ProjectSecret

    monkeypatch.setenv("OPENAI_API_KEY", "sk-server-key-0000")
    ProjectSecret.objects.create(
        project=scene_project, provider="openai", name="api_key", ciphertext=b"not fernet"
    )
    body = artist_client.get(reverse("pipeline:run_new", args=[scene_project.slug])).content
    assert b"cannot be decrypted" in body and b"No OpenAI key is set up" not in body


def test_the_x2_upscale_refusal_does_not_suggest_x2(settings):
    import numpy as np

    from pipeline.postprocess.pixels import Pixels
    from pipeline.postprocess.upscale import UpscaleError, upscale

    settings.MAX_OUTPUT_PIXELS = 100
    pixels = Pixels(np.zeros((8, 8, 3), np.uint8), None, {})
    with pytest.raises(UpscaleError) as refused:
        upscale(pixels, {"scale": 2, "model": "realesr-animevideov3.onnx"})
    assert "use x2" not in str(refused.value) and "use a smaller input" in str(refused.value)


def _peak_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])


@pytest.mark.slow
def test_a_rejected_1_gb_body_does_not_grow_the_server(tmp_path):
    """Measured on a real gunicorn: peak RSS of its workers rises by less than 200 MB."""
    with served(tmp_path, "--web-workers", "1") as port:
        workers = [
            int(pid)
            for pid in subprocess.run(
                ["pgrep", "-f", f"gunicorn.*127.0.0.1:{port}"], capture_output=True, text=True
            ).stdout.split()
        ]
        for _ in range(3):  # warm: the worker loads the application on its first requests
            with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                conn.sendall(
                    b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                )
                while conn.recv(65536):
                    pass
        before = {pid: _peak_rss_kib(pid) for pid in workers}
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(
                b"POST /lab/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
                b"boundary=x\r\nContent-Length: 1000000000\r\n\r\n"
            )
            sent = 0
            try:
                while sent < 1_000_000_000:
                    conn.sendall(b"\0" * 1_048_576)
                    sent += 1_048_576
            except OSError:
                pass  # the server answered and closed: it did not read the body
            answer = conn.recv(200)
        assert b" 413 " in answer.split(b"\r\n")[0]
        rise = max(_peak_rss_kib(pid) - before[pid] for pid in workers)
        print(f"\n  peak RSS rise {rise / 1024:.1f} MB after {sent / 1e6:.0f} MB sent")
        assert rise < 200 * 1024


@pytest.mark.slow
def test_stalled_request_bodies_do_not_stop_the_server(tmp_path):
    """9 clients send headers for a 10 MB body and stall (more than one worker's threads): the
    stalled requests are given up after KROMA_BODY_TIMEOUT_S, so /health answers within it
    (without the timeout it waited as long as the clients stalled)."""
    stalled = []
    with served(tmp_path, KROMA_BODY_TIMEOUT_S="5") as port:
        try:
            for _ in range(9):
                conn = socket.create_connection(("127.0.0.1", port), timeout=30)
                conn.sendall(
                    b"POST /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/x-www-form-urlencoded\r\n"
                    b"Content-Length: 10000000\r\n\r\nusername=a"
                )
                stalled.append(conn)
            time.sleep(1)
            started = time.monotonic()
            with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                conn.sendall(
                    b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                )
                first = conn.recv(100)
            health_s = time.monotonic() - started
            assert first.startswith(b"HTTP/1.1 200"), first
            assert health_s < 5 + 3, f"/health took {health_s:.1f} s"  # the timeout, and a margin
            started = time.monotonic()
            answers = [conn.recv(100) for conn in stalled]  # once each body timed out
            given_up_s = time.monotonic() - started
            statuses = {a.split(b"\r\n")[0].decode() for a in answers}
            print(
                f"\n  /health {health_s:.2f} s; stalls ended {given_up_s:.1f} s later: {statuses}"
            )
            assert given_up_s < 10
        finally:
            for conn in stalled:
                conn.close()
