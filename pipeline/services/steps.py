"""The steps of one run job, in order: generate -> qa -> select -> postprocess.

Each step is idempotent: outputs live at deterministic paths, so a step that finds its output
already there does not do the work again, and a candidate is paid for at most once. The engine
writes a step row for each step (`ctx.row`); a provider call writes its own row before it is
made (the intent), and the answer is on disk before anything else is done with it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from PIL import Image

from pipeline import paths, recipes
from pipeline.config import GENERATION_RULES, OUTPUT_GUARD_RULES
from pipeline.engine import end_step, start_step, step_rows
from pipeline.errors import ProviderError, QAFailed
from pipeline.models import RUN_JOB, CostEvent, QualityReport, Run, RunCandidate, RunJob, StepRun
from pipeline.postprocess.chain import estimate_paid_steps, step_names
from pipeline.providers import get_provider, provider_class
from pipeline.providers.base import GenerationRequest, InputImage
from pipeline.qa import QAResult, check_image, rank_candidates
from pipeline.services.budgets import reserve_paid_call
from pipeline.services.costs import record_cost_event
from pipeline.services.postprocess import postprocess_pick
from projects.models import Asset, AssetLink, Project
from projects.storage import move_file, read_file, storage_for, write_file_atomic


@dataclass
class JobContext:
    run: Run
    job: RunJob
    results: dict[int, QAResult] = field(default_factory=dict)
    row: StepRun | None = None  # the engine's row for the step running now

    @property
    def project(self) -> Project:
        return self.run.project

    @property
    def gen(self) -> dict[str, Any]:
        return self.run.plan["generation"]

    def note(self, key: str, value: Any) -> None:
        if self.row is not None:
            self.row.notes[key] = value


def requested_size(ctx: JobContext) -> str:
    """The size this job asks the provider for ("WxH" or "auto"); QA checks the answer's."""
    return ctx.job.size or ctx.gen["size"]


# --- generate --------------------------------------------------------------------------------


def _input_images(ctx: JobContext) -> list[InputImage]:
    """The job's input (when it has one: a base image or an earlier pick), then the references
    planned for it: the style's, and its panel's cast where faces are made."""
    images = []
    if ctx.job.input_path:
        images.append(
            InputImage(
                f"scene-{ctx.job.scene_key}.png",
                read_file(ctx.project, ctx.job.input_path),
                "scene",
            )
        )
    refs = ctx.job.references
    if not refs and not ctx.job.size:  # planned before per-panel references
        refs = [
            {**ref, "source": role}
            for role, key in (("style_ref", "style_refs"), ("character_ref", "character_refs"))
            for ref in ctx.run.plan.get(key, [])
        ]
    for ref in refs:
        role = "style" if ref["source"].startswith("style") else "character"
        images.append(
            InputImage(os.path.basename(ref["path"]), read_file(ctx.project, ref["path"]), role)
        )
    return images


def _answers(ctx: JobContext) -> list[str]:
    storage = storage_for(ctx.project)
    directory = paths.job_dir(ctx.run, ctx.job.index)
    if not storage.exists(directory):
        return []
    _, files = storage.listdir(directory)
    return sorted(f"{directory}/{name}" for name in files if name.startswith("answer_"))


def _call_row(ctx: JobContext, path: str) -> StepRun:
    """The provider_call row of an answer file (answer_<attempt>_<row id>.json)."""
    row_id = path.rsplit("_", 1)[-1].removesuffix(".json")
    rows = step_rows(RUN_JOB, ctx.job.pk).filter(step="provider_call")
    row = rows.filter(pk=int(row_id)).first() if row_id.isdigit() else None
    if row is None:  # an answer saved by an older version, without an intent row
        row = rows.filter(notes__answer=path).first() or start_step(
            RUN_JOB, ctx.job, "provider_call", project_id=ctx.project.pk, paid=True
        )
    return row


