"""The Quick Utility Lab: one-off bg-remove / upscale / colour / generate outside any project.

Uploads are validated by content before anything is stored, kept in the user's scratch area,
processed by a worker (the job row is claimed once), and can later be saved into a project.
"""

from __future__ import annotations

import logging
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from kroma.lib.images import ImageRejectedError, clean_image
from pipeline.config import load_prices
from pipeline.errors import GuardError, PipelineError
from pipeline.models import LabJob
from pipeline.postprocess.base import ChainContext
from pipeline.postprocess.chain import run_chain
from pipeline.postprocess.outputs import FolderOutputs
from pipeline.providers.base import GenerationRequest
from pipeline.providers.openai_images import OpenAIProvider
from pipeline.services.costs import usd_for_call
from pipeline.services.credentials import credentials
from pipeline.services.postprocess import chain_config
from projects.models import Asset, AuditEvent, Project
from projects.services.assets import store_image

log = logging.getLogger(__name__)
MAX_FILES = 20
GENERATE_MODEL = "gpt-image-1"


def job_folder(job: LabJob) -> Path:
    return Path(settings.SCRATCH_ROOT) / str(job.user_id) / str(job.id)


def generate_estimate(params: dict[str, Any]) -> Decimal:
    prices = load_prices(params.get("model", GENERATE_MODEL))
    per_image = prices.per_image.get(params["quality"], {}).get(params["size"], 0)
    return Decimal(str(per_image)) * params.get("n", 1)


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
    if operation not in LabJob.Operation.values:
        raise GuardError(f"Unknown operation {operation!r}.")
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
    job = LabJob.objects.create(user=user, operation=operation, params=params)
    folder = job_folder(job)
    folder.mkdir(parents=True, exist_ok=True)
    inputs = []
    for index, (name, image) in enumerate(cleaned):
        target = folder / f"in_{index}.{image.extension}"
        target.write_bytes(image.data)
        inputs.append({"name": Path(name).name, "file": target.name})
    job.inputs = inputs
    job.save(update_fields=["inputs"])
    transaction.on_commit(lambda: _enqueue(job))
    return job


def _enqueue(job: LabJob) -> None:
    from django_q.tasks import async_task

    async_task("pipeline.tasks.lab_task", str(job.id), task_name=f"lab {job.id}")


def process_lab_job(job_id: str) -> LabJob | None:
    """Claim the job once and process every input; progress is saved after each image.

    An image that fails is recorded with its reason and the others go on; anything that stops
    the whole job marks it failed with the reason, so a job never stays "running".
    """
    claimed = LabJob.objects.filter(pk=job_id, status=LabJob.Status.QUEUED).update(
        status=LabJob.Status.RUNNING, attempts=F("attempts") + 1, started_at=timezone.now()
    )
    if not claimed:
        return None
    job = LabJob.objects.get(pk=job_id)
    try:
        if job.operation == "generate":
            _generate(job)
        else:
            _postprocess(job)
    except PipelineError as exc:
        job.status, job.error = LabJob.Status.FAILED, str(exc)
    except (
        Exception
    ) as exc:  # a bug or the machine: say so on the job, keep the traceback in the log
        log.exception("lab job %s crashed", job.pk)
        job.status, job.error = (
            LabJob.Status.FAILED,
            f"internal error ({type(exc).__name__}: {exc})",
        )
    else:
        failed = [o for o in job.outputs if o.get("error")]
        all_failed = bool(failed) and len(failed) == len(job.outputs)
        job.status = LabJob.Status.FAILED if all_failed else LabJob.Status.DONE
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "outputs", "finished_at", "cost_usd"])
    return job


def _postprocess(job: LabJob) -> None:
    folder = job_folder(job)
    config, steps = _operation_config(job.operation, job.params)
    for index, item in enumerate(job.inputs):
        ctx = ChainContext(outputs=FolderOutputs(folder / "steps"))
        try:
            final = run_chain(
                data=(folder / item["file"]).read_bytes(),
                source=None,
                config=config,
                ctx=ctx,
                only=steps,
            )
        except PipelineError as exc:
            job.outputs = [*job.outputs, {"input": index, "error": str(exc)}]
        except Exception as exc:  # one broken image must not sink the others
            log.exception("lab job %s, image %s crashed", job.pk, index)
            job.outputs = [*job.outputs, {"input": index, "error": f"internal error ({exc})"}]
        else:
            target = folder / f"out_{index}.png"
            target.write_bytes(final.data)
            job.outputs = [*job.outputs, {"input": index, "file": target.name, "log": ctx.log}]
        job.save(update_fields=["outputs"])


def _generate(job: LabJob) -> None:
    key, base_url = credentials(None, "openai")
    provider = OpenAIProvider(api_key=key, base_url=base_url)
    params = job.params
    request = GenerationRequest(
        model=params.get("model", GENERATE_MODEL),
        prompt=params["prompt"],
        images=[],
        candidate_indices=list(range(params.get("n", 1))),
        size=params["size"],
        quality=params["quality"],
    )
    result = provider.generate(request)
    folder = job_folder(job)
    outputs = []
    for index, data in enumerate(result.images):
        target = folder / f"out_{index}.png"
        target.write_bytes(data)
        outputs.append({"input": None, "file": target.name, "log": []})
    usd, _ = usd_for_call(
        result.model, result.usage, len(result.images), params["quality"], params["size"]
    )
    job.outputs, job.cost_usd = outputs, usd


@transaction.atomic
def save_lab_outputs(
    *, job: LabJob, project: Project, user: AbstractBaseUser
) -> tuple[list[Asset], int]:
    """Copy the job's results into `project` as assets (validated like any upload).

    Returns the assets and how many of them are new (saving twice adds nothing).
    """
    folder = job_folder(job)
    assets = []
    before = Asset.objects.filter(project=project).count()
    for output in job.outputs:
        if not output.get("file"):
            continue
        source = (
            job.inputs[output["input"]]["name"] if output.get("input") is not None else "generated"
        )
        try:
            asset = store_image(
                project=project,
                data=(folder / output["file"]).read_bytes(),
                kind=Asset.Kind.UPLOAD,
                name=f"{Path(source).stem}-{job.operation}.png",
                metadata={"lab_job": str(job.id), "operation": job.operation},
            )
        except (ImageRejectedError, FileNotFoundError) as exc:
            raise PipelineError(f"{output['file']} cannot be saved: {exc}") from None
        assets.append(asset)
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


def sweep_stuck_lab_jobs() -> int:
    """Lab jobs whose worker died are failed, with the reason, after the task timeout."""
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.Q_CLUSTER["timeout"])
    return LabJob.objects.filter(status=LabJob.Status.RUNNING, started_at__lt=cutoff).update(
        status=LabJob.Status.FAILED,
        error="the worker stopped while processing this job; start it again",
        finished_at=timezone.now(),
    )
