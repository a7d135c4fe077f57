"""The Quick Utility Lab pages: upload, watch progress, compare, download, save to a project."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Sum
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from kroma.lib.images import ImageRejectedError
from pipeline.config import FIXED_QUALITIES, FIXED_SIZES, ConfigError
from pipeline.errors import PipelineError
from pipeline.forms import LabForm
from pipeline.models import CostEvent, LabJob
from pipeline.services.lab import (
    create_lab_job,
    generate_estimate,
    job_folder,
    lab_results,
    save_lab_outputs,
)
from projects.models import Project


def _job_for_user(request: HttpRequest, job_id: str) -> LabJob:
    return get_object_or_404(LabJob, pk=job_id, user=request.user)


@login_required
@require_http_methods(["GET", "POST"])
def lab(request: HttpRequest) -> HttpResponse:
    form = LabForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        uploads = request.FILES.getlist("images")
        too_big = [f.name for f in uploads if f.size > settings.MAX_UPLOAD_BYTES]
        files = [] if too_big else [(f.name, f.read()) for f in uploads]
        try:
            if too_big:
                limit = settings.MAX_UPLOAD_BYTES / 1e6
                raise PipelineError(f"{', '.join(too_big)}: larger than {limit:.0f} MB each.")
            job = create_lab_job(
                user=request.user,
                operation=form.cleaned_data["operation"],
                params=form.operation_params(),
                files=files,
                confirm_spend=form.cleaned_data["confirm_spend"],
            )
        except (ImageRejectedError, PipelineError, ConfigError) as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("pipeline:lab_job", job_id=job.pk)
    try:
        prices = {
            f"{quality}|{size}": f"{generate_estimate({'quality': quality, 'size': size}):.3f}"
            for quality in FIXED_QUALITIES
            for size in FIXED_SIZES
        }
        pricing_error = ""
    except ConfigError as exc:  # only Generate needs prices: the free tools keep working
        prices, pricing_error = {}, str(exc)
    spent = CostEvent.objects.filter(user=request.user, project=None).aggregate(usd=Sum("usd"))
    context = {
        "form": form,
        "jobs": LabJob.objects.filter(user=request.user)[:12],
        "nav": "lab",
        "default_generate_price": prices.get("medium|1024x1024", "?"),
        "generate_prices": prices,
        "pricing_error": pricing_error,
        "lab_spent_usd": spent["usd"],
    }
    return render(request, "pipeline/lab.html", context, status=400 if form.errors else 200)


@login_required
def lab_job(request: HttpRequest, job_id: str) -> HttpResponse:
    job = _job_for_user(request, job_id)
    results = lab_results(job)
    context = {
        "job": job,
        "results": results,
        "pairs": _pairs(job, results),
        "projects": Project.objects.visible_to(request.user),
        "nav": "lab",
    }
    if request.htmx:
        response = render(request, "pipeline/lab_job.html#live", context)
        if job.is_final:
            response.status_code = HttpResponseStopPolling.status_code
        return response
    return render(request, "pipeline/lab_job.html", context)


def _pairs(job: LabJob, results: list[dict]) -> list[dict]:
    by_input = {o.get("input"): o for o in results}
    if job.operation == "generate":
        return [{"before": None, "after": o} for o in results]
    return [
        {"index": i, "before": item, "after": by_input.get(i)} for i, item in enumerate(job.inputs)
    ]


@login_required
def lab_file(request: HttpRequest, job_id: str, name: str) -> FileResponse:
    job = _job_for_user(request, job_id)
    results = lab_results(job)
    allowed = {i["file"] for i in job.inputs} | {o["file"] for o in results if o.get("file")}
    if name not in allowed:
        raise Http404("No such file in this job.")
    path = job_folder(job) / name
    if not path.is_file():
        raise Http404("The file is gone from the scratch area.")
    download = request.GET.get("download") == "1"
    return FileResponse(
        path.open("rb"), as_attachment=download, filename=_download_name(job, results, name)
    )


def _download_name(job: LabJob, results: list[dict], name: str) -> str:
    """out_0.png -> car-1.bg_remove.png: the input's name and what was done to it."""
    for output in results:
        if output.get("file") == name and output.get("input") is not None:
            stem = Path(job.inputs[output["input"]]["name"]).stem
            return f"{stem}.{job.operation}.png"
    return name


@login_required
@require_POST
def lab_save(request: HttpRequest, job_id: str) -> HttpResponse:
    job = _job_for_user(request, job_id)
    project = (
        Project.objects.visible_to(request.user).filter(slug=request.POST.get("project")).first()
    )
    if project is None:
        messages.error(request, "Choose one of your projects to save into.")
        return redirect("pipeline:lab_job", job_id=job.pk)
    try:
        assets, new = save_lab_outputs(job=job, project=project, user=request.user)
    except PipelineError as exc:
        messages.error(request, str(exc))
    else:
        kept = len(assets) - new
        note = f" ({kept} already there)" if kept else ""
        messages.success(request, f"Saved {new} new image(s) to {project.name}{note}.")
    return redirect("pipeline:lab_job", job_id=job.pk)