def _settle_answer(ctx: JobContext, path: str) -> None:
    """Extract an answer's images to candidate paths and record its cost; safe to repeat."""
    row = _call_row(ctx, path)
    if row.status == StepRun.Status.DONE:
        return
    answer = json.loads(read_file(ctx.project, path))
    storage = storage_for(ctx.project)
    for index, b64 in zip(
        answer["candidate_indices"], answer.get("images_b64") or [], strict=False
    ):
        target = paths.candidate_path(ctx.run, ctx.job.index, index)
        if not storage.exists(target) and not storage.exists(
            paths.archive_path(ctx.run, ctx.job.index, index)
        ):
            write_file_atomic(ctx.project, target, base64.b64decode(b64))
    provider = provider_class(answer["provider"])
    if "usd" not in answer:
        request = answer["request"]
        usd, units = provider.cost(
            model=answer["model"],
            usage=answer["usage"],
            n=len(answer.get("images_b64") or answer["candidate_indices"]),
            quality=request["quality"],
            size=request["size"],
        )
        answer["usd"], answer["units"] = str(usd), units
    event = None
    if provider.paid:
        event = record_cost_event(
            job=ctx.job,
            run=ctx.run,
            key=f"{ctx.run.uid}/job{ctx.job.index}/{path.rsplit('/', 1)[-1]}",
            provider=answer["provider"],
            model=answer["model"],
            operation="images.edit",
            usd=Decimal(answer["usd"]),
            units=answer["units"],
        )
        # The answer was saved after all: the cost recorded at recovery was a stand-in.
        CostEvent.objects.filter(idempotency_key=unconfirmed_key(row)).delete()
    if answer.get("images_b64"):
        answer["images_b64"] = None  # the images now live at their candidate paths
        write_file_atomic(ctx.project, path, json.dumps(answer, indent=1).encode())
    notes = {k: v for k, v in answer.items() if k != "images_b64"} | {"answer": path}
    end_step(row, StepRun.Status.DONE, notes=notes, cost_event=event)


def unconfirmed_key(row: StepRun) -> str:
    return f"steprun/{row.pk}/unconfirmed"


def _missing_candidates(ctx: JobContext) -> list[int]:
    storage = storage_for(ctx.project)
    return [
        k
        for k in range(ctx.run.candidates_per_job)
        if not storage.exists(paths.candidate_path(ctx.run, ctx.job.index, k))
        and not storage.exists(paths.archive_path(ctx.run, ctx.job.index, k))
    ]


def generate(ctx: JobContext) -> None:
    """Ask the provider for the candidates that do not exist yet; save its answer first."""
    for path in _answers(ctx):
        _settle_answer(ctx, path)
    missing = _missing_candidates(ctx)
    if not missing:
        return
    provider = get_provider(ctx.run.provider, project=ctx.project)
    request = GenerationRequest(
        model=ctx.run.model,
        prompt=ctx.job.prompt,
        images=_input_images(ctx),
        candidate_indices=missing,
        size=requested_size(ctx),
        quality=ctx.gen["quality"],
        input_fidelity=ctx.gen["input_fidelity"],
        timeout_s=ctx.gen["timeout_s"],
        max_retries=ctx.gen["max_retries"],
        retry_base_s=ctx.gen["retry_base_s"],
    )
    estimate = ctx.job.estimate_usd * len(missing) / ctx.run.candidates_per_job
    # The intent: written before the call, so a call that is billed while this worker dies is
    # still on record (as an unconfirmed cost) after recovery. The budgets are checked in the
    # same transaction (a refusal ends the job failed, budget_exhausted, and writes no row).
    call = reserve_paid_call(
        run=ctx.run,
        estimate_usd=estimate,
        paid=provider.paid,
        start=lambda: start_step(
            RUN_JOB,
            ctx.job,
            "provider_call",
            project_id=ctx.project.pk,
            paid=provider.paid,
            notes={
                "provider": provider.name,
                "request": request.describe(),
                "estimate_usd": str(estimate),
            },
        ),
    )
    try:
        result = provider.generate(request)
    except Exception as exc:
        code = getattr(exc, "code", "internal")
        end_step(call, StepRun.Status.FAILED, error_code=code, error=str(exc))
        raise
    answer = {
        "provider": provider.name,
        "model": result.model,
        "request": request.describe(),
        "candidate_indices": missing[: len(result.images)],
        "request_id": result.request_id,
        "usage": result.usage,
        "attempts": result.attempts,
        "retries": result.events,
        "duration_s": round(result.duration_s, 3),
        "received_at": timezone.now().isoformat(),
        "images_b64": [base64.b64encode(data).decode() for data in result.images],
    }
    # The answer is on disk before anything else is done with it (pricing included).
    path = paths.answer_path(ctx.run, ctx.job.index, f"{ctx.job.attempts:02d}_{call.pk}")
    write_file_atomic(ctx.project, path, json.dumps(answer).encode())
    _settle_answer(ctx, path)
    still_missing = _missing_candidates(ctx)
    if still_missing:
        raise ProviderError(
            f"the provider returned {len(result.images)} of {len(missing)} images; those are kept "
            f"and paid once. Run the scene again to generate the other {len(still_missing)}."
        )


