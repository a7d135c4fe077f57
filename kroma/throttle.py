"""Login throttling: too many failed sign-ins for one user name, or from one address, and
further attempts are refused for a while, even with the right password."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse


def _key(kind: str, value: str) -> str:
    return f"kroma-login-{kind}-{hashlib.sha256(value.lower().encode()).hexdigest()[:32]}"


def _keys(request: HttpRequest) -> list[str]:
    username = str(request.POST.get("username", ""))[:150]
    address = request.META.get("REMOTE_ADDR", "")
    return [_key("user", username), _key("addr", address)]


def is_throttled(request: HttpRequest) -> bool:
    return any(cache.get(key, 0) >= settings.LOGIN_MAX_FAILURES for key in _keys(request))


def record_failure(request: HttpRequest) -> None:
    for key in _keys(request):
        if cache.add(key, 1, settings.LOGIN_LOCKOUT_SECONDS):
            continue
        try:
            cache.incr(key)
        except ValueError:  # expired in between
            cache.set(key, 1, settings.LOGIN_LOCKOUT_SECONDS)


def clear(request: HttpRequest) -> None:
    cache.delete(_keys(request)[0])  # the user's count; the address keeps its own


class LoginView(auth_views.LoginView):
    """Django's login, throttled per user name and per address."""

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if is_throttled(request):
            form = self.get_form()
            minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
            form.add_error(
                None,
                f"Too many failed sign-ins for this name or from this address: try again in "
                f"{minutes} minutes.",
            )
            return self.render_to_response(self.get_context_data(form=form), status=429)
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:  # the form came back: wrong name or password
            record_failure(request)
        else:
            clear(request)
        return response
