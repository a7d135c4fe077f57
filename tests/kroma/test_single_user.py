from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def local_user(django_user_model):
    return django_user_model.objects.create_user("local")


def test_single_user_mode_signs_in_the_local_user_on_loopback(client, settings, local_user):
    settings.SINGLE_USER = True
    response = client.get(reverse("pipeline:home"), REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert response.wsgi_request.user == local_user


def test_single_user_mode_ignores_non_loopback_clients(client, settings, local_user):
    settings.SINGLE_USER = True
    response = client.get(reverse("pipeline:home"), REMOTE_ADDR="192.0.2.10")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(reverse("login"))


def test_without_single_user_mode_login_is_required(client, settings, local_user):
    settings.SINGLE_USER = False
    response = client.get(reverse("pipeline:home"), REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 302


def test_login_page_renders_and_logs_in(client, user):
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("login"), {"username": "artist", "password": "pw-artist-123"})
    assert response.status_code == 302
    assert response.wsgi_request.user == user


@pytest.mark.parametrize(
    ("bind", "expected"), [("0.0.0.0:8788", "False"), ("127.0.0.1:9000", "True")]
)
def test_single_user_is_only_honoured_when_bound_to_loopback(tmp_path, bind, expected):
    """Settings are read at start-up, so this starts a fresh interpreter with the env set."""
    code = (
        "import django; django.setup(); "
        "from django.conf import settings; print(settings.SINGLE_USER)"
    )
    env = {
        **os.environ,
        "KROMA_SINGLE_USER": "1",
        "KROMA_BIND": bind,
        "KROMA_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "kroma.settings",
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == expected, out.stderr


@pytest.mark.parametrize(
    "header",
    [
        {"HTTP_X_FORWARDED_FOR": "203.0.113.9"},
        {"HTTP_FORWARDED": "for=203.0.113.9"},
        {"HTTP_X_REAL_IP": "203.0.113.9"},
        {"HTTP_X_FORWARDED_HOST": "kroma.example.org"},
    ],
)
def test_a_request_through_a_proxy_is_never_signed_in_automatically(
    client, settings, local_user, header
):
    """A reverse proxy on the same host connects from 127.0.0.1 for every visitor."""
    settings.SINGLE_USER = True
    local_user.is_superuser = local_user.is_staff = True
    local_user.save()
    admin = client.get("/admin/projects/projectsecret/", REMOTE_ADDR="127.0.0.1", **header)
    assert admin.status_code == 302 and "/login/" in admin.headers["Location"]
    home = client.get(reverse("pipeline:home"), REMOTE_ADDR="127.0.0.1", **header)
    assert home.status_code == 302 and not home.wsgi_request.user.is_authenticated


def test_kroma_serve_turns_single_user_off_for_the_bind_it_really_serves(tmp_path):
    """--bind decides, not only KROMA_BIND: 127.0.0.2 or 0.0.0.0 is not loopback-only."""
    from kroma.settings import is_loopback_bind

    assert is_loopback_bind("127.0.0.1:8788") and is_loopback_bind("[::1]:8788")
    assert not is_loopback_bind("127.0.0.2:8795") and not is_loopback_bind("0.0.0.0:8788")
    env = {**os.environ, "KROMA_SINGLE_USER": "1", "KROMA_VAR_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    # --no-worker and a port that is taken: gunicorn gives up after a few tries, and exits.
    with socket.socket() as taken:
        taken.bind(("127.0.0.2", 0))
        taken.listen()
        bind = f"127.0.0.2:{taken.getsockname()[1]}"
        result = subprocess.run(
            [sys.executable, "manage.py", "kroma_serve", "--bind", bind, "--no-worker"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert f"Single-user mode is off: {bind} is not a loopback address" in result.stderr
