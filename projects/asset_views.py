"""The asset browser: filters, search, a detail panel, uploads, bulk actions, files."""

from __future__ import annotations

import io

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.base import ContentFile
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect
from PIL import Image

from kroma.lib.errors import UserError
from projects.access import get_project_for_user
from projects.asset_forms import AssetBrowserForm, BulkActionForm
from projects.models import Asset, Project
from projects.pagination import IdFirstPaginator
from projects.services.asset_actions import BULK_ACTIONS, bulk_action
from projects.services.asset_browser import asset_lineage, browse_assets, recipe_of
from projects.services.assets import THUMB_SIZES, upload_images
from projects.storage import storage_for

THUMB_SIZE = THUMB_SIZES[0]
ASSETS_PER_PAGE = 48
SEARCH_COUNT_CAP = 1000
FILTERS = ("q", "kind", "stage", "panel", "character", "run", "rating", "since", "until")


def _asset_for_user(request: HttpRequest, slug: str, asset_id: int) -> Asset:
    project = get_project_for_user(request.user, slug)
    return get_object_or_404(Asset.objects.select_related("project"), project=project, pk=asset_id)


def _browser_context(request: HttpRequest, project: Project, **extra: object) -> dict:
    form = AssetBrowserForm(request.GET or None, project=project)
    data = form.cleaned_data if form.is_valid() else {}
    assets = browse_assets(project=project, filters=data).select_related("project")
    # A search reads text row by row: its count stops at SEARCH_COUNT_CAP (the page says "more").
    cap = SEARCH_COUNT_CAP if data.get("q") else None
    page = IdFirstPaginator(assets, ASSETS_PER_PAGE, count_cap=cap).get_page(data.get("page") or 1)
    query = request.GET.copy()
    query.pop("page", None)
    return {
        "project": project,
        "tab": "assets",
        "nav": "assets",
        "form": form,
        "page": page,
        "query": query.urlencode(),
        # The tiles' links are <assets_url><id>/ and <id>/thumb (asset_urls.py): one reverse()
        # for the page instead of three a tile.
        "assets_url": reverse("projects:asset_list", args=[project.slug]),
        "bulk_actions": [
            (action, action.choices(project) if action.choices else [])
            for action in BULK_ACTIONS.values()
        ],
        "filtered": any(data.get(k) for k in FILTERS),
        "more_filters": any(data.get(k) for k in FILTERS[3:]) or bool(form.errors),
        "max_upload_mb": settings.MAX_UPLOAD_BYTES // 1_000_000,
        **extra,
    }


@login_required
def asset_list(request: HttpRequest, slug: str) -> HttpResponse:
    """Every image of a project, newest first; failed candidates only when asked for."""
    project = get_project_for_user(request.user, slug)
    context = _browser_context(request, project)
    template = "projects/asset_list.html#results" if request.htmx else "projects/asset_list.html"
    # A bad filter is shown beside the form and ignored (200, so htmx swaps the answer in).
    return render(request, template, context)


@login_required
def asset_detail(request: HttpRequest, slug: str, asset_id: int) -> HttpResponse:
    """One asset: preview, metadata, recipe and lineage both ways (a panel beside the grid)."""
    asset = _asset_for_user(request, slug, asset_id)
    context = {
        "project": asset.project,
        "tab": "assets",
        "nav": "assets",
        "asset": asset,
        "lineage": asset_lineage(asset),
        "recipe": recipe_of(asset),
    }
    template = "projects/asset_detail.html#detail" if request.htmx else "projects/asset_detail.html"
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def asset_upload(request: HttpRequest, slug: str) -> HttpResponse:
    """Upload images (several at once); the browser's script sends one file per request to show
    each one's progress and asks for JSON. A refused file is reported, the others are kept."""
    project = get_project_for_user(request.user, slug)
    if request.method == "GET":  # a reload after a failed plain POST: back to the page
        return redirect("projects:asset_list", slug=project.slug)
    uploads = request.FILES.getlist("images")
    wants_json = "application/json" in request.headers.get("Accept", "")
    if not uploads:
        error = "Choose at least one image."
        if wants_json:
            return JsonResponse({"stored": [], "notes": [], "errors": [error]}, status=400)
        return _upload_page(request, project, [error], [], status=400)
    # Each file's size is checked before it is read, and they are read one at a time.
    result = upload_images(project=project, user=request.user, files=[(f.name, f) for f in uploads])
    if wants_json:
        stored = [{"id": a.pk, "title": str(a), "url": a.thumbnail_url()} for a in result.stored]
        body = {"stored": stored, "notes": result.notes, "errors": result.errors}
        return JsonResponse(body, status=400 if result.errors and not stored else 200)
    if result.errors:
        return _upload_page(request, project, result.errors, result.notes, stored=result.stored)
    messages.success(request, f"Uploaded {len(result.stored)} image(s).")
    for note in result.notes:
        messages.info(request, note)
    return redirect("projects:asset_list", slug=project.slug)


