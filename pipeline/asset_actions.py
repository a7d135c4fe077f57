"""The asset browser's pipeline actions on a selection: export it (a zip), post-process it
again with chosen steps, or apply a colour profile. Registered with the browser's bulk actions
(projects.services.asset_actions) when the pipeline app starts."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from kroma.lib.errors import UserError
from kroma.lib.ids import parse_ids
from pipeline.models import ACTIVE_STATUSES, Run, RunCandidate, RunJob
from pipeline.postprocess.chain import chain_steps
from pipeline.postprocess.config import load_color_profiles
from pipeline.services.exports import request_export
from pipeline.services.postprocess import chain_config
from pipeline.services.runs import new_pass
from projects.models import Project
from projects.services.asset_actions import BulkAction, register_bulk_action
from projects.services.records import audit


def export_selection(
    *, project: Project, user: AbstractBaseUser | None, asset_ids: list[int], choices: list[str]
) -> str:
    export = request_export(project=project, user=user, kind="zip", options={"assets": asset_ids})
    return (
        f"Export {export.pk} is queued: a zip of {len(asset_ids)} image(s). "
        "It is listed on the Export page when it is ready."
    )


def postprocess_assets(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    asset_ids: list[int],
    steps: list[str],
    overrides: dict[str, Any] | None = None,
) -> str:
    """Post-process the selected images that are a finished run's pick again, with `steps` (one
    PostprocessJob each, run by the workers). Other images are left alone and counted.

    Paid steps are refused here: a bulk action has no spend confirmation, so they would only
    fail later in the worker. The run page (post-process a run) and the Lab confirm the spend.
    """
    known = [step.name for step in chain_steps()]
    if not steps or any(step not in known for step in steps):
        raise UserError(f"Choose steps among {', '.join(known)}.", field="steps")
    config = chain_config(project, overrides)
    _refuse_paid_steps(config, steps)
    ids = set(parse_ids(asset_ids, field="assets", what="images"))
    jobs = list(
        RunJob.objects.filter(
            project=project,
            run__mode=Run.Mode.RUN,
            candidates__selected=True,
            candidates__asset_id__in=ids,
        )
        .exclude(status__in=ACTIVE_STATUSES)
        .select_related("run", "project")
        .distinct()
    )
    if not jobs:
        raise UserError(
            "None of these images is a finished run's pick: only picks are post-processed "
            "here (the Lab works on any image).",
            field="assets",
        )
    with transaction.atomic():
        items = [
            new_pass(job=job, config=config, only=steps, confirm_spend=False, user=user)
            for job in jobs
        ]
        audit(
            project,
            user,
            "asset.postprocess",
            ",".join(str(i.pk) for i in items)[:200],
            assets=sorted(ids),
            steps=steps,
            passes=[i.pk for i in items],
        )
    picked = set(
        RunCandidate.objects.filter(job__in=jobs, selected=True, asset_id__in=ids).values_list(
            "asset_id", flat=True
        )
    )
    others = len(ids - picked)
    skipped = (
        f" {others} other image(s) are not a run's pick and were left alone." if others else ""
    )
    return f"Queued {len(items)} post-processing pass(es) ({', '.join(steps)}).{skipped}"


def _refuse_paid_steps(config: dict[str, Any], steps: list[str]) -> None:
    paid = [s.label for s in chain_steps() if s.name in steps and s.estimate(config[s.name]) > 0]
    if paid:
        raise UserError(
            f"{', '.join(paid)}: a paid step, which a bulk action cannot confirm. Leave it out, "
            "or post-process the run from its page (confirming the spend) or use the Lab.",
            field="steps",
        )


def _postprocess(*, project: Project, user: Any, asset_ids: list[int], choices: list[str]) -> str:
    return postprocess_assets(project=project, user=user, asset_ids=asset_ids, steps=choices)


def _colour(*, project: Project, user: Any, asset_ids: list[int], choices: list[str]) -> str:
    profile = choices[0] if choices else ""
    if profile not in load_color_profiles():
        raise UserError("Choose one of the colour profiles.", field="profile")
    overrides = {"color": {"enabled": True, "profile": profile}}
    return postprocess_assets(
        project=project, user=user, asset_ids=asset_ids, steps=["color"], overrides=overrides
    )


def register() -> None:
    register_bulk_action(BulkAction("export", "Export (zip)", export_selection))
    register_bulk_action(
        BulkAction(
            "postprocess",
            "Post-process…",
            _postprocess,
            choices=lambda project: [(s.name, s.label) for s in chain_steps()],
            choice_label="Steps",
            multiple=True,
        )
    )
    register_bulk_action(
        BulkAction(
            "colour",
            "Colour profile…",
            _colour,
            choices=lambda project: [(name, name) for name in load_color_profiles()],
            choice_label="Profile",
        )
    )
