"""Single-user local mode: every loopback request is the local user (seeded by kroma_seed)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.http import HttpRequest, HttpResponse

LOOPBACK_ADDRS = {"127.0.0.1", "::1"}


def single_user_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        if (
            settings.SINGLE_USER
            and not request.user.is_authenticated
            and request.META.get("REMOTE_ADDR") in LOOPBACK_ADDRS
        ):
            user = get_user_model().objects.filter(username=settings.SINGLE_USER_NAME).first()
            if user is not None and user.is_active:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return get_response(request)

    return middleware