def _upload_page(
    request: HttpRequest,
    project: Project,
    errors: list[str],
    notes: list[str],
    stored: list[Asset] | None = None,
    status: int = 400,
) -> HttpResponse:
    context = _browser_context(
        request, project, upload_errors=errors, upload_notes=notes, uploaded=stored or []
    )
    return render(request, "projects/asset_list.html", context, status=status)


@login_required
@require_POST
def asset_bulk(request: HttpRequest, slug: str) -> HttpResponse:
    """Apply one bulk action (rate, reject, delete, export, post-process ...) to the selected
    images; an action that must be confirmed (delete) asks first."""
    project = get_project_for_user(request.user, slug)
    form = BulkActionForm(request.POST)
    if form.bad_ids:
        return HttpResponseBadRequest(
            f"Not an image id: {form.bad_ids[0][:40]!r}.", content_type="text/plain"
        )
    back = request.POST.get("back", "")
    back = back if back.startswith("?") else ""
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, errors[0])
        return _back(request, project, back)
    action = bulk_action(form.cleaned_data["action"])
    ids = form.cleaned_data["assets"]
    if action.confirm and not form.cleaned_data["confirm"]:
        context = {
            "project": project,
            "tab": "assets",
            "nav": "assets",
            "assets": project.assets.filter(pk__in=ids).select_related("project")[:200],
            "ids": ids,
            "back": back,
            "action": action,
        }
        template = "projects/asset_delete.html" + ("#confirm" if request.htmx else "")
        return render(request, template, context)
    choices = [c for c in request.POST.getlist(f"{action.name}_choice") if c]
    try:
        message = action.apply(project=project, user=request.user, asset_ids=ids, choices=choices)
    except UserError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, message)
    return _back(request, project, back)


def _back(request: HttpRequest, project: Project, query: str) -> HttpResponse:
    url = reverse("projects:asset_list", args=[project.slug]) + query
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@login_required
def asset_file(request: HttpRequest, slug: str, asset_id: int) -> FileResponse:
    asset = _asset_for_user(request, slug, asset_id)
    storage = storage_for(asset.project)
    if not storage.exists(asset.path):
        raise Http404("The asset's file is missing from storage.")
    download = request.GET.get("download") == "1"
    response = FileResponse(
        storage.open(asset.path, "rb"),
        content_type=asset.mime,
        as_attachment=download,
        filename=asset.download_name if download else None,
    )
    response["Cache-Control"] = "private, max-age=86400, immutable"
    return response


@login_required
def asset_thumb(request: HttpRequest, slug: str, asset_id: int) -> HttpResponse:
    """A WebP thumbnail, made once and kept beside the assets (thumbs/<sha256>.webp)."""
    asset = _asset_for_user(request, slug, asset_id)
    storage = storage_for(asset.project)
    thumb_path = f"thumbs/{asset.sha256}_{THUMB_SIZE}.webp"
    if not storage.exists(thumb_path):
        if not storage.exists(asset.path):
            raise Http404("The asset's file is missing from storage.")
        with storage.open(asset.path, "rb") as fh, Image.open(fh) as image:
            image.thumbnail((THUMB_SIZE, THUMB_SIZE))
            if image.mode not in ("RGB", "RGBA", "L", "LA"):
                image = image.convert("RGBA")
            out = io.BytesIO()
            image.save(out, "WEBP", quality=82)
        storage.save(thumb_path, ContentFile(out.getvalue()))
    response = FileResponse(storage.open(thumb_path, "rb"), content_type="image/webp")
    response["Cache-Control"] = "private, max-age=86400, immutable"
    return response
