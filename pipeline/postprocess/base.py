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
    log: list[dict[str, Any]] = field(default_factory=list)

    def charge(
        self, *, provider: str, model: str, operation: str, usd: Decimal, units: dict, key: str
    ) -> None:
        if self.record_cost is not None:
            self.record_cost(
                provider=provider, model=model, operation=operation, usd=usd, units=units, key=key
            )


class Step(Protocol):
    name: str
    paid: bool

    def able_to_run(self, artifact: Artifact, params: dict[str, Any]) -> bool: ...

    def run(
        self, artifact: Artifact, params: dict[str, Any], ctx: ChainContext
    ) -> tuple[bytes, dict]: ...


STEP_VERSION = 1  # bump to invalidate every stored output when step code changes meaning


def step_key(step: str, source_sha256: str, params: dict[str, Any]) -> str:
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{step}:{STEP_VERSION}:{source_sha256}:{canonical}".encode()).hexdigest()
