from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from kroma.lib.errors import UserError
from kroma.lib.ids import parse_id
from pipeline.forms import RunForm
from pipeline.models import (
    ACTIVE_STATUSES,
    CostEvent,
    PostprocessJob,
    Run,
    RunCandidate,
    RunJob,
)
from pipeline.services.budgets import budget_status, has_budget
from pipeline.services.costs import spend
from pipeline.services.review import recipe_initial
from pipeline.services.runs import (
    cancel_run,
    confirm_plan,
    override_selection,
    rename_run,
    submit_run,
)
from pipeline.services.stats import project_cards, project_stats, recent_runs
from projects.access import get_project_for_user
from projects.forms import NewProjectForm
from projects.models import Asset, Project, Stage


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    """Every project the user can see, as cards: the 'Projects' page."""
    return render(
        request,
        "pipeline/project_list.html",
        {"cards": project_cards(request.user), "nav": "projects"},
    )


@login_required
def home(request: HttpRequest) -> HttpResponse:
    first = Project.objects.visible_to(request.user).order_by("name").first()
    if first is not None:
        return redirect("pipeline:dashboard", slug=first.slug)
    return render(request, "pipeline/welcome.html", {"new_project_form": NewProjectForm()})


@login_required
def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    context = {
        "project": project,
        "stats": project_stats(project),
        # This month's spend is one more query, made only when there is a budget to show.
        "budget": budget_status(project=project) if has_budget(project) else None,
        "runs": recent_runs(project),
    }
    template = "pipeline/dashboard.html#main" if request.htmx else "pipeline/dashboard.html"
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def run_new(request: HttpRequest, slug: str) -> HttpResponse:
    """Plan a run: always a dry run first; the plan page offers the confirmed run.

    `?recipe=<run uid>` fills the form with that run's request ("use these settings again");
    with `&job=<id>` only that panel, built on the input it had ("re-run this panel"), with
    `&exact=1` also its prompt; `&from=<candidate id>` starts from that candidate ("vary").
    """
    project = get_project_for_user(request.user, slug)
    initial = _run_new_initial(request, project)
    form = RunForm(request.POST or None, project=project, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            run = submit_run(
                project=project, user=request.user, mode="dry", **form.service_params()
            )
        except UserError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("pipeline:run_detail", slug=project.slug, uid=run.uid)
    status = 400 if form.errors else 200
    context = {
        "project": project,
        "form": form,
        "recipe": initial.get("recipe"),
        "start": _start_candidate(project, form["from_candidate"].value()),
    }
    return render(request, "pipeline/run_new.html", context, status=status)


def _start_candidate(project: Project, value: object) -> RunCandidate | None:
    """The candidate New Run builds on (shown with its thumbnail), if it names one."""
    pk = parse_id(value)
    if pk is None:
        return None
    candidate = (
        RunCandidate.objects.filter(project=project, pk=pk, asset__isnull=False)
        .select_related("asset", "job__run")
        .first()
    )
    if candidate is not None:
        candidate.asset.project = project
    return candidate


def _run_new_initial(request: HttpRequest, project: Project) -> dict:
    params = request.GET
    initial: dict = {
        "panels": params.getlist("panels"),
        "stage": params.get("stage") or Stage.STYLE,  # a first plan needs no choice made
        "from_candidate": params.get("from"),
    }
    uid = params.get("recipe")
    if not uid:
        return initial
    run = get_object_or_404(Run, project=project, uid=uid)
    job = candidate = None
    if (job_id := parse_id(params.get("job"))) is not None:
        job = get_object_or_404(RunJob, run=run, pk=job_id)
    if (candidate_id := parse_id(params.get("from"))) is not None:
        candidate = get_object_or_404(
            RunCandidate, project=project, pk=candidate_id, asset__isnull=False
        )
    recalled = recipe_initial(run=run, job=job, candidate=candidate, exact="exact" in params)
    return {**recalled, "recipe": run}


def _run_for_user(request: HttpRequest, slug: str, uid: str) -> Run:
    project = get_project_for_user(request.user, slug)
    return get_object_or_404(Run.objects.select_related("project"), project=project, uid=uid)


def _next_stage(stage: str) -> str:
    """The stage after `stage` ("" after the last): what "build on this" suggests."""
    stages = list(Stage.values)
    index = stages.index(stage) if stage in stages else len(stages)
    return stages[index + 1] if index + 1 < len(stages) else ""


def _attach_inputs(run: Run, jobs: list) -> None:
    """Each job's input and references with their assets (for thumbnails), in one query."""
    paths = {job.input_path for job in jobs if job.input_path}
    paths |= {ref["path"] for job in jobs for ref in job.references}
    assets = {a.path: a for a in Asset.objects.filter(project=run.project, path__in=paths)}
    for asset in assets.values():
        asset.project = run.project
    for job in jobs:
        job.input_thumb = assets.get(job.input_path)
        job.reference_list = [{**ref, "asset": assets.get(ref["path"])} for ref in job.references]


OTHER_STATUS_ORDER = ("running", "queued", "planned", "failed", "errored", "canceled")


def _run_context(run: Run) -> dict:
    jobs = list(run.jobs.select_related("final_asset").order_by("index"))
    candidates = RunCandidate.objects.filter(job__run=run).select_related("asset").order_by("index")
    by_job: dict[int, list[RunCandidate]] = {}
    for candidate in candidates:
        if candidate.asset is not None:
            candidate.asset.project = run.project  # its URLs need the slug: no query each
        by_job.setdefault(candidate.job_id, []).append(candidate)
    passes = {
        item.job_id: item
        for item in PostprocessJob.objects.filter(run=run, status__in=ACTIVE_STATUSES).only(
            "job_id", "status", "step"
        )
    }
    for job in jobs:
        job.candidate_list = by_job.get(job.pk, [])
        job.final_output = job.final_asset
        if job.final_asset is not None:
            job.final_asset.project = run.project
        job.postprocessing = job.pk in passes
        job.postprocess_waiting = passes[job.pk].waiting_for if job.postprocessing else ""
    _attach_inputs(run, jobs)
    active = any(job.is_active for job in jobs) or bool(passes)
    variation = run.plan.get("variation") or (
        run.manifest_snapshot.get("variations", {}).get(run.stage)
        if run.stage in ("time", "weather")
        else None
    )
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.status] = counts.get(job.status, 0) + 1
    return {
        "project": run.project,
        "run": run,
        "jobs": jobs,
        "unconfirmed_usd": spend(CostEvent.objects.filter(run=run)).unconfirmed_usd,
        "jobs_done": counts.get("done", 0),
        # What the other panels are, beside "done" (e.g. "2 canceled, 1 failed").
        "jobs_other": [(counts[s], s) for s in OTHER_STATUS_ORDER if counts.get(s)],
        "run_final": run.status in Run.FINAL_STATUSES,
        "jobs_running": counts.get("running", 0),
        "variation": variation,
        "next_stage": _next_stage(run.stage),
        # A canceled run keeps updating until its running scenes have stopped.
        "final": run.mode == Run.Mode.DRY or (run.status in Run.FINAL_STATUSES and not active),
    }


