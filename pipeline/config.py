"""Pipeline configuration is data: settings/*.json plus per-project overrides, validated here.

Every error names the file, the JSON path and the reason, e.g.
`settings/manifest.json: generation.max_candidates: must be 1..6, got 9`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from kroma.lib.errors import UserError
from kroma.lib.providers import image_providers
from projects.models import Project, Stage

MODELS = ("gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2")
QUALITIES = ("low", "medium", "high", "auto")
SIZES = ("1024x1024", "1024x1536", "1536x1024", "auto")
STAGES = tuple(Stage.values)  # in order
FIXED_QUALITIES = tuple(q for q in QUALITIES if q != "auto")
FIXED_SIZES = tuple(s for s in SIZES if s != "auto")


class ConfigError(UserError, ValueError):
    """Invalid configuration; `str()` is the user-facing message (file, JSON path, reason)."""

    code = "config"

    def __init__(self, source: str, path: str, reason: str) -> None:
        self.source, self.path, self.reason = source, path, reason
        message = f"{source}: {path}: {reason}" if path else f"{source}: {reason}"
        super().__init__(message, field=path or None)


def settings_dir() -> Path:
    return Path(settings.PIPELINE_SETTINGS_DIR)


def read_json_file(path: Path) -> dict[str, Any]:
    label = file_label(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(label, "", "file not found") from None
    except IsADirectoryError:
        raise ConfigError(label, "", "is a folder, not a JSON file") from None
    except PermissionError:
        raise ConfigError(label, "", "cannot be read (permission denied)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(label, "", f"not UTF-8 text (byte {exc.start})") from None
    except RecursionError:
        raise ConfigError(label, "", "nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(label, "", f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise ConfigError(label, "", "must be a JSON object")
    return data


def file_label(path: Path) -> str:
    try:
        return str(path.relative_to(settings.BASE_DIR))
    except ValueError:
        return str(path)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# --- small typed checks: each returns the value or raises ValueError with the reason ----------


@dataclass(frozen=True)
class Rule:
    """A setting's check plus what a form needs to offer it (the settings page builds its
    fields from these): the kind of value, its bounds and its options. Calling it checks."""

    kind: str  # "int", "number", "choice", "bool", "text" or "list"
    check: Callable[[Any], Any]
    lo: float | None = None
    hi: float | None = None
    options: tuple[str, ...] | Callable[[], list[str]] = ()

    def __call__(self, value: Any) -> Any:
        return self.check(value)

    def choices(self) -> list[str]:
        return list(self.options() if callable(self.options) else self.options)


def _int(lo: int, hi: int) -> Rule:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(f"must be {lo}..{hi}, got {json.dumps(value)}")
        return value

    return Rule("int", check, lo, hi)


def _num(lo: float, hi: float) -> Rule:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise ValueError(f"must be a number in {lo}..{hi}, got {json.dumps(value)}")
        return float(value)

    return Rule("number", check, lo, hi)


def _choice(options: tuple[str, ...] | Callable[[], list[str]]) -> Rule:
    """One of `options` (a tuple, or a function giving the current ones, e.g. a registry)."""

    def check(value: Any) -> str:
        allowed = options() if callable(options) else options
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}; got {json.dumps(value)}")
        return value

    return Rule("choice", check, options=options)


def _image_providers() -> list[str]:
    return [spec.name for spec in image_providers()]


def _qa_rules() -> list[str]:
    from pipeline.qa import QA_RULES  # lazily: the guard pulls in OpenCV

    return list(QA_RULES)


def _names(options: Callable[[], list[str]]) -> Rule:
    """A list of names, each one of `options()` (e.g. the QA guard's rules)."""

    def check(value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"must be a list of names, got {json.dumps(value)}")
        known = options()
        unknown = [v for v in value if v not in known]
        if unknown:
            raise ValueError(
                f"unknown {', '.join(json.dumps(v) for v in unknown)}; known: {', '.join(known)}"
            )
        return value

    return Rule("list", check, options=options)


def _check_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {json.dumps(value)}")
    return value


def _check_str_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("must be a list of non-empty strings")
    return value


def _check_relative_paths(value: Any) -> list[str]:
    """Paths inside the project: no absolute path, drive, backslash or '..' (checked again,
    with the files, when a run is planned)."""
    _check_str_list(value)
    for path in value:
        if path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path) or "\\" in path:
            raise ValueError(f"{path!r} is not a relative path inside the project")
        if ".." in path.split("/"):
            raise ValueError(f"{path!r} contains '..'; paths must stay inside the project")
    return value


