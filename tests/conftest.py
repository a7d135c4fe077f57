from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from PIL import Image

from projects.models import Project
from projects.services.projects import create_project

TEST_MASTER_KEY = Fernet.generate_key().decode()


def pytest_configure() -> None:
    # Browser assertions wait up to 15 s (Playwright's default is 5): a loaded two-core CI
    # machine running both database passes can take longer than 5 s to swap a partial.
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)

    # Tests render templates without running collectstatic first.
    django_settings.STORAGES = {
        **django_settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # whitenoise looks for STATIC_ROOT at start-up; a fresh clone has none until collectstatic.
    Path(django_settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    # Each test run starts with an empty cache (login throttling counts live there).
    django_settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }
    # Real hashing costs a second per user; tests are not about password strength.
    django_settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _isolated_files(settings, tmp_path, monkeypatch) -> None:
    """Each test gets its own project files and master key; nothing touches var/."""
    settings.PROJECTS_ROOT = tmp_path / "projects"
    settings.MASTER_KEY_FILE = tmp_path / "master.key"
    monkeypatch.setenv("IAT_MASTER_KEY", TEST_MASTER_KEY)


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("artist", password="pw-artist-123")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user("stranger", password="pw-stranger-123")


@pytest.fixture
def project(user) -> Project:
    return create_project(owner=user, name="Noir City", slug="noir_city")


@pytest.fixture
def other_project(other_user) -> Project:
    return create_project(owner=other_user, name="Secret World", slug="secret_world")


@pytest.fixture
def artist_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def make_png() -> Callable[..., bytes]:
    def make(width: int = 64, height: int = 48, mode: str = "RGB", fmt: str = "PNG") -> bytes:
        image = Image.linear_gradient("L").resize((width, height)).convert(mode)
        out = io.BytesIO()
        image.save(out, fmt)
        return out.getvalue()

    return make


@pytest.fixture
def fake_openai(monkeypatch):
    from tests.fake_openai import FakeOpenAI

    server = FakeOpenAI().start()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-fake-key-0000")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    yield server
    server.stop()


NO_POSTPROCESS = {step: {"enabled": False} for step in ("bg_remove", "refine", "upscale", "color")}
FAST_RETRIES = {
    "generation": {"retry_base_s": 0.01, "timeout_s": 5, "concurrency": 1},
    "postprocess": NO_POSTPROCESS,
}


@pytest.fixture
def scene_project(project, make_png):
    """A project ready to run: three panels (harbor, alley, rooftop; 96x64 base images) and a
    style guide with two references."""
    from projects.models import Asset, StyleGuide, StyleReference
    from projects.services.assets import store_image
    from projects.services.story import panels_from_uploads

    scenes = []
    for i, name in enumerate(["harbor", "alley", "rooftop"]):
        image = Image.linear_gradient("L").rotate(40 * i).resize((96, 64)).convert("RGB")
        out = io.BytesIO()
        image.save(out, "PNG")
        scenes.append(
            store_image(
                project=project, data=out.getvalue(), kind=Asset.Kind.SCENE_REF, name=f"{name}.png"
            )
        )
    # "auto": the free local provider answers at the base image's small size, which keeps
    # post-processing tests fast (tests that need a shape set the aspect).
    for panel in panels_from_uploads(project=project, actor=None, assets=scenes):
        panel.aspect = "auto"
        panel.save(update_fields=["aspect"])
    guide = StyleGuide.objects.create(project=project, slug="ink", name="Ink", rules="Ink lines.")
    for i in range(2):
        asset = store_image(
            project=project,
            data=make_png(48 + i, 48),
            kind=Asset.Kind.STYLE_REF,
            name=f"ink{i}.png",
        )
        StyleReference.objects.create(style_guide=guide, asset=asset, position=i)
    project.manifest_overrides = FAST_RETRIES
    project.save()
    return project


def local_run(project, user, **options):
    """A real run with the free local provider (the shape most pipeline tests need)."""
    from pipeline.services.runs import submit_run

    defaults = {"stage": "style", "provider": "local", "mode": "run", "dispatch": "inline"}
    return submit_run(project=project, user=user, **{**defaults, **options})
