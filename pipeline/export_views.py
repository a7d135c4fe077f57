"""The Pages page: each story page's layout as a live preview, the page settings, and exports.

Views validate and call pipeline.services.layouts / exports; they never write rows themselves.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from kroma.lib.errors import UserError
from pipeline.services import exports, layouts
from projects.access import get_project_for_user
from projects.models import Layout, Page, Project, ProjectExport
from projects.storage import storage_for

TEMPLATE = "pipeline/pages.html"
SETTING_FIELDS = ("page_size", *layouts.LIMITS)
SETTING_LABELS = {
    "page_size": "Page size",
    "gutter_mm": "Gutter",
    "margin_mm": "Margin",
    "bleed_mm": "Bleed",
    "dpi": "Print dpi",
}


def _previews(project: Project, settings: dict[str, Any]) -> list[Page]:
    pages = layouts.story_pages(project)
    for page in pages:
        layouts.fill_page(page, settings)
    return pages


def _exports_context(project: Project, **extra: Any) -> dict[str, Any]:
    recent = exports.recent_exports(project)
    return {
        "project": project,
        "exports": recent,
        "exporting": any(e.is_active for e in recent),
        "export_kinds": ProjectExport.Kind.choices,
        "page_sizes": [(key, label) for key, (label, _, _) in layouts.PAGE_SIZES.items()],
        "export_values": extra.pop("export_values", {}),
        **extra,
    }


def _context(project: Project, settings: dict[str, Any] | None = None, **extra: Any) -> dict:
    saved = layouts.layout_settings(project)
    shown = settings or saved
    pages = _previews(project, shown)
    return {
        **_exports_context(project),
        "tab": "pages",
        "pages": pages,
        "settings": shown,
        "values": extra.pop("values", shown),
        "errors": extra.pop("errors", {}),
        "layout_choices": Layout.choices,
        "page_mm": layouts.page_mm(shown),
        **extra,
    }


@login_required
@require_GET
def pages(request: HttpRequest, slug: str) -> HttpResponse:
    """The page; with settings in the query string (htmx), only the previews drawn with them
    (a live preview before anything is saved)."""
    project = get_project_for_user(request.user, slug)
    if not request.htmx:
        return render(request, TEMPLATE, _context(project))
    data = {k: request.GET[k] for k in SETTING_FIELDS if request.GET.get(k, "") != ""}
    settings, errors = layouts.check_layout({**layouts.layout_settings(project), **data})
    if errors:
        shown = [f"{SETTING_LABELS[field]}: {message}" for field, message in errors.items()]
        context = _context(project, preview_errors=shown)
        return render(request, f"{TEMPLATE}#previews", context, status=400)
    return render(request, f"{TEMPLATE}#previews", _context(project, settings, preview=True))


@login_required
@require_POST
def layout_settings(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    data = {k: request.POST.get(k, "").strip() for k in SETTING_FIELDS}
    settings, errors = layouts.check_layout(data)
    if not errors:
        try:
            layouts.set_layout_settings(project=project, user=request.user, settings=settings)
        except UserError as exc:
            errors = {exc.field or "page_size": exc.message}
    if not request.htmx:
        if errors:
            messages.error(request, "; ".join(errors.values()))
        else:
            messages.success(request, "Page settings saved.")
        return redirect("pipeline:pages", slug=project.slug)
    if errors:
        context = _context(project, values=data, errors=errors)
        return render(request, f"{TEMPLATE}#layout", context, status=400)
    return render(request, f"{TEMPLATE}#layout", _context(project, saved=True))


@login_required
@require_POST
def page_layout(request: HttpRequest, slug: str, page_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    page = get_object_or_404(Page, project=project, pk=page_id)
    try:
        layouts.set_page_layout(
            project=project,
            user=request.user,
            page_id=page.pk,
            layout=request.POST.get("layout", ""),
        )
        error = ""
    except UserError as exc:
        error = exc.message
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("pipeline:pages", slug=project.slug)
    context = _context(project)
    shown = next(p for p in context["pages"] if p.pk == page.pk)
    context |= {"page": shown, "layout_error": error}
    return render(request, f"{TEMPLATE}#page-card", context, status=400 if error else 200)


def _export_options(post: Any, kind: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if post.getlist("pages"):
        options["pages"] = post.getlist("pages")
    if kind in (ProjectExport.Kind.PDF, ProjectExport.Kind.CBZ):
        for name in exports.PRINT_OPTIONS:
            if post.get(name, "").strip():
                options[name] = post[name].strip()
    return options


@login_required
@require_POST
def export_new(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    kind = request.POST.get("kind", "")
    try:
        export = exports.request_export(
            project=project,
            user=request.user,
            kind=kind,
            options=_export_options(request.POST, kind),
        )
    except UserError as exc:
        if not request.htmx:
            messages.error(request, exc.message)
            return redirect("pipeline:pages", slug=project.slug)
        context = _exports_context(
            project,
            export_error=exc.message,
            export_field=exc.field,
            export_values=_posted(request),
        )
        return render(request, f"{TEMPLATE}#exports", _with_pages(context), status=400)
    if not request.htmx:
        messages.success(request, f"Export {export.pk} queued.")
        return redirect("pipeline:pages", slug=project.slug)
    context = _exports_context(project, queued=export, export_values=_posted(request))
    return render(request, f"{TEMPLATE}#exports", _with_pages(context))


def _posted(request: HttpRequest) -> dict[str, Any]:
    """The export form as it was sent, to show it again."""
    return {**request.POST.dict(), "pages": request.POST.getlist("pages")}


def _with_pages(context: dict[str, Any]) -> dict[str, Any]:
    """The export form lists the story's pages to choose from."""
    project = context["project"]
    context["pages"] = (
        Page.objects.filter(project=project)
        .select_related("chapter")
        .order_by("chapter__position", "chapter_id", "position", "id")
    )
    return context


@login_required
@require_GET
def export_list(request: HttpRequest, slug: str) -> HttpResponse:
    """The exports list (what the page polls while one is running); 286 once none is."""
    project = get_project_for_user(request.user, slug)
    if not request.htmx:
        return redirect("pipeline:pages", slug=project.slug)
    context = _exports_context(project)
    response = render(request, f"{TEMPLATE}#export-list", context)
    if not context["exporting"]:
        response.status_code = HttpResponseStopPolling.status_code
    return response


@login_required
@require_GET
def export_download(request: HttpRequest, slug: str, export_id: int) -> FileResponse:
    project = get_project_for_user(request.user, slug)
    export = get_object_or_404(ProjectExport, project=project, pk=export_id)
    storage = storage_for(project)
    if export.status != ProjectExport.Status.DONE or not export.path:
        raise Http404("This export is not ready.")
    if not storage.exists(export.path):
        raise Http404("The export's file is missing from storage.")
    return FileResponse(
        storage.open(export.path, "rb"),
        as_attachment=True,
        filename=export.file_name or exports.download_name(export),
    )
