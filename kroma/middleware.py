"""Single-user local mode: every loopback request is the local user (seeded by kroma_seed).

Never for a request that came through a proxy: a reverse proxy on the same host connects from
127.0.0.1 for every visitor, so a request carrying any forwarding header is treated as
anonymous (it logs in like on a multi-user install). Behind a proxy, turn single-user off.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.http import HttpRequest, HttpResponse

LOOPBACK_ADDRS = {"127.0.0.1", "::1"}
FORWARDING_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_REAL_IP",
    "HTTP_FORWARDED",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_SERVER",
    "HTTP_VIA",
    "HTTP_CLIENT_IP",
    "HTTP_TRUE_CLIENT_IP",
    "HTTP_CF_CONNECTING_IP",
)


def is_direct_local_request(request: HttpRequest) -> bool:
    """From this machine, and not relayed by a proxy."""
    if request.META.get("REMOTE_ADDR") not in LOOPBACK_ADDRS:
        return False
    return not any(request.META.get(header) for header in FORWARDING_HEADERS)


def single_user_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        if (
            settings.SINGLE_USER
            and not request.user.is_authenticated
            and is_direct_local_request(request)
        ):
            user = get_user_model().objects.filter(username=settings.SINGLE_USER_NAME).first()
            if user is not None and user.is_active:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return get_response(request)

    return middleware
