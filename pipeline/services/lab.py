"""The Quick Utility Lab: one-off bg-remove / upscale / colour / generate outside any project.

Uploads are validated by content before anything is stored, kept in the user's scratch area,
processed by the work engine (pipeline.work LAB_JOBS: a lease, step rows, crash recovery), and
can later be saved into a project. Each input's result is a step row named "result".
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from kroma.lib.errors import UserError
from kroma.lib.images import ImageRejectedError, clean_image
from pipeline.config import load_prices
from pipeline.engine import end_step, start_step, step_rows
from pipeline.errors import GuardError, PipelineError
from pipeline.models import LAB_JOB, CostEvent, LabJob, StepRun
from pipeline.postprocess.base import ChainContext
from pipeline.postprocess.chain import chain_steps, run_chain
from pipeline.postprocess.outputs import FolderOutputs
from pipeline.providers import get_provider
from pipeline.providers.base import GenerationRequest
from pipeline.services.costs import usd_for_call
from pipeline.services.credentials import credentials
from pipeline.services.postprocess import chain_config
from projects.models import Asset, AuditEvent, Project
from projects.services.assets import store_clean_image

log = logging.getLogger(__name__)
MAX_FILES = 20
GENERATE_MODEL = "gpt-image-1"


def job_folder(job: LabJob) -> Path:
    return Path(settings.SCRATCH_ROOT) / str(job.user_id) / str(job.id)


def generate_estimate(params: dict[str, Any]) -> Decimal:
    prices = load_prices(params.get("model", GENERATE_MODEL))
    per_image = prices.per_image.get(params["quality"], {}).get(params["size"], 0)
    return Decimal(str(per_image)) * params.get("n", 1)


def lab_operations() -> list[str]:
    """What the Lab offers: the chain's steps that run without a project, and generation."""
    return [step.name for step in chain_steps() if step.in_lab] + ["generate"]


def _operation_config(operation: str, params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    overrides: dict[str, Any] = {}
    if operation == "upscale":
        overrides["upscale"] = {"scale": params["scale"]}
    if operation == "color":
        overrides["color"] = {"profile": params["profile"]}
    return chain_config(None, overrides), [operation]


def create_lab_job(
    *,
    user: AbstractBaseUser,
    operation: str,
    params: dict[str, Any],
    files: list[tuple[str, bytes]],
    confirm_spend: bool = False,
) -> LabJob:
    """Validate everything first; store nothing unless every file is a good image.

    Raises ImageRejectedError (naming the file) or GuardError (what to change).
    """
    if operation not in lab_operations():
        raise GuardError(
            f"Unknown operation {operation!r}; the Lab offers {', '.join(lab_operations())}.",
            field="operation",
        )
    if operation == "generate":
        if files:
            raise GuardError("Generate makes new images from the prompt; remove the uploads.")
        estimate = generate_estimate(params)
        if not credentials(None, "openai")[0]:
            raise GuardError(
                "Generate needs an OpenAI API key on the server (OPENAI_API_KEY); the Lab belongs "
                "to no project, so project secrets do not apply here."
            )
        if not confirm_spend:
            raise GuardError(f"Generating costs about ${estimate:.2f}: tick the confirmation.")
        params = {**params, "estimate_usd": str(estimate)}
    else:
        if not files:
            raise GuardError("Choose at least one image.")
        if len(files) > MAX_FILES:
            raise GuardError(f"{len(files)} files; the Lab takes up to {MAX_FILES} at once.")
        _operation_config(operation, params)  # refuses a bad profile or scale up front
    cleaned = [
        (name, clean_image(data, name=name, max_pixels=settings.MAX_IMAGE_PIXELS))
        for name, data in files
    ]
    # A paid generation is never repeated by itself after a crash: it may have been billed.
    attempts = 1 if operation == "generate" else 3
    job = LabJob.objects.create(
        user=user, operation=operation, params=params, max_attempts=attempts
    )
    folder = job_folder(job)
    folder.mkdir(parents=True, exist_ok=True)
    inputs = []
    for index, (name, image) in enumerate(cleaned):
        target = folder / f"in_{index}.{image.extension}"
        target.write_bytes(image.data)
        inputs.append({"name": Path(name).name, "file": target.name})
    job.inputs = inputs
    job.save(update_fields=["inputs"])
    enqueue_lab_job(job)
    return job


def enqueue_lab_job(job: LabJob) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task("pipeline.tasks.lab_task", str(job.id), task_name=f"lab {job.id}")
    )


@dataclass
class LabContext:
    job: LabJob
    row: StepRun | None = None


def lab_results(job: LabJob) -> list[dict[str, Any]]:
    """Each input's result ({input, file, log} or {input, error}), in input order."""
    results = []
    for row in step_rows(LAB_JOB, job.pk).filter(step="result").order_by("pk"):
        index = None if row.subject.startswith("generated") else int(row.subject)
        if row.status == StepRun.Status.DONE:
            results.append({"input": index, "file": row.output_file, "log": row.notes.get("log")})
        else:
            results.append({"input": index, "error": row.error})
    return results


def _result(job: LabJob, subject: str, **fields: Any) -> StepRun:
    row = start_step(LAB_JOB, job, "result", project_id=None, subject=subject)
    status = StepRun.Status.FAILED if fields.get("error") else StepRun.Status.DONE
    return end_step(row, status, **fields)


