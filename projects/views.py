from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh

from kroma.lib.errors import UserError
from projects.access import get_project_for_user
from projects.forms import NewProjectForm, ReferenceUploadForm, StoryForm
from projects.models import Asset, Project, ReferenceSetItem, StyleReference
from projects.services.characters import create_character_with_sheets
from projects.services.projects import create_project, update_story
from projects.services.references import add_references

COMING_SOON = {
    "copilot": ("Copilot", "Ask for a run in plain words and confirm it with one click."),
    "export": ("Export", "Package a project's selected outputs with their run logs."),
    "settings": ("Settings", "Storage policy, provider accounts and encrypted secrets."),
}


@login_required
@require_http_methods(["GET", "POST"])
def new_project(request: HttpRequest) -> HttpResponse:
    form = NewProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = create_project(
            owner=request.user, name=form.cleaned_data["name"], slug=form.cleaned_data["slug"]
        )
        url = reverse("pipeline:dashboard", args=[project.slug])
        if request.htmx:
            return HttpResponseClientRedirect(url)
        return HttpResponse(status=303, headers={"Location": url})
    template = "projects/new_project.html#form" if request.htmx else "projects/new_project.html"
    return render(request, template, {"form": form}, status=400 if form.errors else 200)


@login_required
def universe(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    template = "projects/universe.html#story" if request.htmx else "projects/universe.html"
    return render(request, template, _universe_context(project))


SCENE_STRIP = 48  # scenes shown on the universe page; the assets page lists them all
UPLOAD_FIELDS = ("kind", "character", "new_character", "images")  # errors shown at the field


def _universe_context(project: Project, **extra: object) -> dict[str, object]:
    """Everything the universe page shows, in a fixed number of queries."""
    items = ReferenceSetItem.objects.select_related("asset__project").order_by("position")
    scenes = project.assets.filter(kind=Asset.Kind.SCENE_REF).select_related("project")
    return {
        "project": project,
        "scenes": scenes.order_by("created_at", "pk")[:SCENE_STRIP],
        "scene_count": scenes.count(),
        "characters": project.characters.prefetch_related(
            Prefetch("reference_sets__items", queryset=items)
        ),
        "style_guides": project.style_guides.prefetch_related(
            Prefetch(
                "references",
                queryset=StyleReference.objects.select_related("asset__project").order_by(
                    "position"
                ),
            )
        ),
        "reference_sets": project.reference_sets.select_related("character").prefetch_related(
            Prefetch("items", queryset=items)
        ),
        **extra,
    }


@login_required
@require_POST
def add_reference_images(request: HttpRequest, slug: str) -> HttpResponse:
    """Upload scenes, style anchors or character sheets from the universe page."""
    project = get_project_for_user(request.user, slug)
    uploads = request.FILES.getlist("images")
    form = ReferenceUploadForm(request.POST, project=project)
    kind = request.POST.get("kind", "")
    too_big = [f.name for f in uploads if f.size > settings.MAX_UPLOAD_BYTES]
    new_name = ""
    try:
        if not form.is_valid():
            field, errors = next(iter(form.errors.items()))
            raise UserError(f"{errors[0]}", field=field)
        if too_big:
            raise UserError(
                f"{', '.join(too_big)}: larger than {settings.MAX_UPLOAD_BYTES / 1e6:.0f} MB each.",
                field="images",
            )
        files = [(f.name, f.read()) for f in uploads]
        new_name = form.cleaned_data["new_character"] if kind == "character" else ""
        if new_name:
            _, assets = create_character_with_sheets(
                project=project, actor=request.user, name=new_name, files=files
            )
        else:
            assets = add_references(
                project=project,
                user=request.user,
                kind=form.cleaned_data["kind"],
                files=files,
                character=form.cleaned_data["character"],
            )
    except UserError as exc:
        # The service names a new character's field "name"; on this form it is new_character.
        field = "new_character" if new_name and exc.field == "name" else exc.field
        context = _universe_context(
            project,
            upload_error=str(exc),
            upload_field=field if field in UPLOAD_FIELDS else "",
            upload_kind=kind,
            upload_character=request.POST.get("character", ""),
            upload_new_character=request.POST.get("new_character", ""),
        )
        return render(request, "projects/universe.html", context, status=400)
    label = {"scene": "scene", "style": "style reference", "character": "character reference"}
    created = f"Created {new_name}; " if new_name else ""
    messages.success(
        request, f"{created}Added {len(assets)} {label[kind]} image(s). Nothing else changed."
    )
    return redirect("projects:universe", slug=project.slug)


@login_required
@require_http_methods(["GET", "POST"])
def edit_story(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    form = StoryForm(request.POST or None, instance=project)
    if request.method == "POST" and form.is_valid():
        changed = form.changed_data
        update_story(
            project=project,
            actor=request.user,
            **{name: form.cleaned_data[name] for name in changed},
        )
        if not request.htmx:
            return redirect("projects:universe", slug=project.slug)
        if "name" in changed:  # the heading, sidebar and title show the name: reload them all
            return HttpResponseClientRefresh()
        return render(request, "projects/universe.html#story", {"project": project, "saved": True})
    template = "projects/universe.html#story-form" if request.htmx else "projects/story_edit.html"
    status = 400 if form.errors else 200
    return render(request, template, {"project": project, "form": form}, status=status)


@login_required
def coming_soon(request: HttpRequest, feature: str, slug: str | None = None) -> HttpResponse:
    if feature not in COMING_SOON:
        raise Http404("No such page.")
    project = get_project_for_user(request.user, slug) if slug else None
    title, blurb = COMING_SOON[feature]
    return render(
        request,
        "projects/coming_soon.html",
        {"project": project, "feature": feature, "title": title, "blurb": blurb},
    )
