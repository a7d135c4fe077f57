"""Review: a run's or a panel's candidates large, with QA, source, ratings, rejects and picks.

Views validate and call services (pipeline.services.review for what is shown, ratings.rate_assets
and runs.override_selection for changes); htmx requests get the region that changed.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from kroma.lib.errors import UserError
from pipeline.forms import ReviewFilterForm
from pipeline.models import Run, RunCandidate
from pipeline.services import review
from pipeline.services.review import ReviewGroup, flat_candidates, review_job
from pipeline.services.runs import override_selection
from projects.access import get_project_for_user
from projects.models import Panel
from projects.services.ratings import UNCHANGED, rate_assets

TEMPLATE = "pipeline/review.html"


def _render_review(
    request: HttpRequest, context: dict, groups: list[ReviewGroup], form: ReviewFilterForm
) -> HttpResponse:
    context |= {
        "groups": groups,
        "filter_form": form,
        "shown": len(flat_candidates(groups)),
        "total": sum(g.total for g in groups),
        "query": request.GET.urlencode(),
    }
    return render(request, f"{TEMPLATE}#review" if request.htmx else TEMPLATE, context)


@login_required
def review_run(request: HttpRequest, slug: str, uid: str) -> HttpResponse:
    """A run's candidates, large, panel by panel, with the keyboard review."""
    project = get_project_for_user(request.user, slug)
    run = get_object_or_404(Run, project=project, uid=uid)
    form = ReviewFilterForm(request.GET)
    groups = review.review_run(run=run, filters=form.filters())
    context = {"project": project, "tab": "runs", "run": run, "here": request.get_full_path()}
    return _render_review(request, context, groups, form)


@login_required
def review_panel(request: HttpRequest, slug: str, panel_id: int) -> HttpResponse:
    """A panel's candidates across its newest runs, newest run first."""
    project = get_project_for_user(request.user, slug)
    panel = get_object_or_404(
        Panel.objects.select_related("page__chapter"), project=project, pk=panel_id
    )
    form = ReviewFilterForm(request.GET)
    groups = review.review_panel(panel=panel, filters=form.filters())
    context = {
        "project": project,
        "tab": "story",
        "panel": panel,
        "here": request.get_full_path(),
        "runs_shown": review.PANEL_RUNS_SHOWN,
    }
    return _render_review(request, context, groups, form)


def _candidate_for_user(request: HttpRequest, slug: str, candidate_id: int) -> RunCandidate:
    project = get_project_for_user(request.user, slug)
    candidate = get_object_or_404(
        RunCandidate.objects.select_related("asset", "job__run", "job__input_asset"),
        project=project,
        pk=candidate_id,
        asset__isnull=False,
    )
    candidate.asset.project = project
    if candidate.job.input_asset is not None:
        candidate.job.input_asset.project = project
    return candidate


def _back(request: HttpRequest, candidate: RunCandidate) -> HttpResponse:
    """Where a plain (non-htmx) POST returns: the review it came from, else the run's."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("pipeline:review_run", slug=candidate.project.slug, uid=candidate.job.run.uid)


def _page_of(request: HttpRequest, candidate: RunCandidate) -> dict:
    """The review page an htmx request came from (HX-Current-URL): a run's review numbers its
    panels, a panel's names each run; plain forms there return to it."""
    url = urlsplit(request.htmx.current_url or "")
    here = f"{url.path}?{url.query}" if url.query else url.path
    try:
        name = resolve(url.path).url_name
    except Resolver404:
        return {"here": ""}
    return {"here": here, "run": candidate.job.run if name == "review_run" else None}


def _answer(
    request: HttpRequest, candidate: RunCandidate, *, status: int, **extra: object
) -> HttpResponse:
    """The htmx answer after a change: the candidate's card (or its whole group after a pick,
    with the page's filters) and, out of band, its group's heading (the best may have changed)."""
    context = {"project": candidate.project, **_page_of(request, candidate), **extra}
    if extra.get("whole_group"):
        filters = ReviewFilterForm(request.POST).filters()
        context["group"] = review_job(job=candidate.job, filters=filters)
        return render(request, f"{TEMPLATE}#group", context, status=status)
    group = review_job(job=candidate.job)
    context |= {"group": group, "c": next(c for c in group.candidates if c.pk == candidate.pk)}
    body = render_to_string(f"{TEMPLATE}#card", context, request)
    head = render_to_string(f"{TEMPLATE}#group-head", {**context, "oob": True}, request)
    return HttpResponse(body + head, status=status)


@login_required
@require_POST
def review_rate(request: HttpRequest, slug: str, candidate_id: int) -> HttpResponse:
    """Rate (1-5, 0 clears) or reject / un-reject a candidate's image."""
    candidate = _candidate_for_user(request, slug, candidate_id)
    rating = request.POST.get("rating", UNCHANGED)
    rejected = request.POST.get("rejected", UNCHANGED)
    if rejected is not UNCHANGED:
        rejected = rejected in ("1", "true", "on")
    status, error = 200, ""
    try:
        rate_assets(
            project=candidate.project,
            user=request.user,
            asset_ids=[candidate.asset_id],
            rating=rating,
            rejected=rejected,
        )
    except UserError as exc:
        status, error = 400, exc.message
    if not request.htmx:
        return HttpResponse(error, status=400) if error else _back(request, candidate)
    return _answer(request, candidate, status=status, rate_error=error)


@login_required
@require_POST
def review_pick(request: HttpRequest, slug: str, candidate_id: int) -> HttpResponse:
    """Use this candidate for its panel (Enter); a failed one needs a reason ("use anyway")."""
    candidate = _candidate_for_user(request, slug, candidate_id)
    status, error = 200, ""
    try:
        override_selection(
            candidate=candidate, user=request.user, reason=request.POST.get("reason", "")
        )
    except UserError as exc:
        status, error = 400, exc.message
    if not request.htmx:
        return HttpResponse(error, status=400) if error else _back(request, candidate)
    pick_error = {"candidate": candidate.pk, "message": error} if error else None
    return _answer(request, candidate, status=status, pick_error=pick_error, whole_group=True)
