"""The contract every post-processing step follows, written once.

A step has a name, says whether it can run on an input (`able_to_run`), turns input bytes into
output bytes (`run`), and has a key made of the input's sha256 and its normalised parameters,
so a step whose output already exists is skipped. A step ends the chain on purpose by raising
StopChain; any other error is recorded with its step and reason and re-raised.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from projects.models import Project


class StopChain(Exception):
    """Raised by a step to end the chain on purpose; the message says why (for the log)."""


@dataclass(frozen=True)
class Artifact:
    """An image flowing through the chain: its bytes, their hash, and where it is kept."""

    data: bytes
    sha256: str
    ref: Any = None  # an Asset in a project, a file path in the Lab


class Outputs(Protocol):
    def lookup(self, step: str, key: str) -> Artifact | None: ...

    def save(self, step: str, key: str, data: bytes, source: Artifact, notes: dict) -> Artifact: ...


@dataclass
class ChainContext:
    outputs: Outputs
    project: Project | None = None
    # provider name -> (api key, base URL); see pipeline.services.credentials
    credentials: Callable[[str], tuple[str | None, str | None]] = lambda provider: (None, None)
    confirm_spend: bool = False
    record_cost: Callable[..., None] | None = None
    # Called before a step that may cost money, with (step, estimate); returns a function
    # called with the error (or None) once the step has ended: the intent row of a paid call.
    begin_paid: Callable[[str, Decimal], Callable[[BaseException | None], None]] | None = None
    log: list[dict[str, Any]] = field(default_factory=list)

    def charge(
        self, *, provider: str, model: str, operation: str, usd: Decimal, units: dict, key: str
    ) -> None:
        if self.record_cost is not None:
            self.record_cost(
                provider=provider, model=model, operation=operation, usd=usd, units=units, key=key
            )


class ChainStep:
    """The contract of a post-processing step, with the defaults most steps keep.

    A step says who it is (`name`, `label`, `paid`, whether the Lab offers it), its settings
    (`defaults`, and `rules` that check them: postprocess.json and project overrides are
    validated with these, errors naming the JSON path), which parameters form its key
    (`key_params`), what it may cost per image (`estimate`), whether it can run on an input
    (`able_to_run`) and the work itself (`run`). Adding a step is one such class plus one line
    in `chain.CHAIN`.
    """

    name: str = ""
    label: str = ""
    paid: bool = False
    in_lab: bool = True
    defaults: dict[str, Any] = {"enabled": False}
    rules: dict[str, Callable[[Any], Any]] = {}

    def key_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters that decide the output (never `enabled`)."""
        return {k: v for k, v in params.items() if k != "enabled"}

    def estimate(self, params: dict[str, Any]) -> Decimal:
        return Decimal(0)

    def able_to_run(self, artifact: Artifact, params: dict[str, Any]) -> bool:
        return True

    def run(
        self, artifact: Artifact, params: dict[str, Any], ctx: ChainContext
    ) -> tuple[bytes, dict]:
        raise NotImplementedError


Step = ChainStep


STEP_VERSION = 1  # bump to invalidate every stored output when step code changes meaning


def step_key(step: str, source_sha256: str, params: dict[str, Any]) -> str:
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{step}:{STEP_VERSION}:{source_sha256}:{canonical}".encode()).hexdigest()
