"""plan_run: manifest + project -> jobs, prompts, requests and a cost estimate, every guard applied.

Planning never calls a provider. A dry run is a plan written down (run rows and a run log with
mode "dry"); a real run is the same plan, confirmed, handed to the workers.
"""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from pipeline.config import STAGES, ConfigError, Manifest, load_manifest
from pipeline.errors import GuardError
from pipeline.models import Run, RunJob
from pipeline.postprocess.config import load_postprocess
from pipeline.providers import prices_are_estimates, provider_class
from pipeline.services.credentials import key_problem
from pipeline.services.refs import (
    InputRef,
    locked_style_guide,
    resolve_character_refs,
    resolve_scenes,
    resolve_style_refs,
    stage_input,
)
from pipeline.services.steps import JobEstimate, estimate_job
from projects.models import Character, Project, PromptTemplate, StyleGuide


@dataclass(frozen=True)
class PlannedJob:
    index: int
    scene_key: str
    input: InputRef
    prompt: str
    estimate_usd: Decimal


@dataclass(frozen=True)
class Plan:
    project: Project
    stage: str
    mode: str
    provider: str
    model: str
    candidates: int
    manifest: Manifest
    style_refs: list[InputRef]
    character_refs: list[InputRef]
    jobs: list[PlannedJob]
    estimate_usd: Decimal
    prices_estimated: bool
    variation: str | None = None
    postprocess: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def request_params(self) -> dict[str, Any]:
        gen = self.manifest["generation"]
        return {
            "provider": self.provider,
            "model": self.model,
            "n": self.candidates,
            "size": gen["size"],
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
            "character_refs": [r.path for r in self.character_refs],
            "variation": self.variation,
            "scenes": [job.scene_key for job in self.jobs],
            "warnings": self.warnings,
        }


def render_prompt(template: str, variables: dict[str, str], source: str) -> str:
    """Fill a prompt template; only plain {name} fields of known variables are allowed."""
    known = ", ".join(sorted(variables))
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ConfigError(
            source, "", f"bad template ({exc}); write literal braces as {{{{ }}}}"
        ) from None
    for name in fields:
        if name not in variables:
            raise ConfigError(source, "", f"unknown variable {{{name}}}; known: {known}")
    return template.format_map(variables)


def _prompt_template(project: Project, stage: str, manifest: Manifest) -> tuple[str, str]:
    row = (
        PromptTemplate.objects.filter(project=project, stage=stage, is_active=True)
        .order_by("-updated_at")
        .first()
    )
    if row is not None:
        return row.template, f"prompt template '{row.name}' ({stage})"
    return manifest[f"prompts.{stage}"], f"manifest prompts.{stage}"


def _variables(
    project: Project,
    stage: str,
    manifest: Manifest,
    variation: str | None,
    guide: StyleGuide | None,
) -> dict[str, str]:
    characters = Character.objects.filter(project=project).order_by("name")
    return {
        "project_name": project.name,
        "logline": project.logline,
        "setting": project.setting,
        "tone": project.tone,
        "style_rules": (guide.rules or guide.description) if guide else "",
        "variation": variation or manifest.data["variations"].get(stage, ""),
        "characters": "; ".join(
            f"{c.name}: {c.continuity_notes or c.description}" for c in characters
        ),
        "scene": "",
    }


def _check_request(
    stage: str, mode: str, manifest: Manifest, provider: str | None, candidates: int | None
) -> tuple[str, str, int]:
    """Validate stage, mode, provider and candidate count; return (provider, model, n)."""
    if stage not in STAGES:
        raise GuardError(f"Unknown stage {stage!r}; stages are {', '.join(STAGES)}.")
    if mode not in ("dry", "run"):
        raise GuardError(f"Unknown mode {mode!r}; use 'dry' or 'run'.")
    gen = manifest["generation"]
    provider = provider or gen["provider"]
    provider_cls = provider_class(provider)
    n = gen["candidates"] if candidates is None else candidates
    if not 1 <= n <= gen["max_candidates"]:
        raise GuardError(
            f"{n} candidates requested; generation.max_candidates allows "
            f"1..{gen['max_candidates']}."
        )
    return provider, provider_cls.model_for(gen), n


