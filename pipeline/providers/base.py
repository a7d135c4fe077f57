from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol


@dataclass(frozen=True)
class InputImage:
    name: str
    data: bytes
    role: str  # "scene", "style" or "character"


@dataclass(frozen=True)
class GenerationRequest:
    model: str
    prompt: str
    images: list[InputImage]
    candidate_indices: list[int]
    size: str = "1024x1024"
    quality: str = "medium"
    input_fidelity: str = "high"
    background: str | None = None  # "transparent" asks for an alpha channel
    timeout_s: float = 180.0
    max_retries: int = 4
    retry_base_s: float = 2.0

    @property
    def n(self) -> int:
        return len(self.candidate_indices)

    def describe(self) -> dict[str, Any]:
        """Request parameters for the run log: never keys, never image bytes."""
        return {
            "model": self.model,
            "n": self.n,
            "candidate_indices": self.candidate_indices,
            "size": self.size,
            "quality": self.quality,
            "input_fidelity": self.input_fidelity,
            "images": [{"name": i.name, "role": i.role, "bytes": len(i.data)} for i in self.images],
            "prompt_chars": len(self.prompt),
        }


@dataclass
class GenerationResult:
    images: list[bytes]
    model: str
    usage: dict[str, Any] | None = None
    request_id: str | None = None
    attempts: int = 1
    duration_s: float = 0.0
    events: list[str] = field(default_factory=list)


class Provider(Protocol):
    """What an image provider does; registered by name in kroma.lib.providers."""

    name: str
    label: str
    paid: bool

    def __init__(self, *, api_key: str | None, base_url: str | None) -> None: ...

    def generate(self, request: GenerationRequest) -> GenerationResult: ...

    @classmethod
    def model_for(cls, generation: dict[str, Any]) -> str:
        """The model a run with these generation settings records."""
        ...

    @classmethod
    def estimate(
        cls, *, generation: dict[str, Any], model: str, prompt: str, images: int, candidates: int
    ) -> Decimal:
        """What one planned request is expected to cost (0 for a free provider)."""
        ...

    @classmethod
    def cost(
        cls, *, model: str, usage: dict[str, Any] | None, n: int, quality: str, size: str
    ) -> tuple[Decimal, dict[str, Any]]:
        """What an answer cost, and its billed units."""
        ...
