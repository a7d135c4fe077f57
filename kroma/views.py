from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.utils import timezone
from django.views.decorators.http import require_GET

from kroma.lib.weights import models_dir_status
from pipeline.models import WorkerHeartbeat


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness for people and scripts: version, database, worker heartbeat, model files."""
    db_ok, db_error = True, ""
    worker: dict[str, object] = {"heartbeat_age_s": None, "seen_at": None}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        beat = WorkerHeartbeat.objects.order_by("-seen_at").first()
        if beat is not None:
            worker = {
                "heartbeat_age_s": round((timezone.now() - beat.seen_at).total_seconds(), 1),
                "seen_at": beat.seen_at.isoformat(),
            }
    except Exception as exc:  # the point of /health is to report this, not to 500
        db_ok, db_error = False, f"{type(exc).__name__}: {exc}"
    models = models_dir_status()
    if not getattr(request.user, "is_staff", False):
        # Anyone may ask /health: absolute paths and error details are for staff only.
        models = {
            "exists": models["exists"],
            "files": [{"name": f["name"], "bytes": f["bytes"]} for f in models["files"]],
            "missing": models["missing"],
        }
        db_error = "unavailable" if db_error else ""
    body = {
        "status": "ok" if db_ok else "error",
        "version": settings.VERSION,
        "db": {"ok": db_ok, "vendor": connection.vendor, "error": db_error},
        "worker": worker,
        "models_dir": models,
    }
    return JsonResponse(body, status=200 if db_ok else 503)


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """Browsers ask for /favicon.ico on every page, the admin's included."""
    return HttpResponsePermanentRedirect(static("kroma/favicon.svg"))