def _check_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be non-empty text")
    return value


_bool = Rule("bool", _check_bool)
_paths = Rule("list", _check_relative_paths)
_text = Rule("text", _check_text)


GENERATION_RULES: dict[str, Callable[[Any], Any]] = {
    "generation.provider": _choice(_image_providers),
    "generation.model": _choice(MODELS),
    "generation.max_candidates": _int(1, 6),
    "generation.candidates": _int(1, 6),
    "generation.quality": _choice(QUALITIES),
    "generation.size": _choice(SIZES),
    "generation.input_fidelity": _choice(("low", "high")),
    "generation.concurrency": _int(1, 16),
    "generation.timeout_s": _num(1, 900),
    "generation.max_retries": _int(0, 10),
    "generation.retry_base_s": _num(0, 60),
    "generation.max_input_images": _int(1, 16),
}
OUTPUT_GUARD_RULES: dict[str, Callable[[Any], Any]] = {
    "output_guard.enforce_grayscale": _bool,
    "output_guard.chroma_soft": _int(0, 255),
    "output_guard.chroma_hard": _int(0, 255),
    "output_guard.max_soft_fraction": _num(0, 1),
    "output_guard.max_hard_fraction": _num(0, 1),
    "output_guard.min_std": _num(0, 128),
    "output_guard.warn_only": _names(_qa_rules),
}
# What the run as a whole needs; each job step adds the settings it owns (JobStep.rules).
RUN_RULES: dict[str, Callable[[Any], Any]] = {
    "style_refs": _paths,
    "scene_refs": _paths,
    "safe_batch_limit": _int(1, 1000),
    "policy.allowed_style_roots": _paths,
    "variations.time": _text,
    "variations.weather": _text,
    **{f"prompts.{stage}": _text for stage in STAGES},
}


def manifest_rules() -> dict[str, Callable[[Any], Any]]:
    from pipeline.services.steps import job_steps

    return {**RUN_RULES, **{k: v for step in job_steps() for k, v in step.rules.items()}}


def worst_job_seconds(gen: dict[str, Any]) -> float:
    """Longest one job can take: every attempt timing out, every backoff at its cap, plus QA."""
    attempts = gen["max_retries"] + 1
    backoff = sum(min(60.0, gen["retry_base_s"] * 2**k) for k in range(gen["max_retries"]))
    return gen["timeout_s"] * attempts + backoff + 60.0


