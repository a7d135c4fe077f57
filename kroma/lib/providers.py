"""The provider registry: every service Kroma can call, by name, as data.

Image providers make a run's candidates (their class lives in pipeline.providers and follows
pipeline.providers.base.Provider); services are paid post-processing back ends. Forms, the
manifest rules, planning, steps, credentials, the Lab, commands and the admin all read this
list, so a new provider is its class plus one line here (or one `register()` call).
Data only, no Django models: `projects` reads it too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    label: str
    paid: bool
    kind: str  # "image": makes candidates; "service": a post-processing back end
    implementation: str = ""  # dotted path of the image provider's class
    key_env: str = ""  # the server-wide key's environment variable ("" = needs no key)
    url_env: str = ""  # the server-wide base URL's environment variable

    @property
    def choice_label(self) -> str:
        return f"{self.label} (paid)" if self.paid else self.label


PROVIDERS: dict[str, ProviderSpec] = {}


def register(spec: ProviderSpec) -> ProviderSpec:
    PROVIDERS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    PROVIDERS.pop(name, None)


def image_providers() -> list[ProviderSpec]:
    return [spec for spec in PROVIDERS.values() if spec.kind == "image"]


def provider_choices(kind: str | None = None) -> list[tuple[str, str]]:
    return [(s.name, s.choice_label) for s in PROVIDERS.values() if kind in (None, s.kind)]


def get_spec(name: str) -> ProviderSpec | None:
    return PROVIDERS.get(name)


register(
    ProviderSpec(
        "openai",
        "OpenAI",
        paid=True,
        kind="image",
        implementation="pipeline.providers.openai_images.OpenAIProvider",
        key_env="OPENAI_API_KEY",
        url_env="OPENAI_BASE_URL",
    )
)
register(
    ProviderSpec(
        "local",
        "local (no AI, offline)",
        paid=False,
        kind="image",
        implementation="pipeline.providers.local.LocalProvider",
    )
)
register(
    ProviderSpec(
        "photoroom",
        "PhotoRoom",
        paid=True,
        kind="service",
        key_env="PHOTOROOM_API_KEY",
        url_env="PHOTOROOM_BASE_URL",
    )
)
register(
    ProviderSpec(
        "removebg",
        "remove.bg",
        paid=True,
        kind="service",
        key_env="REMOVE_BG_API_KEY",
        url_env="REMOVE_BG_BASE_URL",
    )
)
