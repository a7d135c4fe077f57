from __future__ import annotations

import json
import shutil

import pytest
from django.conf import settings

from pipeline.config import ConfigError, load_manifest, load_prices

pytestmark = pytest.mark.django_db


@pytest.fixture
def settings_copy(settings, tmp_path):
    target = tmp_path / "settings"
    shutil.copytree(settings.BASE_DIR / "settings", target)
    settings.PIPELINE_SETTINGS_DIR = target
    return target


def _edit(path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_shipped_manifest_and_prices_are_valid():
    manifest = load_manifest()
    assert manifest["generation.model"] == "gpt-image-1"
    assert manifest["safe_batch_limit"] == 20
    assert manifest["generation.max_candidates"] == 6
    for model in ("gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2"):
        assert load_prices(model).per_image["medium"]["1024x1024"] > 0


def test_project_override_out_of_range_names_the_path(project):
    project.manifest_overrides = {"generation": {"max_candidates": 9}}
    with pytest.raises(ConfigError) as excinfo:
        load_manifest(project)
    assert str(excinfo.value) == (
        "project noir_city manifest overrides: generation.max_candidates: must be 1..6, got 9"
    )


def test_project_override_unknown_key_is_refused(project):
    project.manifest_overrides = {"genration": {}}
    with pytest.raises(ConfigError, match="genration: unknown key"):
        load_manifest(project)


def test_warn_only_takes_qa_rule_names_and_refuses_others(project):
    assert load_manifest()["output_guard.warn_only"] == []
    project.manifest_overrides = {"output_guard": {"warn_only": ["size", "blank"]}}
    assert load_manifest(project)["output_guard.warn_only"] == ["size", "blank"]
    project.manifest_overrides = {"output_guard": {"warn_only": ["size", "colour"]}}
    with pytest.raises(ConfigError) as excinfo:
        load_manifest(project)
    assert str(excinfo.value) == (
        "project noir_city manifest overrides: output_guard.warn_only: "
        'unknown "colour"; known: blank, grayscale, size'
    )
    project.manifest_overrides = {"output_guard": {"warn_only": "size"}}
    with pytest.raises(ConfigError, match=r"output_guard\.warn_only: must be a list of names"):
        load_manifest(project)


def test_project_override_merges_deeply(project):
    project.manifest_overrides = {"generation": {"model": "gpt-image-1-mini"}}
    manifest = load_manifest(project)
    assert manifest["generation.model"] == "gpt-image-1-mini"
    assert manifest["generation.quality"] == "medium"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["generation"].update(model="dall-e-9"), "generation.model: must be one of"),
        (
            lambda d: d["output_guard"].update(enforce_grayscale="yes"),
            "output_guard.enforce_grayscale: must be true or false",
        ),
        (lambda d: d.update(safe_batch_limit=0), "safe_batch_limit: must be 1..1000, got 0"),
        (lambda d: d["prompts"].pop("weather"), "prompts.weather: is missing"),
        (
            lambda d: d["policy"].update(allowed_style_roots="assets"),
            "policy.allowed_style_roots: must be a list",
        ),
    ],
)
def test_invalid_manifest_file_names_file_path_and_reason(settings_copy, change, message):
    _edit(settings_copy / "manifest.json", change)
    with pytest.raises(ConfigError) as excinfo:
        load_manifest()
    assert str(excinfo.value).startswith(f"{settings_copy / 'manifest.json'}: ")
    assert message in str(excinfo.value)


def test_malformed_manifest_json_says_where(settings_copy):
    (settings_copy / "manifest.json").write_text('{"safe_batch_limit": 20,\n  oops}')
    with pytest.raises(ConfigError, match=r"not valid JSON \(line 2"):
        load_manifest()


def test_pricing_without_the_model_is_an_error(settings_copy):
    _edit(settings_copy / "pricing.json", lambda d: d["models"].pop("gpt-image-1"))
    with pytest.raises(ConfigError, match=r"models\.gpt-image-1: no prices for this model"):
        load_prices("gpt-image-1")


def test_settings_dir_default_is_the_repository_settings_folder():
    assert settings.PIPELINE_SETTINGS_DIR == settings.BASE_DIR / "settings"


