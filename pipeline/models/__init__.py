"""Runs and their work state. These rows are the truth; django-q2 only delivers work."""

from pipeline.models.runs import (
    CostEvent,
    LabJob,
    PostprocessJob,
    QualityReport,
    Run,
    RunCandidate,
    RunJob,
    Stage,
    new_run_uid,
)
from pipeline.models.work import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    LAB_JOB,
    POSTPROCESS_JOB,
    RUN_JOB,
    StepRun,
    WorkerHeartbeat,
    WorkItem,
    WorkStatus,
)

__all__ = [
    "ACTIVE_STATUSES",
    "FINAL_STATUSES",
    "LAB_JOB",
    "POSTPROCESS_JOB",
    "RUN_JOB",
    "CostEvent",
    "LabJob",
    "PostprocessJob",
    "QualityReport",
    "Run",
    "RunCandidate",
    "RunJob",
    "Stage",
    "StepRun",
    "WorkItem",
    "WorkStatus",
    "WorkerHeartbeat",
    "new_run_uid",
]