def _get(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


@dataclass(frozen=True)
class Manifest:
    """A validated manifest: the defaults merged with a project's overrides."""

    data: dict[str, Any]

    def __getitem__(self, dotted: str) -> Any:
        return _get(self.data, dotted)

    @property
    def sha256(self) -> str:
        canonical = json.dumps(self.data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def check_rules(data: dict[str, Any], rules: dict[str, Callable[[Any], Any]], source: str) -> None:
    """Apply each dotted-path rule; the first failure names the source, the path and why."""
    for dotted, check in rules.items():
        try:
            value = _get(data, dotted)
        except KeyError:
            raise ConfigError(source, dotted, "is missing") from None
        try:
            check(value)
        except ValueError as exc:
            raise ConfigError(source, dotted, str(exc)) from None


def validate_manifest(data: dict[str, Any], source: str) -> Manifest:
    check_rules(data, manifest_rules(), source)
    guard = data["output_guard"]
    if guard["chroma_soft"] > guard["chroma_hard"]:
        raise ConfigError(source, "output_guard.chroma_soft", "must not exceed chroma_hard")
    gen = data["generation"]
    task_timeout = settings.Q_CLUSTER["timeout"]
    if worst_job_seconds(gen) * 2 > task_timeout:
        raise ConfigError(
            source,
            "generation.timeout_s",
            f"{gen['timeout_s']:g}s x {gen['max_retries'] + 1} attempts plus backoff can take "
            f"{worst_job_seconds(gen):.0f}s, more than half the worker's task timeout "
            f"({task_timeout}s, KROMA_TASK_TIMEOUT): lower timeout_s or max_retries",
        )
    if gen["candidates"] > gen["max_candidates"]:
        raise ConfigError(
            source,
            "generation.candidates",
            f"must not exceed max_candidates ({gen['max_candidates']})",
        )
    return Manifest(data)


def check_override_keys(
    defaults: dict[str, Any], overrides: Any, source: str, at: str = ""
) -> None:
    """Every key of `overrides` must exist in `defaults`, with an object where they have one."""
    if not isinstance(overrides, dict):
        raise ConfigError(source, at, f"must be an object, got {json.dumps(overrides)}")
    for key, value in overrides.items():
        path = f"{at}.{key}" if at else key
        if key not in defaults:
            known = ", ".join(sorted(defaults))
            raise ConfigError(source, path, f"unknown key; known here: {known}")
        if isinstance(defaults[key], dict):
            if not isinstance(value, dict):
                keys = ", ".join(sorted(defaults[key]))
                raise ConfigError(
                    source, path, f"must be an object (of {keys}), got {json.dumps(value)}"
                )
            check_override_keys(defaults[key], value, source, path)


def check_project_overrides(project: Project) -> None:
    """What saving a project's manifest overrides checks (the admin, forms, the API)."""
    from pipeline.postprocess.config import load_postprocess

    load_manifest(project)
    load_postprocess(project)


def load_manifest(project: Project | None = None) -> Manifest:
    """settings/manifest.json merged with `project.manifest_overrides`, validated."""
    path = settings_dir() / "manifest.json"
    data = read_json_file(path)
    validate_manifest(data, file_label(path))
    if project is None or not project.manifest_overrides:
        return Manifest(data)
    if not isinstance(project.manifest_overrides, dict):
        raise ConfigError(f"project {project.slug} manifest overrides", "", "must be an object")
    overrides = {k: v for k, v in project.manifest_overrides.items() if k != "postprocess"}
    check_override_keys(data, overrides, f"project {project.slug} manifest overrides")
    merged = deep_merge(data, overrides)
    return validate_manifest(merged, f"project {project.slug} manifest overrides")


def snapshot_manifest(data: Any, source: str) -> Manifest:
    """A manifest saved with a plan or a run log, validated; a setting added to Kroma since it
    was saved takes its default (a key the snapshot has keeps the snapshot's value)."""
    if not isinstance(data, dict):
        raise ConfigError(source, "", "must be an object")
    defaults = read_json_file(settings_dir() / "manifest.json")
    return validate_manifest(deep_merge(defaults, data), source)


@dataclass(frozen=True)
class ModelPrices:
    model: str
    per_image: dict[str, dict[str, float]]
    text_input: float
    image_input: float
    image_output: float
    input_image_tokens: dict[str, int]
    estimated: bool


def _object(value: Any, label: str, where: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(label, where, f"must be an object of {what}, got {json.dumps(value)}")
    return value


def pricing_label() -> str:
    return file_label(settings_dir() / "pricing.json")


def load_prices(model: str) -> ModelPrices:
    """One model's prices from pricing.json; every problem names the file and JSON path."""
    path = settings_dir() / "pricing.json"
    label = file_label(path)
    models = _object(read_json_file(path).get("models"), label, "models", "model -> prices")
    if model not in models:
        raise ConfigError(label, f"models.{model}", "no prices for this model")
    where = f"models.{model}"
    entry = _object(models[model], label, where, "prices")

    def part(key: str, what: str) -> dict[str, Any]:
        if key not in entry:
            raise ConfigError(label, f"{where}.{key}", "is missing")
        return _object(entry[key], label, f"{where}.{key}", what)

    def number(value: Any, at: str, check: Callable[[Any], Any]) -> Any:
        try:
            return check(value)
        except ValueError as exc:
            raise ConfigError(label, at, str(exc)) from None

    per_image = {}
    for quality, sizes in part("per_image", "quality -> size -> price").items():
        at = f"{where}.per_image.{quality}"
        per_image[quality] = {
            size: number(price, f"{at}.{size}", _num(0, 100))
            for size, price in _object(sizes, label, at, "size -> price").items()
        }
    tokens = part("per_million_tokens", "kind -> price")
    for key in ("text_input", "image_input", "image_output"):
        if key not in tokens:
            raise ConfigError(label, f"{where}.per_million_tokens.{key}", "is missing")
    at = f"{where}.per_million_tokens"
    return ModelPrices(
        model=model,
        per_image=per_image,
        text_input=number(tokens["text_input"], f"{at}.text_input", _num(0, 10_000)),
        image_input=number(tokens["image_input"], f"{at}.image_input", _num(0, 10_000)),
        image_output=number(tokens["image_output"], f"{at}.image_output", _num(0, 10_000)),
        input_image_tokens={
            k: number(v, f"{where}.input_image_tokens.{k}", _int(0, 100_000))
            for k, v in part("input_image_tokens", "fidelity -> tokens").items()
        },
        estimated=bool(entry.get("estimated", False)),
    )
