"""The API tokens section of a project's settings page: create, revoke and rotate.

A new token's plaintext is in the answer to the POST that made it and nowhere else (not in the
session, not behind a redirect), and that answer is never cached: reloading the page loses it.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from kroma.lib.errors import UserError
from pipeline.settings_forms import TokenForm
from pipeline.settings_views import add_user_error, answer_section, section_or_page
from projects.access import get_project_for_user
from projects.models import ApiToken, Project
from projects.services.tokens import (
    IssuedToken,
    create_token,
    revoke_token,
    rotate_token,
    user_tokens,
)


def _token_for(request: HttpRequest, project: Project, token_id: int) -> ApiToken:
    """One of the user's own tokens listed on this project's page, or 404."""
    token = user_tokens(request.user, project).filter(pk=token_id).first()
    if token is None:
        raise Http404("No such token.")
    return token


def _shown_once(request: HttpRequest, project: Project, issued: IssuedToken) -> HttpResponse:
    response = section_or_page(request, project, "tokens", issued=issued)
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
def settings_token_create(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    form = TokenForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        days = data["expires_days"]
        try:
            issued = create_token(
                user=request.user,
                name=data["name"],
                scopes=form.scopes(),
                project=project if data["reach"] == "project" else None,
                expires_at=timezone.now() + timedelta(days=days) if days else None,
            )
        except UserError as exc:
            add_user_error(form, exc)
        else:
            return _shown_once(request, project, issued)
    return answer_section(request, project, "tokens", ok=False, token_form=form)


@login_required
@require_POST
def settings_token_revoke(request: HttpRequest, slug: str, token_id: int) -> HttpResponse:
    """First POST asks to confirm; the POST with `confirm` revokes."""
    project = get_project_for_user(request.user, slug)
    token = _token_for(request, project, token_id)
    if not request.POST.get("confirm"):
        return section_or_page(request, project, "tokens", confirm_revoke=token)
    revoke_token(token=token, user=request.user)
    saved = f"Token {token.name} ({token.prefix}) revoked."
    return answer_section(request, project, "tokens", ok=True, saved=saved)


@login_required
@require_POST
def settings_token_rotate(request: HttpRequest, slug: str, token_id: int) -> HttpResponse:
    """First POST asks to confirm; the POST with `confirm` replaces the token with a new one."""
    project = get_project_for_user(request.user, slug)
    token = _token_for(request, project, token_id)
    if not request.POST.get("confirm"):
        return section_or_page(request, project, "tokens", confirm_rotate=token)
    try:
        issued = rotate_token(token=token, user=request.user)
    except UserError as exc:
        return section_or_page(request, project, "tokens", status=400, token_error=exc.message)
    return _shown_once(request, project, issued)