# --- qa -------------------------------------------------------------------------------------


def _register_candidate_asset(
    ctx: JobContext, path: str, data: bytes, image: Image.Image, digest: str, recipe: dict
) -> Asset:
    asset, _ = Asset.objects.get_or_create(
        project=ctx.project,
        kind=Asset.Kind.CANDIDATE,
        path=path,
        defaults={
            "sha256": digest,
            "size_bytes": len(data),
            "width": image.width,
            "height": image.height,
            "mime": "image/png",
            "title": f"{ctx.run.uid} {ctx.job.scene_key} {path[-6:-4]}",
            "metadata": {
                "run": ctx.run.uid,
                "job": ctx.job.index,
                "panel": ctx.job.scene_key,
                "stage": ctx.run.stage,
                "candidate": int(path.rsplit("/c", 1)[1].removesuffix(".png")),
                "recipe": recipe,
            },
        },
    )
    source_id = ctx.job.input_asset_id
    if source_id and source_id != asset.pk:
        AssetLink.objects.get_or_create(
            project=ctx.project,
            source=asset,
            target_id=source_id,
            relation=AssetLink.Relation.DERIVED_FROM,
            defaults={"metadata": {"run": ctx.run.uid}},
        )
    return asset


def qa(ctx: JobContext) -> None:
    guard = ctx.run.manifest_snapshot["output_guard"]
    base = None  # the job's recipe, read once for all its candidates
    for index in range(ctx.run.candidates_per_job):
        path = paths.candidate_path(ctx.run, ctx.job.index, index)
        existing = RunCandidate.objects.filter(job=ctx.job, index=index).first()
        if existing is not None and existing.passed is not None:
            ctx.results[index] = QAResult(
                **{k: existing.qa_summary[k] for k in ("metrics", "hard_failures", "soft_warnings")}
            )
            continue
        data = read_file(ctx.project, path)
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except OSError as exc:
            raise ProviderError(f"candidate {index} is not a readable image ({exc})") from None
        result = check_image(image, guard, requested_size=requested_size(ctx))
        ctx.results[index] = result
        if base is None:
            base = recipes.job_recipe(ctx.run, ctx.job)
        recipe = recipes.candidate_recipe(base, index, result.as_dict())
        stamped = recipes.with_recipe(data, recipe)  # the same pixels, plus its recipe chunk
        if stamped != data:
            write_file_atomic(ctx.project, path, stamped)
            data = stamped
        digest = hashlib.sha256(data).hexdigest()  # decoded, checked and hashed before writing
        with transaction.atomic():
            asset = _register_candidate_asset(ctx, path, data, image, digest, recipe)
            candidate, _ = RunCandidate.objects.update_or_create(
                job=ctx.job,
                index=index,
                defaults={
                    "project": ctx.project,
                    "asset": asset,
                    "output_path": path,
                    "passed": result.passed,
                    "qa_summary": result.as_dict(),
                },
            )
            QualityReport.objects.update_or_create(
                candidate=candidate,
                defaults={
                    "project": ctx.project,
                    "run": ctx.run,
                    "passed": result.passed,
                    "hard_failures": len(result.hard_failures),
                    "soft_warnings": len(result.soft_warnings),
                    "metrics": result.metrics,
                },
            )


# --- select ---------------------------------------------------------------------------------


def select(ctx: JobContext) -> None:
    order = rank_candidates(ctx.results)
    best = order[0]
    candidates = {
        c.index: c for c in RunCandidate.objects.filter(job=ctx.job).select_related("asset")
    }
    with transaction.atomic():
        RunCandidate.objects.filter(job=ctx.job).update(selected=False)
        for rank, index in enumerate(order, start=1):
            candidate = candidates[index]
            candidate.rank = rank
            candidate.selected = index == best and ctx.results[index].passed
            candidate.save(update_fields=["rank", "selected"])
    for index, result in ctx.results.items():
        if not result.passed:
            _archive(ctx, candidates[index])
    ctx.note("ranking", order)
    if not ctx.results[best].passed:
        reasons = "; ".join(ctx.results[best].hard_failures)
        raise QAFailed(
            f"all {len(order)} candidates failed QA (best: {reasons}); they are kept in "
            f"runs/{ctx.run.uid}/archive/."
        )


