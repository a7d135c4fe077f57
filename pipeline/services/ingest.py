"""Ingesting a run log sent by a user (the API): the rows, and the audit event saying who."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from pipeline.models import Run
from pipeline.runlog import ingest_run_log
from projects.models import Project
from projects.services.records import audit


def ingest_log(
    *, project: Project, user: AbstractBaseUser | None, data: dict[str, Any]
) -> tuple[Run, bool]:
    """Rows from a run log, into `project` (whatever project the log names); returns (run,
    created). Re-ingesting the same log adds nothing and audits nothing. A bad log raises
    RunLogError whose field is the JSON path of the first problem."""
    run, created = ingest_run_log(data, project=project)
    if created:
        audit(project, user, "run.ingested", run.uid, stage=run.stage, mode=run.mode)
    return run, created
