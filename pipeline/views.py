from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from pipeline.services.stats import project_stats, recent_runs
from projects.access import get_project_for_user
from projects.forms import NewProjectForm
from projects.models import Project


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
        "runs": recent_runs(project),
    }
    template = "pipeline/dashboard.html#main" if request.htmx else "pipeline/dashboard.html"
    return render(request, template, context)
