"""Migration 0006 carries the work state that main kept as JSON into columns and step rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from pipeline.models import LabJob, RunJob, StepRun
from pipeline.runlog import build_run_log

BEFORE = [("projects", "0004_one_stage_list"), ("pipeline", "0004_lab_started_at")]

# What main wrote into RunJob.details for a done job, a failed one and one that crashed.
DONE = {
    "input": {"key": "harbor", "path": "assets/scene_ref/aa/a.png", "asset_id": None,
              "source": "scene_ref"},
    "estimate_usd": "0.1270",
    "provider_calls": [{"provider": "openai", "model": "gpt-image-1", "usd": "0.12",
                        "answer": "runs/r/jobs/000/answer_01_ab.json"}],
    "timings": {"generate": 3.2, "qa": 0.1, "select": 0.01, "postprocess": 0.5},
    "ranking": [1, 0],
    "selection_override": {"by": "artist", "from": 1, "to": 0},
    "postprocess": [{"step": "color", "input_sha256": "ab" * 32, "key": "cd" * 32,
                     "duration_s": 0.4, "output_sha256": "ef" * 32}],
}  # fmt: skip
FAILED = {"input": {"path": "x.png"}, "errors": [{"step": "qa", "error": "all failed QA"}],
          "timings": {"generate": 1.0}}  # fmt: skip
CRASHED = {"errors": [{"step": "generate", "error": "internal error (KeyError: 'x')",
                       "traceback": "Traceback ..."}]}  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_work_state_json_becomes_columns_and_step_rows(django_user_model):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    user = old.get_model("auth", "User").objects.create(username="legacy")
    project = old.get_model("projects", "Project").objects.create(
        slug="legacy", name="Legacy", owner_id=user.pk
    )
    final = old.get_model("projects", "Asset").objects.create(
        project=project,
        kind="derived",
        path="derived/color/cd/x.png",
        sha256="ef" * 32,
        size_bytes=10,
        width=1,
        height=1,
        mime="image/png",
    )
    Run = old.get_model("pipeline", "Run")
    run = Run.objects.create(project=project, uid="run_legacy", stage="style", mode="run")
    Run.objects.create(
        project=project, uid="run_stuck_plan", stage="style", mode="dry", confirmed_as="\u2026"
    )
    OldJob = old.get_model("pipeline", "RunJob")
    details = [
        {**DONE, "final_asset": {"id": final.pk, "path": final.path}},
        FAILED,
        CRASHED,
    ]
    statuses = ["done", "failed", "failed"]
    errors = ["", "qa: all failed QA", "generate: internal error (KeyError: 'x')"]
    for index, (data, status, error) in enumerate(zip(details, statuses, errors, strict=True)):
        OldJob.objects.create(
            project=project,
            run=run,
            index=index,
            scene_key="harbor",
            status=status,
            error=error,
            attempts=1,
            details=data,
        )
    old.get_model("pipeline", "LabJob").objects.create(
        user_id=user.pk, operation="generate", status="queued", params={"prompt": "x"}
    )
    old.get_model("pipeline", "LabJob").objects.create(
        user_id=user.pk,
        operation="color",
        status="done",
        inputs=[{"name": "a.png", "file": "in_0.png"}, {"name": "b.png", "file": "in_1.png"}],
        outputs=[{"input": 0, "file": "out_0.png", "log": []}, {"input": 1, "error": "bad"}],
    )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    done, failed, crashed = RunJob.objects.filter(run__uid="run_legacy").order_by("index")
    assert done.final_asset_id == final.pk
    assert done.input_path == "assets/scene_ref/aa/a.png" and str(done.estimate_usd) == "0.1270"
    assert (failed.status, failed.error_code) == ("failed", "pipeline_error")
    assert (crashed.status, crashed.error_code) == ("errored", "internal")
    entry = build_run_log(done.run)["jobs"][0]
    assert entry["provider_calls"][0]["usd"] == "0.12"
    assert entry["timings_s"] == DONE["timings"]
    assert entry["ranking"] == [1, 0]
    assert entry["selection_override"] == DONE["selection_override"]
    assert entry["postprocess"][0]["key"] == "cd" * 32
    assert entry["final_asset"] == {"id": final.pk, "path": final.path}
    assert StepRun.objects.get(item_id=str(failed.pk), step="qa").status == "failed"
    from pipeline.models import Run

    assert Run.objects.get(uid="run_stuck_plan").confirmed_as == ""  # confirmable again
    assert LabJob.objects.get(operation="generate").max_attempts == 1
    lab = LabJob.objects.get(operation="color")
    results = StepRun.objects.filter(item_type="lab_job", item_id=str(lab.pk)).order_by("pk")
    assert [(r.subject, r.status, r.output_file) for r in results] == [
        ("0", "done", "out_0.png"),
        ("1", "failed", ""),
    ]


STORY_BEFORE = [("projects", "0005_story_text_limits"), ("pipeline", "0009_candidate_override")]


@pytest.mark.django_db(transaction=True)
def test_scene_references_become_panels_and_old_jobs_point_at_them(django_user_model):
    from projects.models import Panel

    executor = MigrationExecutor(connection)
    executor.migrate(STORY_BEFORE)
    old = executor.loader.project_state(STORY_BEFORE).apps
    user = old.get_model("auth", "User").objects.create(username="legacy")
    project = old.get_model("projects", "Project").objects.create(
        slug="legacy", name="Legacy", owner_id=user.pk
    )
    Asset = old.get_model("projects", "Asset")
    for name, (w, h) in (("car.png", (960, 540)), ("door.png", (448, 640)), ("car.jpg", (64, 64))):
        Asset.objects.create(
            project=project,
            kind="scene_ref",
            path=f"assets/scene_ref/{name}",
            sha256=name.ljust(64, "0"),
            size_bytes=1,
            width=w,
            height=h,
            mime="image/png",
            metadata={"original_name": name},
        )
    run = old.get_model("pipeline", "Run").objects.create(
        project=project, uid="run_old", stage="style", mode="run"
    )
    old.get_model("pipeline", "RunJob").objects.create(
        project=project, run=run, index=0, scene_key="door", status="done"
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    panels = list(Panel.objects.filter(project_id=project.pk).select_related("page__chapter"))
    assert [(p.key, p.title, p.aspect, p.position) for p in panels] == [
        ("car", "car", "landscape", 1),
        ("door", "door", "portrait", 2),
        ("car-2", "car", "square", 3),
    ]
    assert {(p.page.chapter.position, p.page.position) for p in panels} == {(1, 1)}
    assert all(p.base_asset.kind == "scene_ref" for p in panels)
    assert RunJob.objects.get(run__uid="run_old").panel == panels[1]
