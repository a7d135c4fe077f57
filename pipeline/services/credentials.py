"""Which key and endpoint a paid provider call uses.

A project's own secret (`<provider>/api_key`) goes with its provider account's base URL. Without
a project secret, the server's key from the environment goes with the environment's base URL
(or the public endpoint): the server's key is never sent to an endpoint a project configured.
"""

from __future__ import annotations

import os

from kroma.lib.crypto import SecretKeyError
from kroma.lib.providers import get_spec
from pipeline.errors import ProviderError
from projects.models import Project, ProjectSecret, ProviderAccount


def credentials(project: Project | None, provider: str) -> tuple[str | None, str | None]:
    spec = get_spec(provider)
    if spec is None or not spec.key_env:
        return None, None
    key_var, url_var = spec.key_env, spec.url_env
    if project is None:
        return os.environ.get(key_var), os.environ.get(url_var)
    secret = ProjectSecret.objects.filter(
        project=project, provider=provider, name="api_key"
    ).first()
    account = (
        ProviderAccount.objects.filter(project=project, provider=provider, is_enabled=True)
        .exclude(base_url="")
        .first()
    )
    if secret is not None:
        try:
            key = secret.reveal()
        except SecretKeyError as exc:
            raise ProviderError(
                f"The project's {provider} key cannot be decrypted: {exc}"
            ) from None
        return key, account.base_url if account else os.environ.get(url_var)
    if account is not None:
        raise ProviderError(
            f"The project's {provider} account points at {account.base_url} but the project has "
            f"no secret {provider}/api_key: add the key for that endpoint as a project secret."
        )
    return os.environ.get(key_var), os.environ.get(url_var)


def key_problem(project: Project | None, provider: str) -> str:
    """Why `provider` cannot be used for `project` now ("" when it can): the real state."""
    spec = get_spec(provider)
    if spec is None or not spec.key_env:
        return ""
    try:
        key, _ = credentials(project, provider)
    except ProviderError as exc:
        return str(exc)
    if key:
        return ""
    return (
        f"No {spec.label} key is set up: add the project secret {provider}/api_key "
        f"(Settings → Secrets) or set {spec.key_env} on the server."
    )