def test_timeouts_that_cannot_fit_a_worker_task_are_refused(project):
    project.manifest_overrides = {"generation": {"timeout_s": 600, "max_retries": 5}}
    with pytest.raises(ConfigError, match="more than half the worker's task timeout"):
        load_manifest(project)


def test_a_bad_price_names_the_real_file_and_the_json_path(settings_copy):
    _edit(
        settings_copy / "pricing.json",
        lambda d: d["models"]["gpt-image-1"].update(per_image="cheap"),
    )
    with pytest.raises(ConfigError) as excinfo:
        load_prices("gpt-image-1")
    assert str(excinfo.value) == (
        f"{settings_copy / 'pricing.json'}: models.gpt-image-1.per_image: must be an object of "
        'quality -> size -> price, got "cheap"'
    )


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("folder", "is a folder, not a JSON file"),
        ("latin1", "not UTF-8 text"),
        ("list", "must be a JSON object"),
    ],
)
def test_a_broken_manifest_is_named_on_new_run_instead_of_no_scenes(
    settings_copy, artist_client, scene_project, breakage, message
):
    path = settings_copy / "manifest.json"
    path.unlink()
    if breakage == "folder":
        path.mkdir()
    elif breakage == "latin1":
        path.write_bytes('{"note": "café"}'.encode("latin-1"))
    else:
        path.write_text("[]")
    page = artist_client.get(f"/projects/{scene_project.slug}/runs/new/")
    body = page.content.decode()
    assert page.status_code == 200
    assert f"{path}: {message}" in body and "no scenes yet" not in body


def test_a_broken_price_list_leaves_the_free_lab_tools_working(settings_copy, artist_client):
    (settings_copy / "pricing.json").write_text("{broken")
    page = artist_client.get("/lab/")
    assert page.status_code == 200
    assert "Generate is unavailable until the prices can be read" in page.content.decode()
    assert "pricing.json: not valid JSON" in page.content.decode()


def test_a_broken_colour_file_is_named(settings_copy):
    from pipeline.postprocess.config import load_color_profiles

    _edit(settings_copy / "color-correction.json", lambda d: d.update(profiles=[]))
    with pytest.raises(ConfigError, match=f"^{settings_copy / 'color-correction.json'}: profiles"):
        load_color_profiles()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"generation": {"max_candidates": 9}}, "generation.max_candidates: must be 1..6, got 9"),
        ({"output_guard": {"min_std": -1}}, "output_guard.min_std: must be a number in 0..128"),
        ({"generation": {"bogus": 1}}, "generation.bogus: unknown key; known here:"),
        ({"generation": "fast"}, "generation: must be an object (of candidates, "),
        ({"nonsense": True}, "nonsense: unknown key"),
        ({"postprocess": {"upscale": {"scale": 3}}}, "upscale.scale"),
        ({"generation": {"provider": "dalle"}}, "generation.provider: must be one of"),
        ([1, 2], "must be an object"),
    ],
)
def test_bad_manifest_overrides_are_refused_when_saved(project, overrides, message):
    from django.core.exceptions import ValidationError

    project.manifest_overrides = overrides
    with pytest.raises(ValidationError) as excinfo:
        project.full_clean()
    assert message in excinfo.value.message_dict["manifest_overrides"][0]


def test_the_admin_shows_a_bad_override_on_the_form_and_saves_nothing(admin_client, project):
    url = f"/admin/projects/project/{project.pk}/change/"
    form = {
        "slug": project.slug,
        "name": project.name,
        "owner": project.owner_id,
        "manifest_overrides": json.dumps({"generation": {"max_candidates": 9}}),
    }
    response = admin_client.post(url, form)
    assert response.status_code == 200
    assert "generation.max_candidates: must be 1..6, got 9" in response.content.decode()
    project.refresh_from_db()
    assert project.manifest_overrides == {}


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "C:/x.png", "a\\\\b.png"])
def test_overrides_with_a_path_leaving_the_project_cannot_be_saved(project, path):
    from django.core.exceptions import ValidationError

    project.manifest_overrides = {"style_refs": [path]}
    with pytest.raises(ValidationError, match="style_refs"):
        project.full_clean()
