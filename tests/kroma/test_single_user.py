from __future__ import annotations

import os
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
