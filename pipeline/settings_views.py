"""A project's settings page: storage, budgets, secrets, provider accounts, generation and QA.

Each section is a named partial of templates/pipeline/settings.html with its own form. An htmx
request gets the section back (400 with the errors at their fields); a plain POST redirects to
the page on success and renders the whole page with the errors (400) otherwise.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from kroma.lib.errors import UserError
from pipeline.config import ConfigError, check_project_overrides
from pipeline.services.budgets import budget_status, set_budgets
from pipeline.services.settings import manifest_defaults, save_manifest_overrides, storage_summary
from pipeline.settings_forms import (
    BudgetForm,
    ManifestSettingsForm,
    ProviderAccountEditForm,
    ProviderAccountForm,
    SecretForm,
    TokenForm,
    field_name,
)
from projects.access import get_project_for_user
from projects.models import ApiToken, Project, ProjectSecret, ProviderAccount
from projects.services.security import (
    add_provider_account,
    delete_provider_account,
    delete_secret,
    set_secret,
    update_provider_account,
)
from projects.services.tokens import user_tokens

TEMPLATE = "pipeline/settings.html"


def add_user_error(form: Form, exc: UserError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def _or_new(form: Form | None, form_class: type[Form]) -> Form:
    return form if form is not None else form_class()


def _secrets_context(project: Project, **extra: Any) -> dict[str, Any]:
    return {
        "project": project,
        "secrets": list(
            ProjectSecret.objects.filter(project=project)
            .defer("ciphertext")  # the page shows the masked hint only
            .order_by("provider", "name")
        ),
        "secret_form": _or_new(extra.pop("secret_form", None), SecretForm),
        **extra,
    }


def _accounts_context(project: Project, **extra: Any) -> dict[str, Any]:
    failed = extra.pop("edit_form", None)  # (account id, bound form with errors)
    accounts = list(ProviderAccount.objects.filter(project=project).order_by("provider", "name"))
    for account in accounts:
        if failed and failed[0] == account.pk:
            account.form = failed[1]
        else:
            account.form = ProviderAccountEditForm(
                initial={"base_url": account.base_url, "is_enabled": account.is_enabled},
                prefix=f"acct{account.pk}",
            )
    return {
        "project": project,
        "accounts": accounts,
        "account_form": _or_new(extra.pop("account_form", None), ProviderAccountForm),
        **extra,
    }


def _budgets_context(project: Project, **extra: Any) -> dict[str, Any]:
    form = extra.pop("budget_form", None) or BudgetForm(
        initial={
            "monthly_budget_usd": project.monthly_budget_usd,
            "run_cap_usd": project.run_cap_usd,
        }
    )
    return {
        "project": project,
        "budget_form": form,
        "budget": budget_status(project=project),
        **extra,
    }


def _generation_context(project: Project, **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {"project": project, "generation_form": None, "config_error": ""}
    form = extra.pop("generation_form", None)
    if form is None:
        try:
            defaults = manifest_defaults()
        except ConfigError as exc:  # settings/manifest.json itself: nothing to edit here
            context["config_error"] = str(exc)
            return {**context, **extra}
        stored_error = None
        try:
            check_project_overrides(project)
        except ConfigError as exc:
            stored_error = (exc.path, exc.reason)
            context["config_error"] = str(exc)
        form = ManifestSettingsForm(
            defaults=defaults, overrides=project.manifest_overrides, stored_error=stored_error
        )
        if stored_error and field_name(stored_error[0]) in form.fields:
            context["config_error"] = ""  # shown at its field instead
    context["generation_form"] = form
    return {**context, **extra}


def token_state(token: ApiToken) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return "expired"
    return "active"


def _tokens_context(project: Project, user: Any, **extra: Any) -> dict[str, Any]:
    """The user's tokens for this project (and their unscoped ones); `issued` shows once."""
    tokens = list(user_tokens(user, project)[:100])
    for token in tokens:
        token.state = token_state(token)
    return {
        "project": project,
        "tokens": tokens,
        "token_form": _or_new(extra.pop("token_form", None), TokenForm),
        **extra,
    }


def _page_context(project: Project, user: Any, **extra: Any) -> dict[str, Any]:
    sections = {"secret_form", "account_form", "edit_form", "generation_form", "budget_form"}
    sections |= {"token_form"}
    own = {k: v for k, v in extra.items() if k in sections}
    rest = {k: v for k, v in extra.items() if k not in sections}
    return {
        **_tokens_context(project, user, token_form=own.get("token_form")),
        **_secrets_context(project, secret_form=own.get("secret_form")),
        **_accounts_context(
            project, account_form=own.get("account_form"), edit_form=own.get("edit_form")
        ),
        **_generation_context(project, generation_form=own.get("generation_form")),
        **_budgets_context(project, budget_form=own.get("budget_form")),
        "storage": storage_summary(project=project),
        "nav": "settings",
        **rest,
    }


def _section_context(project: Project, user: Any, section: str, **extra: Any) -> dict[str, Any]:
    if section == "tokens":
        return _tokens_context(project, user, **extra)
    build = {
        "secrets": _secrets_context,
        "accounts": _accounts_context,
        "generation": _generation_context,
        "budgets": _budgets_context,
    }[section]
    return build(project, **extra)


