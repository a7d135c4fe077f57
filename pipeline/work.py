"""Every kind of work the engine runs, each one model plus its explicit list of steps.

Adding a kind of work is one WorkType here plus one line in WORK_TYPES; the runner, the
sweeper, step rows and crash recovery come with it (pipeline.engine).
"""

from __future__ import annotations

from typing import Any

from pipeline import delivery, engine
from pipeline.models import (
    LAB_JOB,
    POSTPROCESS_JOB,
    RUN_JOB,
    LabJob,
    PostprocessJob,
    Run,
    RunJob,
)
from pipeline.models.work import EXPORT_JOB
from pipeline.services import execute, exports, lab, steps
from pipeline.services import postprocess as pp
from projects.models import ProjectExport

RUN_JOBS = engine.WorkType(
    name=RUN_JOB,
    model=RunJob,
    steps=steps.job_steps,
    context=lambda job: steps.JobContext(run=job.run, job=job),
    canceled=lambda job: Run.objects.filter(pk=job.run_id, status=Run.Status.CANCELED).exists(),
    requeue=execute.requeue_jobs,
    finished=lambda job: execute.finalize_run(job.run_id),
    lost_paid_call=execute.record_unconfirmed_call,
    select_related=("run__project__storage",),
)

LAB_JOBS = engine.WorkType(
    name=LAB_JOB,
    model=LabJob,
    steps=lambda: [engine.FnStep("process", lab.process)],
    context=lab.LabContext,
    canceled=lambda job: False,
    requeue=lambda jobs: [lab.enqueue_lab_job(job) for job in jobs],
    lost_paid_call=lab.record_unconfirmed_lab_call,
    project_id=lambda job: None,
    task="pipeline.tasks.lab_task",
)

POSTPROCESS_JOBS = engine.WorkType(
    name=POSTPROCESS_JOB,
    model=PostprocessJob,
    steps=lambda: [engine.FnStep("postprocess", pp.run_pass_step)],
    context=pp.PassContext,
    requeue=lambda items: [pp.enqueue_pass(item) for item in items],
    finished=pp.pass_finished,
    lost_paid_call=execute.record_unconfirmed_call,
    select_related=("job__run__project__storage",),
    task="pipeline.tasks.postprocess_task",
)

EXPORT_JOBS = engine.WorkType(
    name=EXPORT_JOB,
    model=ProjectExport,
    steps=lambda: [engine.FnStep("build", exports.build_step)],
    context=exports.ExportContext,
    requeue=lambda items: [exports.enqueue_export(item) for item in items],
    select_related=("project__storage",),
    task="pipeline.tasks.export_task",
)

WORK_TYPES: dict[str, engine.WorkType] = {
    work.name: work for work in (RUN_JOBS, LAB_JOBS, POSTPROCESS_JOBS, EXPORT_JOBS)
}


def sweep_all() -> dict[str, Any]:
    """The one sweeper: every type's stranded items, queued items no task delivers any more,
    then runs left unsettled."""
    counts = {name: engine.sweep(work) for name, work in WORK_TYPES.items()}
    totals = {key: sum(c[key] for c in counts.values()) for key in ("requeued", "failed")}
    redelivered = delivery.redeliver(WORK_TYPES.values())
    return {
        **totals,
        "redelivered": sum(redelivered.values()),
        "finalized": execute.settle_stuck_runs(),
        "by_type": counts,
    }
