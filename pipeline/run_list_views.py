"""The runs list: every run of a project, filtered and paginated (real runs by default)."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from pipeline.models import Run, RunJob
from pipeline.services.stats import attach_job_counts
from projects.access import get_project_for_user
from projects.models import Project, Stage
from projects.pagination import IdFirstPaginator
from projects.widgets import use_fast_widgets

RUNS_PER_PAGE = 50
LISTED_FIELDS = (
    "uid",
    "name",
    "stage",
    "mode",
    "status",
    "confirmed_as",
    "estimated_cost_usd",
    "actual_cost_usd",
    "created_at",
)


class RunFilterForm(forms.Form):
    """The list's GET filters, validated like any input (a bad value is an error, not a 500)."""

    q = forms.CharField(required=False, max_length=120, label="Search")
    stage = forms.ChoiceField(required=False, choices=[("", "Any stage"), *Stage.choices])
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Run.Status.choices])
    plans = forms.BooleanField(required=False, label="Show dry plans")
    panel = forms.ChoiceField(required=False, label="Panel")
    since = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))
    page = forms.IntegerField(required=False, min_value=1)

    def __init__(self, *args: object, project: Project, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        panels = project.panels.order_by(
            "page__chapter__position", "page__position", "position"
        ).values_list("key", "title")
        self.fields["panel"].choices = [("", "Any panel"), *panels]
        use_fast_widgets(self)  # a third of the page's time otherwise


def filtered_runs(project: Project, data: dict) -> QuerySet[Run]:
    """The project's runs matching the filters, newest first (real runs unless `plans`)."""
    runs = Run.objects.filter(project=project)
    if not data.get("plans"):
        runs = runs.filter(mode=Run.Mode.RUN)
    for name in ("stage", "status"):
        if data.get(name):
            runs = runs.filter(**{name: data[name]})
    if data.get("panel"):
        jobs = RunJob.objects.filter(run=OuterRef("pk"), scene_key=data["panel"])
        runs = runs.filter(Exists(jobs))
    if data.get("since"):
        runs = runs.filter(created_at__date__gte=data["since"])
    if data.get("until"):
        runs = runs.filter(created_at__date__lte=data["until"])
    if data.get("q"):
        q = data["q"]
        runs = runs.filter(Q(uid__icontains=q) | Q(name__icontains=q) | Q(model__icontains=q))
    return runs.order_by("-created_at", "-id")


@login_required
def run_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    form = RunFilterForm(request.GET or None, project=project)
    data = form.cleaned_data if form.is_valid() else {}
    # Only what the table shows: a run's manifest snapshot and plan are large JSON documents.
    runs = filtered_runs(project, data).only(*LISTED_FIELDS)
    page = IdFirstPaginator(runs, RUNS_PER_PAGE).get_page(data.get("page") or 1)
    runs = attach_job_counts(list(page.object_list))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "project": project,
        "tab": "runs",
        "form": form,
        "page": page,
        "runs": runs,
        "query": query.urlencode(),
        "filtered": any(data.get(k) for k in ("q", "stage", "status", "panel", "since", "until")),
    }
    template = "pipeline/run_list.html#results" if request.htmx else "pipeline/run_list.html"
    return render(request, template, context, status=400 if form.errors else 200)
