"""plan_run: a request + manifest + story -> jobs, prompts, sizes, references and a cost
estimate, every guard applied. One job per panel.

Planning never calls a provider. A dry run is a plan written down (run rows and a run log with
mode "dry"); a real run is the same plan, confirmed, handed to the workers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from pipeline.config import GENERATION_RULES, STAGES, Manifest, load_manifest
from pipeline.errors import GuardError
from pipeline.models import Run, RunJob
from pipeline.postprocess.config import load_postprocess
from pipeline.providers import prices_are_estimates, provider_class
from pipeline.services.budgets import check_plan_budget
from pipeline.services.credentials import key_problem
from pipeline.services.prompts import (
    panel_variables,
    prompt_template,
    render_prompt,
    story_variables,
)
from pipeline.services.refs import (
    BuildOn,
    InputRef,
    cast_of,
    cast_refs,
    locked_style_guide,
    resolve_panels,
    resolve_style_refs,
    stage_input,
)
from pipeline.services.steps import JobEstimate, estimate_job
from projects.models import Project, StyleGuide


@dataclass(frozen=True)
class RunRequest:
    """What the user asked for (New Run's fields); a plan is confirmed from the same request."""

    stage: str
    panels: list[str] | None = None  # keys or ids; None: every panel
    candidates: int | None = None
    provider: str | None = None
    model: str | None = None
    quality: str | None = None
    size: str | None = None  # None: each panel's aspect
    variation: str | None = None
    build_on: BuildOn = field(default_factory=BuildOn)
    prompt: str | None = None  # the artist's edited prompt: sent instead of the rendered one

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRequest:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["build_on"] = BuildOn(**(data.get("build_on") or {}))
        return cls(**values)


@dataclass(frozen=True)
class PlannedJob:
    index: int
    scene_key: str
    panel_id: int | None
    input: InputRef | None
    references: list[InputRef]
    size: str
    prompt: str
    estimate_usd: Decimal


@dataclass(frozen=True)
class Plan:
    project: Project
    request: RunRequest
    mode: str
    provider: str
    model: str
    candidates: int
    manifest: Manifest
    generation: dict[str, Any]
    style_refs: list[InputRef]
    jobs: list[PlannedJob]
    estimate_usd: Decimal
    prices_estimated: bool
    style_guide: dict[str, str] = field(default_factory=dict)
    postprocess: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def stage(self) -> str:
        return self.request.stage

    @property
    def variation(self) -> str | None:
        return self.request.variation

    def request_params(self) -> dict[str, Any]:
        gen = self.generation
        return {
            "provider": self.provider,
            "model": self.model,
            "n": self.candidates,
            "size": self.request.size or "per panel",
            "quality": gen["quality"],
            "input_fidelity": gen["input_fidelity"],
        }

    def summary(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "mode": self.mode,
            **self.request_params(),
            "jobs": len(self.jobs),
            "estimate_usd": str(self.estimate_usd),
            "prices_estimated": self.prices_estimated,
            "style_refs": [r.path for r in self.style_refs],
            "style_guide": self.style_guide,
            "variation": self.variation,
            "scenes": [job.scene_key for job in self.jobs],
            "warnings": self.warnings,
        }


def _check_request(
    request: RunRequest, mode: str, manifest: Manifest
) -> tuple[str, str, int, dict[str, Any]]:
    """Validate stage, mode, provider, model, quality, size and candidate count;
    return (provider, model, n, the run's generation settings)."""
    if request.stage not in STAGES:
        raise GuardError(
            f"Unknown stage {request.stage!r}; stages are {', '.join(STAGES)}.", field="stage"
        )
    if mode not in ("dry", "run"):
        raise GuardError(f"Unknown mode {mode!r}; use 'dry' or 'run'.", field="mode")
    gen = dict(manifest["generation"])
    for name, value in (
        ("model", request.model),
        ("quality", request.quality),
        ("size", request.size),
    ):
        if value:
            try:
                gen[name] = GENERATION_RULES[f"generation.{name}"](value)
            except ValueError as exc:
                raise GuardError(f"{name}: {exc}", code="invalid", field=name) from None
    provider = request.provider or gen["provider"]
    provider_cls = provider_class(provider)
    n = gen["candidates"] if request.candidates is None else request.candidates
    if not 1 <= n <= gen["max_candidates"]:
        raise GuardError(
            f"{n} candidates requested; generation.max_candidates allows "
            f"1..{gen['max_candidates']}.",
            code="too_many_candidates",
            field="candidates",
        )
    return provider, provider_cls.model_for(gen), n, gen


def _check_style(project: Project, stage: str, manifest: Manifest):
    """The style references and the guide they come from (the characters stage needs it locked)."""
    style_url = f"/projects/{project.slug}/style/"
    if stage == "characters" and locked_style_guide(project) is None:
        if not StyleGuide.objects.filter(project=project).exists():
            raise GuardError(
                "The characters stage needs a locked style, and this project has no style guide: "
                f"create one with style references on the Style page ({style_url}), then lock it.",
                code="style_not_locked",
                field="stage",
            )
        raise GuardError(
            "The characters stage needs a locked style: once the style stage looks right, lock "
            f"the style guide on the Style page ({style_url}).",
            code="style_not_locked",
            field="stage",
        )
    style_refs, guide = resolve_style_refs(
        project, manifest["style_refs"], manifest["policy.allowed_style_roots"]
    )
    if not style_refs:
        raise GuardError(
            "This project has no style references: add images to its style guide on the Style "
            f"page ({style_url}), or list their paths as style_refs in the manifest overrides.",
            code="no_style_refs",
            field="stage",
        )
    return style_refs, guide


def _targets(project: Project, request: RunRequest, manifest: Manifest, warnings: list[str]):
    """The panels to plan; the characters stage leaves out (or refuses) panels with no cast."""
    targets = resolve_panels(project, manifest["scene_refs"], request.panels)
    cast = cast_of([t.panel for t in targets if t.panel is not None])
    if request.stage == "characters":
        # The stage places a panel's cast and nobody else: a panel without one is left out.
        empty = [t.key for t in targets if not cast.get(t.panel.pk if t.panel else -1)]
        if empty:
            warnings.append(
                f"Left out (no cast): {', '.join(empty)}. Give them a cast on the Story page."
            )
            targets = [t for t in targets if t.key not in empty]
        if not targets:
            raise GuardError(
                "No panel of this run has a cast yet: give panels a cast on the Story page first.",
                code="no_cast",
                field="panels",
            )
    if len(targets) > manifest["safe_batch_limit"]:
        raise GuardError(
            f"{len(targets)} panels exceed safe_batch_limit ({manifest['safe_batch_limit']}): "
            "choose fewer panels or raise the batch limit in the project's Settings.",
            code="batch_limit",
            field="panels",
        )
    return targets, cast


def plan_run(
    *,
    project: Project,
    request: RunRequest | None = None,
    mode: str = "dry",
    confirm_spend: bool = False,
    manifest: Manifest | None = None,
    **fields: Any,
) -> Plan:
    """Plan a run and apply every guard; raises GuardError or ConfigError with the reason.

    The request is `request`, or RunRequest(**fields) (stage=..., panels=..., ...).
    `manifest` replaces the project's current one (a replay uses its log's snapshot).
    """
    request = request or RunRequest(**fields)
    manifest = manifest or load_manifest(project)
    provider, model, n, gen = _check_request(request, mode, manifest)
    style_refs, guide = _check_style(project, request.stage, manifest)
    warnings = (
        [f"Style guide '{guide.name}' is not locked yet."] if guide and not guide.is_locked else []
    )
    targets, cast = _targets(project, request, manifest, warnings)
    template, source = prompt_template(project, request.stage, manifest)
    shared = story_variables(project, request.stage, manifest, request.variation, guide)
    postprocess = load_postprocess(project)
    limit = manifest["generation.max_input_images"]
    jobs = []
    for index, target in enumerate(targets):
        members = cast.get(target.panel.pk, []) if target.panel else []
        start = stage_input(project, request.stage, target, request.build_on)
        # The cast's sheets go where faces are made: the characters stage, or a panel drawn
        # from its script (nothing to keep a face from).
        sends_cast = request.stage == "characters" or start is None
        refs = [*style_refs, *(cast_refs(project, members) if sends_cast else [])]
        n_images = len(refs) + (1 if start else 0)
        if n_images > limit:
            raise GuardError(
                f"Panel {target.key}: {n_images} input images exceed "
                f"generation.max_input_images ({limit}): use fewer style or character sheets.",
                code="too_many_images",
                field="panels",
            )
        size = request.size or (target.panel.size if target.panel else gen["size"])
        variables = panel_variables(shared, target.panel, target.key, members, start is not None)
        prompt = request.prompt or render_prompt(template, variables, source)
        job_gen = {**gen, "size": size}
        usd = estimate_job(JobEstimate(job_gen, provider, model, prompt, n_images, n, postprocess))
        jobs.append(
            PlannedJob(
                index,
                target.key,
                target.panel.pk if target.panel else None,
                start,
                refs,
                size,
                prompt,
                usd,
            )
        )
    total = sum((job.estimate_usd for job in jobs), Decimal(0))
    check_plan_budget(project=project, estimate_usd=total)
    problem = key_problem(project, provider)
    if problem and mode == "run":
        raise GuardError(problem, code="no_key", field="provider")
    if problem:
        warnings = [*warnings, f"{problem} Confirming this plan is refused until then."]
    if mode == "run" and total > 0 and not confirm_spend:
        raise GuardError(
            f"This run would cost about ${total:.2f} ({len(jobs)} jobs x {n} candidates, {model}). "
            "Confirm the spend to run it (--confirm-spend), or do a dry run first.",
            code="confirm_spend",
        )
    return Plan(
        project=project,
        request=request,
        mode=mode,
        provider=provider,
        model=model,
        candidates=n,
        manifest=manifest,
        generation=gen,
        style_refs=style_refs,
        jobs=jobs,
        estimate_usd=total,
        prices_estimated=prices_are_estimates(provider_class(provider), model),
        style_guide=_guide_record(guide),
        postprocess=postprocess,
        warnings=warnings,
    )


def _guide_record(guide: StyleGuide | None) -> dict[str, str]:
    if guide is None:
        return {}
    digest = guide.content_sha256
    return {
        "name": guide.name,
        "status": guide.status,
        "sha256": digest() if callable(digest) else digest,
    }


@transaction.atomic
def create_run(*, plan: Plan, user: AbstractBaseUser | None) -> Run:
    """Write the run and its jobs. Dry runs end here, planned; real runs start queued."""
    run = Run.objects.create(
        project=plan.project,
        stage=plan.stage,
        mode=plan.mode,
        provider=plan.provider,
        model=plan.model,
        status=Run.Status.PLANNED if plan.mode == "dry" else Run.Status.QUEUED,
        requested_by=user,
        manifest_snapshot=plan.manifest.data,
        manifest_hash=plan.manifest.sha256,
        style_sha256=plan.style_guide.get("sha256", ""),
        candidates_per_job=plan.candidates,
        estimated_cost_usd=plan.estimate_usd,
        plan=plan_snapshot(plan),
    )
    RunJob.objects.bulk_create(
        RunJob(
            project=plan.project,
            run=run,
            index=job.index,
            scene_key=job.scene_key,
            panel_id=job.panel_id,
            input_asset_id=job.input.asset_id if job.input else None,
            prompt=job.prompt,
            status=RunJob.Status.PLANNED if plan.mode == "dry" else RunJob.Status.QUEUED,
            input_path=job.input.path if job.input else "",
            input_source=job.input.source if job.input else "script",
            size=job.size,
            references=[asdict(r) for r in job.references],
            estimate_usd=job.estimate_usd,
        )
        for job in plan.jobs
    )
    return run


def plan_snapshot(plan: Plan) -> dict[str, Any]:
    return {
        **plan.summary(),
        "postprocess": plan.postprocess,
        "style_refs": [asdict(r) for r in plan.style_refs],
        "generation": plan.generation,
        "request": plan.request.as_dict(),
    }
