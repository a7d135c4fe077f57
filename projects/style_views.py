"""The Style page: set up style guides (text, reference images), lock and unlock them.

Every change goes through projects.services.style / .security; a refused change answers 400
with the message at its field. An htmx request gets the region it swaps (a guide's card or its
references); a plain form post is redirected back to the page (or gets the page, with 400).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kroma.lib.errors import UserError
from projects.access import get_project_for_user
from projects.forms import ConfirmUnlockForm, StyleGuideForm, StyleReferenceUploadForm
from projects.models import Project, StyleGuide, StyleReference
from projects.services.security import lock_style_guide, unlock_style_guide
from projects.services.style import (
    add_style_references,
    create_style_guide,
    remove_style_reference,
    update_style_guide,
)

TEMPLATE = "projects/style.html"


@dataclass
class GuideCard:
    """One guide as its card shows it: the forms (bound after a refused post) and notes."""

    guide: StyleGuide
    form: StyleGuideForm
    upload_form: StyleReferenceUploadForm
    content_sha256: str = ""
    confirm_unlock: bool = False
    error: str = ""  # a refused lock or unlock (shown on the card)
    note: str = ""  # what the last change of the card did
    refs_error: str = ""  # a refused removal (shown with the references)
    refs_note: str = ""  # what the last change of the references did
    references: list[StyleReference] = field(default_factory=list)


def _card(
    guide: StyleGuide,
    *,
    form: StyleGuideForm | None = None,
    upload_form: StyleReferenceUploadForm | None = None,
    **notes: Any,
) -> GuideCard:
    auto_id = f"id_{guide.slug}_%s"  # several guides' forms on one page: distinct ids
    if form is None:
        initial = {"name": guide.name, "description": guide.description, "rules": guide.rules}
        form = StyleGuideForm(initial=initial, auto_id=auto_id)
    if upload_form is None:
        upload_form = StyleReferenceUploadForm(auto_id=auto_id)
    card = GuideCard(
        guide=guide,
        form=form,
        upload_form=upload_form,
        content_sha256=guide.content_sha256,
        references=list(guide.references.all()),
        **notes,
    )
    _focus_first_error(card.form)
    _focus_first_error(card.upload_form)
    return card


def _focus_first_error(form: StyleGuideForm | StyleReferenceUploadForm) -> None:
    """A re-rendered form puts the cursor where the fix is needed (htmx honours autofocus)."""
    for name in form.errors:
        if name in form.fields:
            form.fields[name].widget.attrs["autofocus"] = True
            return


def _guides(project: Project) -> QuerySet[StyleGuide]:
    references = StyleReference.objects.select_related("asset__project").order_by("position", "id")
    return project.style_guides.order_by("name", "pk").prefetch_related(
        Prefetch("references", queryset=references)
    )


def _guide_for(project: Project, guide_slug: str) -> StyleGuide:
    return get_object_or_404(_guides(project), slug=guide_slug)


def _page(
    request: HttpRequest,
    project: Project,
    *,
    status: int = 200,
    cards: dict[str, GuideCard] | None = None,
    new_form: StyleGuideForm | None = None,
) -> HttpResponse:
    """The whole page (or its guides region for htmx); `cards` replace the default cards."""
    cards = cards or {}
    context = {
        "project": project,
        "cards": [cards.get(g.slug) or _card(g) for g in _guides(project)],
        "new_form": new_form or StyleGuideForm(auto_id="id_new_%s"),
        "tab": "style",
    }
    template = f"{TEMPLATE}#guides" if request.htmx else TEMPLATE
    return render(request, template, context, status=status)


def _answer(
    request: HttpRequest, project: Project, card: GuideCard, *, region: str, status: int = 200
) -> HttpResponse:
    """htmx: the card or references region alone; otherwise the page (400) or a redirect."""
    if request.htmx:
        context = {"project": project, "card": card, "oob": region == "guide-refs"}
        return render(request, f"{TEMPLATE}#{region}", context, status=status)
    if status >= 400:
        return _page(request, project, status=status, cards={card.guide.slug: card})
    if card.note or card.refs_note:
        messages.success(request, f"{card.guide.name}: {card.note or card.refs_note}.")
    return redirect(f"{reverse('projects:style', args=[project.slug])}#guide-{card.guide.slug}")


@login_required
@require_GET
def style(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    return _page(request, project)


@login_required
@require_POST
def new_style_guide(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    form = StyleGuideForm(request.POST, auto_id="id_new_%s")
    if form.is_valid():
        try:
            guide = create_style_guide(project=project, user=request.user, **form.cleaned_data)
        except UserError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            if not request.htmx:
                messages.success(request, f"Style guide '{guide.name}' created as a draft.")
                url = reverse("projects:style", args=[project.slug])
                return redirect(f"{url}#guide-{guide.slug}")
            card = _card(_guide_for(project, guide.slug), note="created as a draft")
            return _page(request, project, cards={guide.slug: card})
    _focus_first_error(form)
    return _page(request, project, status=400, new_form=form)


@login_required
@require_POST
def edit_style_guide(request: HttpRequest, slug: str, guide_slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    guide = _guide_for(project, guide_slug)
    form = StyleGuideForm(request.POST, auto_id=f"id_{guide.slug}_%s")
    if form.is_valid():
        try:
            update_style_guide(guide=guide, user=request.user, **form.cleaned_data)
        except UserError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            card = _card(_guide_for(project, guide_slug), note="saved")
            return _answer(request, project, card, region="guide")
    return _answer(request, project, _card(guide, form=form), region="guide", status=400)


@login_required
@require_POST
def add_style_images(request: HttpRequest, slug: str, guide_slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    guide = _guide_for(project, guide_slug)
    form = StyleReferenceUploadForm(request.POST, request.FILES, auto_id=f"id_{guide.slug}_%s")
    if form.is_valid():
        uploads = form.cleaned_data["images"]
        try:
            assets = add_style_references(
                guide=guide, user=request.user, files=[(f.name, f.read()) for f in uploads]
            )
        except UserError as exc:
            form.add_error("images", f"{exc.message} Nothing was added.")
        else:
            note = f"added {len(assets)} reference image{'s' if len(assets) != 1 else ''}"
            card = _card(_guide_for(project, guide_slug), refs_note=note)
            return _answer(request, project, card, region="guide-refs")
    card = _card(guide, upload_form=form)
    return _answer(request, project, card, region="guide-refs", status=400)


@login_required
@require_POST
def remove_style_image(
    request: HttpRequest, slug: str, guide_slug: str, reference_id: int
) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    guide = _guide_for(project, guide_slug)
    try:
        remove_style_reference(guide=guide, user=request.user, reference_id=reference_id)
    except UserError as exc:
        return _answer(
            request, project, _card(guide, refs_error=exc.message), region="guide-refs", status=400
        )
    card = _card(_guide_for(project, guide_slug), refs_note="reference image removed")
    return _answer(request, project, card, region="guide-refs")


@login_required
@require_POST
def lock_guide(request: HttpRequest, slug: str, guide_slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    guide = _guide_for(project, guide_slug)
    try:
        lock_style_guide(guide=guide, user=request.user)
    except UserError as exc:
        return _answer(
            request, project, _card(guide, error=exc.message), region="guide", status=400
        )
    card = _card(_guide_for(project, guide_slug), note="locked")
    return _answer(request, project, card, region="guide")


@login_required
@require_http_methods(["GET", "POST"])
def unlock_guide(request: HttpRequest, slug: str, guide_slug: str) -> HttpResponse:
    """GET asks to confirm (the card with the question); POST with confirm=on unlocks."""
    project = get_project_for_user(request.user, slug)
    guide = _guide_for(project, guide_slug)
    if request.method == "GET":
        card = _card(guide, confirm_unlock=guide.is_locked)
        if request.htmx:
            return _answer(request, project, card, region="guide")
        return _page(request, project, cards={guide.slug: card})
    form = ConfirmUnlockForm(request.POST)
    try:
        if not form.is_valid():
            raise UserError(form.errors["confirm"][0], field="confirm")
        unlock_style_guide(guide=guide, user=request.user)
    except UserError as exc:
        card = _card(guide, error=exc.message, confirm_unlock=guide.is_locked)
        return _answer(request, project, card, region="guide", status=400)
    card = _card(_guide_for(project, guide_slug), note="unlocked: back to draft")
    return _answer(request, project, card, region="guide")
