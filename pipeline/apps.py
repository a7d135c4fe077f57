from __future__ import annotations

from django.apps import AppConfig


class PipelineConfig(AppConfig):
    name = "pipeline"

    def ready(self) -> None:
        from django.db.models.signals import post_delete
        from django_q.signals import post_spawn

        # The asset browser's export, post-process and colour-profile bulk actions.
        from pipeline.asset_actions import register as register_asset_actions
        from pipeline.config import check_project_overrides
        from pipeline.engine import start_watchdog
        from pipeline.models import LabJob, PostprocessJob, RunJob
        from pipeline.models.work import delete_step_rows
        from pipeline.postprocess.sessions import preload_sessions, waiting_text
        from projects.models import ProjectExport
        from projects.models.base import OVERRIDE_CHECKS
        from projects.models.work_item import WAITING_TEXTS

        register_asset_actions()
        # A project's manifest overrides are checked whenever a form saves them.
        if check_project_overrides not in OVERRIDE_CHECKS:
            OVERRIDE_CHECKS.append(check_project_overrides)

        # Work items' pages say what a waiting step waits for ("loading the upscale model…").
        if waiting_text not in WAITING_TEXTS:
            WAITING_TEXTS.append(waiting_text)

        for model in (RunJob, LabJob, PostprocessJob, ProjectExport):
            post_delete.connect(delete_step_rows, sender=model, dispatch_uid=f"steps-{model}")
        # A worker process that starts loads the heavy model sessions in a background thread
        # (KROMA_PRELOAD_MODELS), takes back at once what dead workers of its host held, and
        # keeps sweeping stranded work (pipeline.engine).
        post_spawn.connect(preload_sessions, dispatch_uid="kroma-preload")
        post_spawn.connect(start_watchdog, dispatch_uid="kroma-watchdog")