def _archive(ctx: JobContext, candidate: RunCandidate) -> None:
    """Failing outputs are kept, moved to the run's archive/ and flagged; never deleted."""
    if candidate.archived:
        return
    target = paths.archive_path(ctx.run, ctx.job.index, candidate.index)
    storage = storage_for(ctx.project)
    if storage.exists(candidate.output_path) or not storage.exists(target):
        move_file(ctx.project, candidate.output_path, target)
    # else: moved before a crash; only the row was not updated yet
    with transaction.atomic():
        candidate.archived, candidate.output_path = True, target
        candidate.save(update_fields=["archived", "output_path"])
        if candidate.asset_id:
            Asset.objects.filter(pk=candidate.asset_id).update(path=target)


# --- postprocess --------------------------------------------------------------------------


def postprocess(ctx: JobContext) -> None:
    """Send the selected candidate through the post-processing chain (settings at plan time)."""
    config = ctx.run.plan.get("postprocess")
    if not config or not any(config[name]["enabled"] for name in step_names()):
        return
    postprocess_pick(
        job=ctx.job, config=config, only=None, confirm_spend=ctx.run.mode == Run.Mode.RUN
    )


# --- the contract and the list -----------------------------------------------------------


@dataclass(frozen=True)
class JobEstimate:
    """What planning knows about one job when it asks each step what it may cost."""

    generation: dict[str, Any]  # the run's generation settings, with this job's size
    provider: str
    model: str
    prompt: str
    images: int
    candidates: int
    postprocess: dict[str, Any]


class JobStep:
    """A run job's step, with the same contract as a post-processing step: its `name`, the
    manifest settings it owns (`rules`, dotted paths, checked whenever a manifest is), whether
    it applies (`able_to_run`), the parameters that form its key (`key_params`, on its step
    row), what it may cost (`estimate`, summed by planning) and the work (`run`)."""

    name = ""
    rules: dict[str, Any] = {}

    def able_to_run(self, ctx: JobContext) -> bool:
        return True

    def key_params(self, ctx: JobContext) -> dict[str, Any]:
        return {}

    def estimate(self, job: JobEstimate) -> Decimal:
        return Decimal(0)

    def run(self, ctx: JobContext) -> None:
        raise NotImplementedError


class Generate(JobStep):
    name = "generate"
    rules = GENERATION_RULES

    def key_params(self, ctx: JobContext) -> dict[str, Any]:
        gen = ctx.gen
        return {
            "provider": ctx.run.provider,
            "model": ctx.run.model,
            "n": ctx.run.candidates_per_job,
            "size": requested_size(ctx),
            **{k: gen[k] for k in ("quality", "input_fidelity")},
            "prompt_sha256": hashlib.sha256(ctx.job.prompt.encode()).hexdigest(),
        }

    def estimate(self, job: JobEstimate) -> Decimal:
        return provider_class(job.provider).estimate(
            generation=job.generation,
            model=job.model,
            prompt=job.prompt,
            images=job.images,
            candidates=job.candidates,
        )

    def run(self, ctx: JobContext) -> None:
        generate(ctx)


class QualityGuard(JobStep):
    name = "qa"
    rules = OUTPUT_GUARD_RULES

    def key_params(self, ctx: JobContext) -> dict[str, Any]:
        return {**ctx.run.manifest_snapshot["output_guard"], "size": requested_size(ctx)}

    def run(self, ctx: JobContext) -> None:
        qa(ctx)


class Select(JobStep):
    name = "select"

    def run(self, ctx: JobContext) -> None:
        select(ctx)


class PostProcess(JobStep):
    name = "postprocess"

    def able_to_run(self, ctx: JobContext) -> bool:
        config = ctx.run.plan.get("postprocess")
        return bool(config) and any(config[name]["enabled"] for name in step_names())

    def estimate(self, job: JobEstimate) -> Decimal:
        return estimate_paid_steps(job.postprocess)

    def run(self, ctx: JobContext) -> None:
        postprocess(ctx)


JOB_STEPS: list[JobStep] = [Generate(), QualityGuard(), Select(), PostProcess()]


def job_steps() -> list[JobStep]:
    return list(JOB_STEPS)


def estimate_job(job: JobEstimate) -> Decimal:
    """What one planned job may cost: each step's own estimate."""
    return sum((step.estimate(job) for step in JOB_STEPS), Decimal(0))