def process(ctx: LabContext) -> None:
    """Every input through the operation; one that fails is recorded and the others go on."""
    job = ctx.job
    if job.operation == "generate":
        _generate(job)
        return
    folder = job_folder(job)
    config, steps = _operation_config(job.operation, job.params)
    finished = set(
        step_rows(LAB_JOB, job.pk).filter(step="result").values_list("subject", flat=True)
    )
    for index, item in enumerate(job.inputs):
        if str(index) in finished:
            continue  # done before the worker was restarted
        chain = ChainContext(outputs=FolderOutputs(folder / "steps"))
        try:
            final = run_chain(
                data=(folder / item["file"]).read_bytes(),
                source=None,
                config=config,
                ctx=chain,
                only=steps,
            )
        except UserError as exc:
            _result(job, str(index), error_code=exc.code, error=str(exc))
        except Exception as exc:  # one broken image must not sink the others
            log.exception("lab job %s, image %s crashed", job.pk, index)
            _result(job, str(index), error_code="internal", error=f"internal error ({exc})")
        else:
            target = folder / f"out_{index}.png"
            target.write_bytes(final.data)
            _result(job, str(index), output_file=target.name, notes={"log": chain.log})
    results = lab_results(job)
    if results and all(r.get("error") for r in results):
        raise PipelineError(f"every image failed; first: {results[0]['error']}")


def process_lab_job(job_id: str) -> LabJob | None:
    """Claim and run one Lab job in this process (what the worker's task does); None if it
    was already claimed."""
    from pipeline.engine import work_through
    from pipeline.work import LAB_JOBS

    if not work_through(LAB_JOBS, LabJob.objects.filter(pk=job_id)):
        return None
    return LabJob.objects.get(pk=job_id)


def _generate(job: LabJob) -> None:
    provider = get_provider(job.params.get("provider", "openai"), project=None)
    params = job.params
    request = GenerationRequest(
        model=params.get("model", GENERATE_MODEL),
        prompt=params["prompt"],
        images=[],
        candidate_indices=list(range(params.get("n", 1))),
        size=params["size"],
        quality=params["quality"],
    )
    call = start_step(
        LAB_JOB,
        job,
        "provider_call",
        project_id=None,
        paid=True,
        notes={"provider": "openai", "request": request.describe(), **_estimate_note(job)},
    )
    try:
        result = provider.generate(request)
    except Exception as exc:
        end_step(call, StepRun.Status.FAILED, error_code=getattr(exc, "code", "internal"))
        raise
    folder = job_folder(job)
    files = []
    for index, data in enumerate(result.images):
        target = folder / f"out_{index}.png"
        target.write_bytes(data)
        files.append(target.name)
    usd, units = usd_for_call(
        result.model, result.usage, len(result.images), params["quality"], params["size"]
    )
    with transaction.atomic():
        event = CostEvent.objects.get_or_create(
            idempotency_key=f"lab/{job.pk}/{call.pk}",
            defaults={
                "user_id": job.user_id,
                "provider": "openai",
                "model": result.model,
                "operation": "images.generate",
                "usd": usd,
                "units": units,
            },
        )[0]
        # If this call was judged lost meanwhile, its stand-in gives way to the real cost.
        CostEvent.objects.filter(idempotency_key=f"lab/{job.pk}/{call.pk}/unconfirmed").delete()
        end_step(call, StepRun.Status.DONE, cost_event=event, notes={**call.notes, "usd": str(usd)})
        for index, name in enumerate(files):
            _result(job, f"generated {index}", output_file=name, notes={"log": []})
        LabJob.objects.filter(pk=job.pk).update(cost_usd=usd)


def _estimate_note(job: LabJob) -> dict[str, str]:
    return {"estimate_usd": job.params.get("estimate_usd", "0")}


def record_unconfirmed_lab_call(row: StepRun) -> None:
    """A Lab generation started by a worker that died: it may have been billed."""
    job = LabJob.objects.get(pk=row.item_id)
    event, _ = CostEvent.objects.get_or_create(
        idempotency_key=f"lab/{job.pk}/{row.pk}/unconfirmed",
        defaults={
            "user_id": job.user_id,
            "provider": "openai",
            "model": job.params.get("model", GENERATE_MODEL),
            "operation": "images.generate",
            "usd": Decimal(row.notes.get("estimate_usd") or 0),
            "units": {"images": job.params.get("n", 1)},
            "unconfirmed": True,
        },
    )
    StepRun.objects.filter(pk=row.pk).update(cost_event=event)


def save_lab_outputs(
    *, job: LabJob, project: Project, user: AbstractBaseUser
) -> tuple[list[Asset], int]:
    """Copy the job's results into `project` as assets (validated like any upload).

    Returns the assets and how many of them are new (saving twice adds nothing).
    """
    folder = job_folder(job)
    prepared = []  # decoded, checked and hashed before anything is written
    for output in lab_results(job):
        if not output.get("file"):
            continue
        source = (
            job.inputs[output["input"]]["name"] if output.get("input") is not None else "generated"
        )
        name = f"{Path(source).stem}-{job.operation}.png"
        try:
            data = (folder / output["file"]).read_bytes()
            prepared.append(
                (name, clean_image(data, name=name, max_pixels=settings.MAX_IMAGE_PIXELS))
            )
        except (ImageRejectedError, FileNotFoundError) as exc:
            raise PipelineError(f"{output['file']} cannot be saved: {exc}") from None
    before = Asset.objects.filter(project=project).count()
    assets = [
        store_clean_image(
            project=project,
            image=image,
            kind=Asset.Kind.UPLOAD,
            title=name,
            metadata={"original_name": name, "lab_job": str(job.id), "operation": job.operation},
        )
        for name, image in prepared
    ]
    AuditEvent.objects.create(
        project=project,
        actor=user,
        action="lab.saved",
        target=str(job.id),
        data={"assets": [a.pk for a in assets]},
    )
    return assets, Asset.objects.filter(project=project).count() - before


def delete_lab_job(job: LabJob) -> None:
    shutil.rmtree(job_folder(job), ignore_errors=True)
    job.delete()