def answer_section(
    request: HttpRequest,
    project: Project,
    section: str,
    *,
    ok: bool,
    saved: str = "",
    **forms: Any,
) -> HttpResponse:
    """The section (htmx) or the page: a redirect after a plain POST that worked."""
    if request.htmx:
        context = {**_section_context(project, request.user, section, **forms), "saved": saved}
        return render(request, f"{TEMPLATE}#{section}", context, status=200 if ok else 400)
    if ok:
        if saved:
            messages.success(request, saved)
        return redirect(reverse("pipeline:settings", args=[project.slug]) + f"#{section}")
    return render(request, TEMPLATE, _page_context(project, request.user, **forms), status=400)


def section_or_page(
    request: HttpRequest, project: Project, section: str, *, status: int = 200, **extra: Any
) -> HttpResponse:
    """The section (htmx) or the page: asking to confirm, or showing what only shows once."""
    if request.htmx:
        context = _section_context(project, request.user, section, **extra)
        return render(request, f"{TEMPLATE}#{section}", context, status=status)
    return render(request, TEMPLATE, _page_context(project, request.user, **extra), status=status)


@login_required
def settings_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    return render(request, TEMPLATE, _page_context(project, request.user))


@login_required
@require_POST
def settings_secret_save(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    form = SecretForm(request.POST)
    saved = ""
    if form.is_valid():
        data = form.cleaned_data
        try:
            secret = set_secret(
                project=project,
                user=request.user,
                provider=data["provider"],
                name=data["name"],
                value=data["value"],
            )
        except UserError as exc:
            add_user_error(form, exc)
        else:
            saved = f"Secret {secret.provider}/{secret.name} saved ({secret.hint})."
            form = SecretForm()
    return answer_section(
        request, project, "secrets", ok=not form.errors, saved=saved, secret_form=form
    )


@login_required
@require_POST
def settings_secret_delete(request: HttpRequest, slug: str, secret_id: int) -> HttpResponse:
    """First POST asks to confirm; the POST with `confirm` deletes."""
    project = get_project_for_user(request.user, slug)
    secret = get_object_or_404(ProjectSecret, project=project, pk=secret_id)
    if not request.POST.get("confirm"):
        return section_or_page(request, project, "secrets", confirm_secret=secret)
    delete_secret(project=project, user=request.user, provider=secret.provider, name=secret.name)
    saved = f"Secret {secret.provider}/{secret.name} deleted."
    return answer_section(request, project, "secrets", ok=True, saved=saved)


@login_required
@require_POST
def settings_account_add(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    form = ProviderAccountForm(request.POST)
    saved = ""
    if form.is_valid():
        try:
            account = add_provider_account(project=project, user=request.user, **form.cleaned_data)
        except UserError as exc:
            add_user_error(form, exc)
        else:
            saved = f"Account {account} added."
            form = ProviderAccountForm()
    return answer_section(
        request, project, "accounts", ok=not form.errors, saved=saved, account_form=form
    )


@login_required
@require_POST
def settings_account_edit(request: HttpRequest, slug: str, account_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    account = get_object_or_404(ProviderAccount, project=project, pk=account_id)
    form = ProviderAccountEditForm(request.POST, prefix=f"acct{account.pk}")
    saved = ""
    if form.is_valid():
        try:
            update_provider_account(account=account, user=request.user, **form.cleaned_data)
        except UserError as exc:
            add_user_error(form, exc)
        else:
            saved = f"Account {account} saved."
    failed = (account.pk, form) if form.errors else None
    return answer_section(
        request, project, "accounts", ok=not form.errors, saved=saved, edit_form=failed
    )


@login_required
@require_POST
def settings_account_delete(request: HttpRequest, slug: str, account_id: int) -> HttpResponse:
    """First POST asks to confirm; the POST with `confirm` deletes."""
    project = get_project_for_user(request.user, slug)
    account = get_object_or_404(ProviderAccount, project=project, pk=account_id)
    if not request.POST.get("confirm"):
        return section_or_page(request, project, "accounts", confirm_account=account)
    label = str(account)
    delete_provider_account(account=account, user=request.user)
    return answer_section(request, project, "accounts", ok=True, saved=f"Account {label} deleted.")


@login_required
@require_POST
def settings_generation_save(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    try:
        defaults = manifest_defaults()
    except ConfigError:  # settings/manifest.json is broken: the section says how
        return answer_section(request, project, "generation", ok=False)
    form = ManifestSettingsForm(
        request.POST, defaults=defaults, overrides=project.manifest_overrides
    )
    saved = ""
    if form.is_valid():
        try:
            save_manifest_overrides(project=project, user=request.user, values=form.values())
        except ConfigError as exc:
            name = field_name(exc.path)
            if name in form.fields:
                form.add_error(name, exc.reason)
            else:
                form.add_error(None, str(exc))
        else:
            saved = "Generation and QA settings saved."
            form = ManifestSettingsForm(defaults=defaults, overrides=project.manifest_overrides)
    ok = not form.errors
    return answer_section(request, project, "generation", ok=ok, saved=saved, generation_form=form)


@login_required
@require_POST
def settings_budgets_save(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    form = BudgetForm(request.POST)
    saved = ""
    if form.is_valid():
        try:
            set_budgets(project=project, user=request.user, **form.cleaned_data)
        except UserError as exc:
            add_user_error(form, exc)
        else:
            saved = "Budgets saved."
            form = None  # the section shows the saved values
    failed = form if form is not None and form.errors else None
    return answer_section(
        request, project, "budgets", ok=failed is None, saved=saved, budget_form=failed
    )
