"""Errors that carry a message for the user; anything else is a bug and keeps its traceback."""

from __future__ import annotations

from kroma.lib.errors import UserError


class PipelineError(UserError):
    """Expected failure with a user-facing message (what happened and what to do)."""

    code = "pipeline_error"


class GuardError(PipelineError):
    """A run was refused before any money was spent."""

    code = "guard"


class ProviderError(PipelineError):
    """The image provider failed or refused; `retryable` says whether trying again may help."""

    code = "provider_error"

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class QAFailed(PipelineError):
    """Every candidate failed the QA guard; they are kept in the run's archive."""

    code = "qa_failed"


class JobCanceled(Exception):
    """The work item was canceled; it stops at this step boundary."""


class LeaseLost(Exception):
    """Another worker owns this item now (our lease expired); stop without writing."""
