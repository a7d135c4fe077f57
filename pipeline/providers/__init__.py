"""Image providers, looked up by name in the registry (kroma.lib.providers).

Each provider class follows `base.Provider`: it generates, estimates a planned request and
prices an answer. Planning, steps, forms and commands only ever go through these functions.
"""

from __future__ import annotations

from django.utils.module_loading import import_string

from kroma.lib.providers import get_spec, image_providers
from pipeline.errors import GuardError
from pipeline.providers.base import GenerationRequest, GenerationResult, Provider


def provider_class(name: str) -> type[Provider]:
    spec = get_spec(name)
    if spec is None or spec.kind != "image":
        known = ", ".join(s.name for s in image_providers())
        raise GuardError(f"Unknown provider {name!r}; providers: {known}.", field="provider")
    return import_string(spec.implementation)


def prices_are_estimates(cls: type[Provider], model: str) -> bool:
    """Whether the provider's prices for `model` are our estimates, not published ones
    (optional: `prices_estimated(model)` on the class)."""
    check = getattr(cls, "prices_estimated", None)
    return bool(check(model)) if check else False


def get_provider(name: str, *, project=None) -> Provider:
    """The provider, with the key and endpoint that `project` uses (see credentials)."""
    from pipeline.services.credentials import credentials

    cls = provider_class(name)
    spec = get_spec(name)
    key, base_url = credentials(project, name) if spec and spec.key_env else (None, None)
    return cls(api_key=key, base_url=base_url)


__all__ = ["GenerationRequest", "GenerationResult", "Provider", "get_provider", "provider_class"]
