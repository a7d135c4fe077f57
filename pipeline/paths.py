"""Deterministic storage paths for run outputs, keyed by run, job and candidate."""

from __future__ import annotations

from pipeline.models import Run


def run_dir(run: Run) -> str:
    return f"runs/{run.uid}"


def run_log_path(run: Run) -> str:
    return f"{run_dir(run)}/run.json"


def job_dir(run: Run, job_index: int) -> str:
    return f"{run_dir(run)}/jobs/{job_index:03d}"


def candidate_path(run: Run, job_index: int, candidate: int) -> str:
    return f"{job_dir(run, job_index)}/c{candidate}.png"


def answer_path(run: Run, job_index: int, name: str) -> str:
    """One file per provider call; the name is unique so two workers can never overwrite."""
    return f"{job_dir(run, job_index)}/answer_{name}.json"


def archive_path(run: Run, job_index: int, candidate: int) -> str:
    return f"{run_dir(run)}/archive/jobs/{job_index:03d}/c{candidate}.png"