def _check_inputs(
    project: Project, stage: str, manifest: Manifest, scenes: list[str] | None
) -> tuple[list[InputRef], list[InputRef], list[InputRef], StyleGuide | None, list[str]]:
    """Resolve and guard the run's inputs: (scenes, style refs, character refs, guide, warnings)."""
    if stage == "characters" and locked_style_guide(project) is None:
        if not StyleGuide.objects.filter(project=project).exists():
            raise GuardError(
                "The characters stage needs a locked style, and this project has no style guide: "
                "create one with style references (Admin → Style guides → Add), then lock it."
            )
        raise GuardError(
            "The characters stage needs a locked style: once the style stage looks right, lock "
            "the style guide (Admin → Style guides: set its Status to Locked, or tick it and "
            "choose “Lock selected style guides”)."
        )
    style_refs, guide = resolve_style_refs(
        project, manifest["style_refs"], manifest["policy.allowed_style_roots"]
    )
    if not style_refs:
        raise GuardError(
            "This project has no style references: add images to its style guide (Admin → Style "
            "guides → Style references), or list their paths as style_refs in the project's "
            "manifest overrides."
        )
    warnings = (
        [f"Style guide '{guide.name}' is not locked yet."] if guide and not guide.is_locked else []
    )
    character_refs = resolve_character_refs(project) if stage == "characters" else []
    scene_refs = resolve_scenes(project, manifest["scene_refs"], scenes)
    if len(scene_refs) > manifest["safe_batch_limit"]:
        raise GuardError(
            f"{len(scene_refs)} scenes exceed safe_batch_limit ({manifest['safe_batch_limit']}): "
            "choose fewer scenes or raise safe_batch_limit in the project's manifest overrides."
        )
    n_images = 1 + len(style_refs) + len(character_refs)
    limit = manifest["generation.max_input_images"]
    if n_images > limit:
        raise GuardError(
            f"{n_images} input images per request exceed generation.max_input_images "
            f"({limit}): use fewer style or character references."
        )
    return scene_refs, style_refs, character_refs, guide, warnings


def plan_run(
    *,
    project: Project,
    stage: str,
    scenes: list[str] | None = None,
    candidates: int | None = None,
    mode: str = "dry",
    confirm_spend: bool = False,
    variation: str | None = None,
    provider: str | None = None,
    manifest: Manifest | None = None,
) -> Plan:
    """Plan a run and apply every guard; raises GuardError or ConfigError with the reason.

    `manifest` replaces the project's current one (a replay uses its log's snapshot).
    """
    manifest = manifest or load_manifest(project)
    provider, model, n = _check_request(stage, mode, manifest, provider, candidates)
    scene_refs, style_refs, character_refs, guide, warnings = _check_inputs(
        project, stage, manifest, scenes
    )
    n_images = 1 + len(style_refs) + len(character_refs)
    template, source = _prompt_template(project, stage, manifest)
    variables = _variables(project, stage, manifest, variation, guide)
    postprocess = load_postprocess(project)
    jobs = []
    for index, scene in enumerate(scene_refs):
        prompt = render_prompt(template, {**variables, "scene": scene.key}, source)
        usd = estimate_job(JobEstimate(manifest, provider, model, prompt, n_images, n, postprocess))
        jobs.append(PlannedJob(index, scene.key, stage_input(project, stage, scene), prompt, usd))
    total = sum((job.estimate_usd for job in jobs), Decimal(0))
    problem = key_problem(project, provider)
    if problem and mode == "run":
        raise GuardError(problem, code="no_key", field="provider")
    if problem:
        warnings = [*warnings, f"{problem} Confirming this plan is refused until then."]
    if mode == "run" and total > 0 and not confirm_spend:
        raise GuardError(
            f"This run would cost about ${total:.2f} ({len(jobs)} jobs x {n} candidates, {model}). "
            "Confirm the spend to run it (--confirm-spend), or do a dry run first."
        )
    return Plan(
        project=project,
        stage=stage,
        mode=mode,
        provider=provider,
        model=model,
        candidates=n,
        manifest=manifest,
        style_refs=style_refs,
        character_refs=character_refs,
        jobs=jobs,
        estimate_usd=total,
        prices_estimated=prices_are_estimates(provider_class(provider), model),
        variation=variation,
        postprocess=postprocess,
        warnings=warnings,
    )


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
            input_asset_id=job.input.asset_id,
            prompt=job.prompt,
            status=RunJob.Status.PLANNED if plan.mode == "dry" else RunJob.Status.QUEUED,
            input_path=job.input.path,
            input_source=job.input.source,
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
        "character_refs": [asdict(r) for r in plan.character_refs],
        "generation": plan.manifest["generation"],
    }
