"""Errors that carry a message for the user; anything else is a bug and keeps its traceback."""

from __future__ import annotations


class PipelineError(Exception):
    """Expected failure with a user-facing message (what happened and what to do)."""


class GuardError(PipelineError):
    """A run was refused before any money was spent."""


class ProviderError(PipelineError):
    """The image provider failed or refused; `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class JobCanceled(PipelineError):
    """The run was canceled; the job stops at this step boundary."""


class LeaseLost(PipelineError):
    """Another worker owns this job now (our lease expired); stop without writing."""
