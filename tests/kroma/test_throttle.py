"""Login throttling: 30 wrong passwords do not let the right one in straight after."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()


def _login(client, password, address="198.51.100.7", username="artist"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


def test_after_too_many_failures_even_the_right_password_waits(client, user):
    for _ in range(30):
        assert _login(client, "wrong").status_code in (200, 429)
    refused = _login(client, "pw-artist-123")
    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.content.decode()
    assert not refused.wsgi_request.user.is_authenticated


def test_the_throttle_is_per_user_and_per_address(client, user, django_user_model):
    django_user_model.objects.create_user("other", password="pw-other-123")
    for _ in range(5):
        _login(client, "wrong", address="198.51.100.7")
    # Another address may still sign in as someone else...
    assert (
        _login(client, "pw-other-123", address="198.51.100.8", username="other").status_code == 302
    )
    # ...but not as the user under attack, and nobody from the attacking address.
    assert _login(client, "pw-artist-123", address="198.51.100.9").status_code == 429
    assert _login(client, "pw-other-123", username="other").status_code == 429


def test_a_few_typos_do_not_lock_anyone_out(client, user):
    for _ in range(3):
        _login(client, "wrong")
    assert _login(client, "pw-artist-123").status_code == 302
