"""The story studio: chapters -> pages -> panels, each with its script, cast, aspect and picks.

Views validate and call projects.services.story; they never write rows themselves.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from kroma.lib.errors import UserError
from kroma.lib.ids import parse_id
from pipeline.config import STAGES
from pipeline.services.picks import panel_picks
from pipeline.services.review import version_tree
from projects.access import get_project_for_user
from projects.models import STAGE_HELP, CastMember, Chapter, Page, Panel, Project, Stage
from projects.services.story import (
    add_chapter,
    add_page,
    create_panel,
    delete_panel,
    move_panel,
    panels_from_script,
    set_base_image,
    set_cast,
    update_panel,
)
from projects.story_forms import CastForm, NewPanelForm, PanelForm, PasteScriptForm


def _panels_with_cast():
    cast = CastMember.objects.select_related("character", "outfit").order_by("position", "id")
    return Panel.objects.select_related("base_asset").prefetch_related(
        Prefetch("cast", queryset=cast)
    )


def _decorate(project: Project, panels: list[Panel]) -> None:
    """Give each panel its picks per stage and the image that shows it best."""
    picks = panel_picks(panels)
    for panel in panels:
        panel.picks = [(s, picks[panel.pk].get(s)) for s in STAGES]
        latest = next((c for _, c in reversed(panel.picks) if c is not None), None)
        panel.cover_id = latest.asset_id if latest else panel.base_asset_id


def _story_context(project: Project, **extra: object) -> dict[str, object]:
    """Chapters, pages and panels in a fixed number of queries."""
    chapters = list(
        Chapter.objects.filter(project=project).prefetch_related(
            Prefetch(
                "pages",
                queryset=Page.objects.order_by("position", "id").prefetch_related(
                    Prefetch("panels", queryset=_panels_with_cast().order_by("position", "id"))
                ),
            )
        )
    )
    panels = [panel for c in chapters for page in c.pages.all() for panel in page.panels.all()]
    _decorate(project, panels)
    return {
        "project": project,
        "tab": "story",
        "chapters": chapters,
        "panel_count": len(panels),
        "paste_form": PasteScriptForm(),
        "new_panel_form": NewPanelForm(),
        "stages": [(s, Stage(s).label) for s in STAGES],
        **extra,
    }


def _story_response(request: HttpRequest, project: Project, status: int = 200, **extra):
    template = "pipeline/story.html#story" if request.htmx else "pipeline/story.html"
    return render(request, template, _story_context(project, **extra), status=status)


@login_required
def story(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    return _story_response(request, project)


@login_required
@require_POST
def story_paste(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    form = PasteScriptForm(request.POST)
    try:
        if not form.is_valid():
            raise UserError(form.errors["script"][0], field="script")
        panels = panels_from_script(
            project=project, actor=request.user, text=form.cleaned_data["script"]
        )
    except UserError as exc:
        return render(
            request,
            "pipeline/story.html",
            _story_context(project, paste_form=form, paste_error=exc.message),
            status=400,
        )
    messages.success(request, f"Added {len(panels)} panel{'s' if len(panels) != 1 else ''}.")
    return redirect("pipeline:story", slug=project.slug)


@login_required
@require_POST
def story_add(request: HttpRequest, slug: str) -> HttpResponse:
    """Add a chapter, a page (to a chapter) or a panel (to a page)."""
    project = get_project_for_user(request.user, slug)
    what = request.POST.get("what", "")
    try:
        if what == "chapter":
            add_chapter(project=project, actor=request.user)
        elif what == "page":
            chapter = _owned(project, Chapter, request.POST.get("chapter"))
            add_page(project=project, actor=request.user, chapter=chapter)
        elif what == "panel":
            form = NewPanelForm(request.POST)
            if not form.is_valid():
                raise UserError("Give the panel a title.", field="title")
            page = _owned(project, Page, request.POST.get("page"))
            panel = create_panel(
                project=project, actor=request.user, title=form.cleaned_data["title"], page=page
            )
            if not request.htmx:
                return redirect("pipeline:panel", slug=project.slug, panel_id=panel.pk)
        else:
            raise UserError("Add a chapter, a page or a panel.", field="what")
    except UserError as exc:
        page_id = request.POST.get("page", "")
        return _story_response(
            request,
            project,
            status=400,
            add_error=exc.message,
            add_error_page=parse_id(page_id) if what == "panel" else None,
        )
    if request.htmx:
        return _story_response(request, project)
    return redirect("pipeline:story", slug=project.slug)


def _owned(project: Project, model: type, pk: str | None):
    if not pk:
        return None
    number = parse_id(pk)
    if number is None:
        raise UserError("Choose one of this project's chapters or pages.", field="page")
    return get_object_or_404(model, project=project, pk=number)


@login_required
@require_POST
def panel_move(request: HttpRequest, slug: str, panel_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    panel = get_object_or_404(Panel, project=project, pk=panel_id)
    try:
        move_panel(
            panel=panel,
            actor=request.user,
            direction=request.POST.get("direction"),
            page=_owned(project, Page, request.POST.get("page")),
        )
    except UserError as exc:
        return _story_response(request, project, status=400, add_error=exc.message)
    if request.htmx:
        panel.refresh_from_db()
        note = f"Moved “{panel.title}” to position {panel.position} on {panel.page}."
        direction = request.POST.get("direction")
        return _story_response(
            request, project, moved=panel.pk, direction=direction, moved_note=note
        )
    return redirect(f"{_story_url(project)}#panel-{panel.pk}")


def _story_url(project: Project) -> str:
    from django.urls import reverse

    return reverse("pipeline:story", args=[project.slug])


@login_required
@require_POST
def panel_delete(request: HttpRequest, slug: str, panel_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    panel = get_object_or_404(Panel, project=project, pk=panel_id)
    delete_panel(panel=panel, actor=request.user)
    messages.success(request, f"Deleted panel “{panel.title}”. Its images stay in Assets.")
    if request.htmx:
        return _story_response(request, project)
    return redirect("pipeline:story", slug=project.slug)


@login_required
@require_http_methods(["GET", "POST"])
def panel_detail(request: HttpRequest, slug: str, panel_id: int) -> HttpResponse:
    """A panel: its script, shot, camera, aspect, base image and cast, and its picks."""
    project = get_project_for_user(request.user, slug)
    panels = _panels_with_cast().select_related("page__chapter")
    panel = get_object_or_404(panels, project=project, pk=panel_id)
    initial = {f: getattr(panel, f) for f in ("title", "script", "shot", "camera", "aspect")}
    form = PanelForm(request.POST or None, request.FILES or None, initial=initial)
    cast_form = CastForm(request.POST or None, project=project, panel=panel)
    status = 200
    if request.method == "POST":
        if form.is_valid() and cast_form.is_valid():
            try:
                _save_panel(request, panel, form, cast_form)
            except UserError as exc:
                target = form if exc.field in form.fields else cast_form
                target.add_error(exc.field if exc.field in target.fields else None, exc.message)
            else:
                messages.success(request, f"Saved “{panel.title}”.")
                return redirect("pipeline:panel", slug=project.slug, panel_id=panel.pk)
        status = 400
    _decorate(project, [panel])
    current = {stage: pick for stage, pick in panel.picks if pick is not None}
    siblings = list(Panel.objects.filter(project=project).values_list("pk", "title"))
    index = [pk for pk, _ in siblings].index(panel.pk)
    context = {
        "project": project,
        "tab": "story",
        "panel": panel,
        "form": form,
        "cast_form": cast_form,
        "stage_help": STAGE_HELP,
        "previous": siblings[index - 1] if index > 0 else None,
        "next": siblings[index + 1] if index + 1 < len(siblings) else None,
        "versions": version_tree(panel=panel, current=current),
    }
    return render(request, "pipeline/panel.html", context, status=status)


def _save_panel(request: HttpRequest, panel: Panel, form: PanelForm, cast_form: CastForm) -> None:
    data = form.cleaned_data
    upload = data.get("base_image")
    if upload is not None:
        if upload.size > settings.MAX_UPLOAD_BYTES:
            raise UserError(
                f"{upload.name}: larger than {settings.MAX_UPLOAD_BYTES / 1e6:.0f} MB.",
                field="base_image",
            )
        try:
            set_base_image(panel=panel, actor=request.user, name=upload.name, data=upload.read())
        except UserError as exc:
            raise UserError(exc.message, field="base_image") from None
    fields = {f: data[f] for f in ("title", "script", "shot", "camera", "aspect")}
    if data.get("clear_base") and upload is None:
        fields["base_asset"] = None
    update_panel(panel=panel, actor=request.user, **fields)
    set_cast(panel=panel, actor=request.user, entries=cast_form.entries())
