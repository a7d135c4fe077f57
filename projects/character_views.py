"""The Characters pages: a project's characters as cards, and one character's page (its text,
its reference sheets, its outfits with their own sheets, the panels it is cast in).

Every change goes through projects.services.characters / .references; a refused change answers
400 with the message at its field. An htmx request gets the region it swaps (the details card,
a sheets grid, an outfit card, the outfit list, the delete box); a plain form post is
redirected back to the page (or gets the page, with 400).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh, retarget

from kroma.lib.errors import UserError
from projects.access import get_project_for_user
from projects.character_forms import CharacterForm, ConfirmDeleteForm, OutfitForm, SheetUploadForm
from projects.models import CastMember, Character, Outfit, Project, ReferenceSetItem
from projects.services.characters import (
    add_outfit,
    create_character,
    delete_character,
    delete_outfit,
    remove_reference,
    update_character,
    update_outfit,
)
from projects.services.references import add_references

LIST_TEMPLATE = "projects/characters.html"
TEMPLATE = "projects/character.html"
NEW_FORM_ID = "id_new_%s"
NEW_OUTFIT_ID = "id_new_outfit_%s"


@dataclass
class SheetBox:
    """One grid of reference sheets (the character's own, or one outfit's) and its upload."""

    character: Character
    outfit: Outfit | None
    items: list[ReferenceSetItem]
    form: SheetUploadForm
    note: str = ""
    error: str = ""

    @property
    def key(self) -> str:
        return "own" if self.outfit is None else f"outfit-{self.outfit.pk}"


@dataclass
class OutfitCard:
    outfit: Outfit
    form: OutfitForm
    sheets: SheetBox
    note: str = ""
    error: str = ""
    confirm_delete: bool = False


# --- loading ---


def _count(queryset: QuerySet, by: str) -> Coalesce:
    counts = queryset.order_by().values(by).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counts), 0)


def _characters(project: Project) -> QuerySet[Character]:
    """The cards: each character with its first sheet (its own before its outfits') and
    counts, in one query however many characters there are."""
    first_sheet = (
        ReferenceSetItem.objects.filter(reference_set__character=OuterRef("pk"))
        .order_by(F("reference_set__outfit_id").asc(nulls_first=True), "position", "id")
        .values("asset_id")[:1]
    )
    return project.characters.annotate(
        cover_id=Subquery(first_sheet),
        outfit_count=_count(Outfit.objects.filter(character=OuterRef("pk")), "character"),
        panel_count=_count(CastMember.objects.filter(character=OuterRef("pk")), "character"),
        sheet_count=_count(
            ReferenceSetItem.objects.filter(reference_set__character=OuterRef("pk")),
            "reference_set__character",
        ),
    ).order_by("name", "pk")


def _character_for(project: Project, character_slug: str) -> Character:
    return get_object_or_404(
        Character.objects.select_related("project"), project=project, slug=character_slug
    )


def _outfit_for(character: Character, outfit_id: int) -> Outfit:
    return get_object_or_404(_outfits(character), pk=outfit_id)


def _outfits(character: Character) -> QuerySet[Outfit]:
    return (
        Outfit.objects.filter(character=character)
        .select_related("character__project")
        .annotate(cast_count=Count("cast_entries"))
        .order_by("name", "id")
    )


def _sheet_items(character: Character, **filters: Any) -> QuerySet[ReferenceSetItem]:
    return (
        ReferenceSetItem.objects.filter(
            reference_set__project=character.project, reference_set__character=character, **filters
        )
        .select_related("asset", "reference_set")
        .order_by("position", "id")
    )


def _cast(character: Character) -> list[CastMember]:
    return list(
        CastMember.objects.filter(character=character)
        .select_related("panel", "outfit")
        .order_by(
            "panel__page__chapter__position", "panel__page__position", "panel__position", "panel"
        )
    )


# --- building what the page shows ---


def _focus_first_error(form: forms.Form) -> None:
    """A re-rendered form puts the cursor where the fix is needed (htmx honours autofocus)."""
    for name in form.errors:
        if name in form.fields:
            form.fields[name].widget.attrs["autofocus"] = True
            return


def _add_error(form: forms.Form, exc: UserError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    _focus_first_error(form)


def _box(
    character: Character,
    outfit: Outfit | None,
    items: list[ReferenceSetItem] | None = None,
    *,
    form: SheetUploadForm | None = None,
    **notes: str,
) -> SheetBox:
    if items is None:
        items = list(_sheet_items(character, reference_set__outfit=outfit))
    key = "own" if outfit is None else f"outfit-{outfit.pk}"
    form = form or SheetUploadForm(auto_id=f"id_{key}_%s")
    _focus_first_error(form)
    return SheetBox(character=character, outfit=outfit, items=items, form=form, **notes)


def _outfit_card(
    outfit: Outfit,
    items: list[ReferenceSetItem] | None = None,
    *,
    form: OutfitForm | None = None,
    box: SheetBox | None = None,
    **notes: Any,
) -> OutfitCard:
    if form is None:
        initial = {"name": outfit.name, "description": outfit.description}
        form = OutfitForm(initial=initial, auto_id=f"id_outfit{outfit.pk}_%s")
    box = box or _box(outfit.character, outfit, items)
    return OutfitCard(outfit=outfit, form=form, sheets=box, **notes)


def _details_form(character: Character) -> CharacterForm:
    fields = ("name", "description", "continuity_notes")
    return CharacterForm(initial={name: getattr(character, name) for name in fields})


def _page_context(
    project: Project,
    character: Character,
    *,
    details_form: CharacterForm | None = None,
    boxes: dict[str, SheetBox] | None = None,
    cards: dict[int, OutfitCard] | None = None,
    new_outfit_form: OutfitForm | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The whole character page; the given forms, boxes and cards replace the default ones."""
    boxes, cards = boxes or {}, cards or {}
    grouped: dict[int | None, list[ReferenceSetItem]] = {}
    for item in _sheet_items(character):
        grouped.setdefault(item.reference_set.outfit_id, []).append(item)
    outfit_cards = [
        cards.get(outfit.pk)
        or _outfit_card(outfit, grouped.get(outfit.pk, []), box=boxes.get(f"outfit-{outfit.pk}"))
        for outfit in _outfits(character)
    ]
    cast = _cast(character)
    return {
        "project": project,
        "character": character,
        "tab": "characters",
        "details_form": details_form or _details_form(character),
        "sheets": boxes.get("own") or _box(character, None, grouped.get(None, [])),
        "outfit_cards": outfit_cards,
        "new_outfit_form": new_outfit_form or OutfitForm(auto_id=NEW_OUTFIT_ID),
        "cast": cast,
        "cast_count": len(cast),
        **extra,
    }


def _reply(
    request: HttpRequest,
    character: Character,
    *,
    region: str,
    context: dict[str, Any],
    status: int = 200,
    note: str = "",
    anchor: str = "",
    page: dict[str, Any] | None = None,
) -> HttpResponse:
    """htmx: the region alone; otherwise a redirect back (with `note`) or the page with 400,
    built with `page` (the bound forms and notes that replace the defaults)."""
    project = character.project
    if request.htmx:
        base = {"project": project, "character": character}
        return render(request, f"{TEMPLATE}#{region}", {**base, **context}, status=status)
    if status >= 400:
        context = _page_context(project, character, **(page or {}))
        return render(request, TEMPLATE, context, status=status)
    if note:
        messages.success(request, note)
    url = reverse("projects:character", args=[project.slug, character.slug])
    return redirect(f"{url}#{anchor}" if anchor else url)


# --- the list ---


def _list_page(
    request: HttpRequest, project: Project, *, form: CharacterForm | None = None, status: int = 200
) -> HttpResponse:
    context = {
        "project": project,
        "characters": list(_characters(project)),
        "form": form or CharacterForm(auto_id=NEW_FORM_ID),
        "tab": "characters",
    }
    template = f"{LIST_TEMPLATE}#character-cards" if request.htmx else LIST_TEMPLATE
    return render(request, template, context, status=status)


@login_required
@require_GET
def characters(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    return _list_page(request, project)


@login_required
@require_POST
def new_character(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    form = CharacterForm(request.POST, auto_id=NEW_FORM_ID)
    if form.is_valid():
        try:
            character = create_character(project=project, actor=request.user, **form.cleaned_data)
        except UserError as exc:
            _add_error(form, exc)
        else:
            messages.success(request, f"{character.name} created: add reference sheets below.")
            url = reverse("projects:character", args=[project.slug, character.slug])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    _focus_first_error(form)
    if request.htmx:
        context = {"project": project, "form": form}
        return render(request, f"{LIST_TEMPLATE}#new-character", context, status=400)
    return _list_page(request, project, form=form, status=400)


# --- one character ---


@login_required
@require_GET
def character(request: HttpRequest, slug: str, character_slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    found = _character_for(project, character_slug)
    return render(request, TEMPLATE, _page_context(project, found))


@login_required
@require_POST
def edit_character(request: HttpRequest, slug: str, character_slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    found = _character_for(project, character_slug)
    old_name = found.name
    form = CharacterForm(request.POST)
    if form.is_valid():
        try:
            update_character(character=found, actor=request.user, **form.cleaned_data)
        except UserError as exc:
            _add_error(form, exc)
        else:
            if request.htmx and found.name != old_name:
                # The heading, title and tabs show the name: reload the page, note included.
                messages.success(request, f"{found.name}: saved.")
                return HttpResponseClientRefresh()
            context = {"details_form": _details_form(found), "details_note": "saved"}
            return _reply(
                request, found, region="details", context=context, note=f"{found.name}: saved."
            )
    _focus_first_error(form)
    return _reply(
        request,
        found,
        region="details",
        context={"details_form": form},
        status=400,
        page={"details_form": form},
    )


@login_required
@require_http_methods(["GET", "POST"])
def delete_character_view(request: HttpRequest, slug: str, character_slug: str) -> HttpResponse:
    """GET asks to confirm (the delete box with the question); POST with confirm=on deletes."""
    project = get_project_for_user(request.user, slug)
    found = _character_for(project, character_slug)
    cast_count = found.cast_entries.count()
    if request.method == "GET":
        context = {"confirm_delete": True, "cast_count": cast_count}
        if request.htmx:
            return _reply(request, found, region="danger", context=context)
        return render(request, TEMPLATE, _page_context(project, found, confirm_delete=True))
    form = ConfirmDeleteForm(request.POST)
    if not form.is_valid():
        error = form.errors["confirm"][0]
        context = {"confirm_delete": True, "cast_count": cast_count, "delete_error": error}
        page = {"confirm_delete": True, "delete_error": error}
        return _reply(request, found, region="danger", context=context, status=400, page=page)
    name = found.name
    delete_character(character=found, actor=request.user)
    messages.success(
        request,
        f"{name} deleted: left {cast_count} panel{'s' if cast_count != 1 else ''}; "
        "their reference images stay in Assets.",
    )
    url = reverse("projects:characters", args=[project.slug])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


# --- reference sheets ---


def _add_sheets(request: HttpRequest, found: Character, outfit: Outfit | None) -> HttpResponse:
    key = "own" if outfit is None else f"outfit-{outfit.pk}"
    form = SheetUploadForm(request.POST, request.FILES, auto_id=f"id_{key}_%s")
    if form.is_valid():
        uploads = form.cleaned_data["images"]
        try:
            assets = add_references(
                project=found.project,
                user=request.user,
                kind="character",
                files=[(f.name, f.read()) for f in uploads],
                character=found,
                outfit=outfit,
            )
        except UserError as exc:
            form.add_error("images", exc.message)
        else:
            note = f"added {len(assets)} sheet{'s' if len(assets) != 1 else ''}"
            whose = found.name if outfit is None else f"{found.name}, {outfit.name}"
            return _reply(
                request,
                found,
                region="sheets",
                context={"box": _box(found, outfit, note=note)},
                note=f"{whose}: {note}.",
                anchor=f"sheets-{key}",
            )
    box = _box(found, outfit, form=form)
    return _reply(
        request, found, region="sheets", context={"box": box}, status=400, page=_box_page(box)
    )


def _remove_sheet(
    request: HttpRequest, found: Character, outfit: Outfit | None, item_id: int
) -> HttpResponse:
    try:
        remove_reference(character=found, actor=request.user, item_id=item_id, outfit=outfit)
    except UserError as exc:
        box = _box(found, outfit, error=exc.message)
        return _reply(
            request, found, region="sheets", context={"box": box}, status=400, page=_box_page(box)
        )
    box = _box(found, outfit, note="sheet removed; the image stays in Assets")
    return _reply(
        request,
        found,
        region="sheets",
        context={"box": box},
        note=f"{found.name}: sheet removed; the image stays in Assets.",
        anchor=f"sheets-{box.key}",
    )


def _box_page(box: SheetBox) -> dict[str, Any]:
    return {"boxes": {box.key: box}}


@login_required
@require_POST
def add_character_sheets(request: HttpRequest, slug: str, character_slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    return _add_sheets(request, _character_for(project, character_slug), None)


@login_required
@require_POST
def remove_character_sheet(
    request: HttpRequest, slug: str, character_slug: str, item_id: int
) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    return _remove_sheet(request, _character_for(project, character_slug), None, item_id)


@login_required
@require_POST
def add_outfit_sheets(
    request: HttpRequest, slug: str, character_slug: str, outfit_id: int
) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    found = _character_for(project, character_slug)
    return _add_sheets(request, found, _outfit_for(found, outfit_id))


@login_required
@require_POST
def remove_outfit_sheet(
    request: HttpRequest, slug: str, character_slug: str, outfit_id: int, item_id: int
) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    found = _character_for(project, character_slug)
    return _remove_sheet(request, found, _outfit_for(found, outfit_id), item_id)


# --- outfits ---


def _outfits_context(found: Character, **extra: Any) -> dict[str, Any]:
    return {
        "outfit_cards": [_outfit_card(outfit) for outfit in _outfits(found)],
        "new_outfit_form": OutfitForm(auto_id=NEW_OUTFIT_ID),
        **extra,
    }


@login_required
@require_POST
def new_outfit(request: HttpRequest, slug: str, character_slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    found = _character_for(project, character_slug)
    form = OutfitForm(request.POST, auto_id=NEW_OUTFIT_ID)
    if form.is_valid():
        try:
            outfit = add_outfit(character=found, actor=request.user, **form.cleaned_data)
        except UserError as exc:
            _add_error(form, exc)
        else:
            note = f"outfit {outfit.name} added: add its sheets below"
            return _reply(
                request,
                found,
                region="outfits",
                context=_outfits_context(found, outfits_note=note),
                note=f"{found.name}: {note}.",
                anchor=f"outfit-{outfit.pk}",
            )
    _focus_first_error(form)
    context = {**_outfits_context(found), "new_outfit_form": form}
    page = {"new_outfit_form": form}
    return _reply(request, found, region="outfits", context=context, status=400, page=page)


@login_required
@require_POST
def edit_outfit(
    request: HttpRequest, slug: str, character_slug: str, outfit_id: int
) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    found = _character_for(project, character_slug)
    outfit = _outfit_for(found, outfit_id)
    form = OutfitForm(request.POST, auto_id=f"id_outfit{outfit.pk}_%s")
    if form.is_valid():
        try:
            update_outfit(outfit=outfit, actor=request.user, **form.cleaned_data)
        except UserError as exc:
            _add_error(form, exc)
        else:
            card = _outfit_card(_outfit_for(found, outfit_id), note="saved")
            return _reply(
                request,
                found,
                region="outfit",
                context={"card": card},
                note=f"{found.name}, {card.outfit.name}: saved.",
                anchor=f"outfit-{outfit.pk}",
            )
    _focus_first_error(form)
    card = _outfit_card(_outfit_for(found, outfit_id), form=form)
    page = {"cards": {outfit.pk: card}}
    return _reply(request, found, region="outfit", context={"card": card}, status=400, page=page)


@login_required
@require_http_methods(["GET", "POST"])
def delete_outfit_view(
    request: HttpRequest, slug: str, character_slug: str, outfit_id: int
) -> HttpResponse:
    """GET asks to confirm (the outfit's card with the question); POST with confirm=on deletes."""
    project = get_project_for_user(request.user, slug)
    found = _character_for(project, character_slug)
    if request.method == "POST" and not _outfits(found).filter(pk=outfit_id).exists():
        # A second "Yes, delete" (a double press, or one that beat htmx) finds it gone: the
        # list says so instead of a 404 page.
        note = "that outfit is already deleted"
        response = _reply(
            request,
            found,
            region="outfits",
            context=_outfits_context(found, outfits_note=note),
            note=f"{found.name}: {note}.",
            anchor="outfits",
        )
        return retarget(response, "#outfits") if request.htmx else response
    outfit = _outfit_for(found, outfit_id)
    if request.method == "GET":
        card = _outfit_card(outfit, confirm_delete=True)
        if request.htmx:
            return _reply(request, found, region="outfit", context={"card": card})
        context = _page_context(project, found, cards={outfit.pk: card})
        return render(request, TEMPLATE, context)
    form = ConfirmDeleteForm(request.POST)
    if not form.is_valid():
        card = _outfit_card(outfit, confirm_delete=True, error=form.errors["confirm"][0])
        page = {"cards": {outfit.pk: card}}
        return _reply(
            request, found, region="outfit", context={"card": card}, status=400, page=page
        )
    name = outfit.name
    delete_outfit(outfit=outfit, actor=request.user)
    note = f"outfit {name} deleted; its sheets stay in Assets"
    response = _reply(
        request,
        found,
        region="outfits",
        context=_outfits_context(found, outfits_note=note),
        note=f"{found.name}: {note}.",
        anchor="outfits",
    )
    # The confirm form swaps its own card; once the outfit is gone, the whole list answers.
    return retarget(response, "#outfits") if request.htmx else response
