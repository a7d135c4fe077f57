"""The size of a whole request body, checked before any of it is read, and the time it may
take to arrive (a stalled body frees its server thread after KROMA_BODY_TIMEOUT_S)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string


def request_size_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Refuse a body larger than KROMA_MAX_UPLOAD_BYTES from its Content-Length, before a byte
    of it is read (files are then streamed to disk by Django's temporary-file handler)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        limit = settings.MAX_UPLOAD_BYTES
        if length < 0 or length > limit:
            message = (
                f"This request is {length / 1e6:.0f} MB; one request may send up to "
                f"{limit / 1e6:.0f} MB (KROMA_MAX_UPLOAD_BYTES). Send fewer or smaller files at "
                "once."
                if length > 0
                else "The request's Content-Length is not a number."
            )
            # Rendered without the request: this runs before sessions and users are looked at.
            response = HttpResponse(render_to_string("413.html", {"message": message}), status=413)
            response["Connection"] = "close"
            return response
        sock = request.META.get("gunicorn.socket")
        if sock is not None and length > 0:
            # A client that stops sending its body holds a server thread only this long.
            sock.settimeout(settings.BODY_TIMEOUT_SECONDS)
        return get_response(request)

    return middleware
