"""Image providers: OpenAI (gpt-image edits) and a local offline stylisation."""

from __future__ import annotations

from pipeline.providers.base import GenerationRequest, GenerationResult, Provider


def get_provider(name: str, *, api_key: str | None = None, base_url: str | None = None) -> Provider:
    if name == "openai":
        from pipeline.providers.openai_images import OpenAIProvider

        return OpenAIProvider(api_key=api_key, base_url=base_url)
    if name == "local":
        from pipeline.providers.local import LocalProvider

        return LocalProvider()
    raise ValueError(f"unknown provider {name!r}")


__all__ = ["GenerationRequest", "GenerationResult", "Provider", "get_provider"]