@login_required
def run_detail(request: HttpRequest, slug: str, uid: str) -> HttpResponse:
    run = _run_for_user(request, slug, uid)
    context = _run_context(run)
    if request.htmx:
        response = render(request, "pipeline/run_detail.html#live", context)
        if context["final"]:
            # 286 tells htmx to stop polling; only ever sent in a final state, never while queued.
            response.status_code = HttpResponseStopPolling.status_code
        return response
    return render(request, "pipeline/run_detail.html", context)


@login_required
@require_POST
def run_confirm(request: HttpRequest, slug: str, uid: str) -> HttpResponse:
    """Run a planned (dry) run for real, with the spend confirmed by this click.

    A second click (or a resubmitted form) shows the run the plan already became.
    """
    dry = _run_for_user(request, slug, uid)
    if dry.mode != Run.Mode.DRY:
        return redirect("pipeline:run_detail", slug=dry.project.slug, uid=dry.uid)
    try:
        run = confirm_plan(plan=dry, user=request.user)
    except UserError as exc:
        dry.refresh_from_db()
        context = {**_run_context(dry), "confirm_error": str(exc)}
        return render(request, "pipeline/run_detail.html", context, status=400)
    return redirect("pipeline:run_detail", slug=dry.project.slug, uid=run.uid)


@login_required
@require_POST
def run_rename(request: HttpRequest, slug: str, uid: str) -> HttpResponse:
    run = _run_for_user(request, slug, uid)
    try:
        rename_run(run=run, user=request.user, name=request.POST.get("name", ""))
    except UserError as exc:
        context = {**_run_context(run), "rename_error": exc.message}
        return render(request, "pipeline/run_detail.html", context, status=400)
    return redirect("pipeline:run_detail", slug=run.project.slug, uid=run.uid)


@login_required
@require_POST
def run_cancel(request: HttpRequest, slug: str, uid: str) -> HttpResponse:
    run = cancel_run(run=_run_for_user(request, slug, uid), user=request.user)
    if request.htmx:
        return render(request, "pipeline/run_detail.html#live", _run_context(run))
    return redirect("pipeline:run_detail", slug=run.project.slug, uid=run.uid)


@login_required
@require_POST
def run_pick(request: HttpRequest, slug: str, uid: str, candidate_id: int) -> HttpResponse:
    """Override the automatic pick: use this candidate for the job.

    A candidate that failed QA needs a `reason` ("use anyway"); the service checks it, and its
    refusal is shown at that candidate's reason field.
    """
    run = _run_for_user(request, slug, uid)
    candidate = get_object_or_404(
        RunCandidate.objects.select_related("job__run"), pk=candidate_id, job__run=run
    )
    reason = request.POST.get("reason", "")
    try:
        override_selection(candidate=candidate, user=request.user, reason=reason)
    except UserError as exc:
        context = _run_context(run)
        if exc.field == "reason":
            context["pick_error"] = {
                "candidate": candidate.pk,
                "message": str(exc),
                "reason": reason,
            }
        else:
            context["confirm_error"] = str(exc)
        return render(request, "pipeline/run_detail.html", context, status=400)
    return redirect("pipeline:run_detail", slug=run.project.slug, uid=run.uid)
