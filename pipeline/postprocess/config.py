"""settings/postprocess.json and settings/color-correction.json, validated with paths in errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.config import (
    ConfigError,
    _choice,
    _num,
    _text,
    check_rules,
    deep_merge,
    file_label,
    read_json_file,
    settings_dir,
)
from projects.models import Project

BG_SERVICES = ("photoroom", "removebg")  # paid background-removal services
BG_BACKENDS = ("rembg", *BG_SERVICES)


def _optional_choice(options: tuple[str, ...]) -> Callable[[Any], str | None]:
    check = _choice(options)
    return lambda value: None if value is None else check(value)


def _scale(value: Any) -> int:
    if value not in (2, 4) or isinstance(value, bool):
        raise ValueError(f"must be 2 or 4, got {value!r}")
    return value


def _onnx_name(value: Any) -> str:
    if not isinstance(value, str) or not value.endswith(".onnx") or "/" in value:
        raise ValueError(f"must be a model file name ending in .onnx, got {value!r}")
    return value


def _profile_name(value: Any) -> str:
    _text(value)
    profiles = load_color_profiles()
    if value not in profiles:
        raise ValueError(f"no profile {value!r}; profiles: {', '.join(sorted(profiles))}")
    return value


def validate_postprocess(data: dict[str, Any], source: str) -> dict[str, Any]:
    """Every step's settings, by the rules each step of the chain declares."""
    from pipeline.postprocess.chain import chain_steps

    if not isinstance(data, dict):
        raise ConfigError(source, "", "must be an object of step -> settings")
    steps = chain_steps()
    unknown = set(data) - {step.name for step in steps}
    if unknown:
        known = ", ".join(step.name for step in steps)
        raise ConfigError(source, sorted(unknown)[0], f"unknown step; steps: {known}")
    merged = {}
    for step in steps:
        section = data.get(step.name, {})
        if not isinstance(section, dict):
            raise ConfigError(source, step.name, f"must be an object, got {section!r}")
        merged[step.name] = {**step.defaults, **section}
        unknown_keys = set(merged[step.name]) - set(step.rules)
        if unknown_keys:
            key = sorted(unknown_keys)[0]
            raise ConfigError(
                source, f"{step.name}.{key}", f"unknown key; known: {', '.join(step.rules)}"
            )
    check_rules(
        merged,
        {f"{step.name}.{key}": rule for step in steps for key, rule in step.rules.items()},
        source,
    )
    return merged


def load_postprocess(project: Project | None = None) -> dict[str, Any]:
    """The chain's settings: the file, merged with a project's `postprocess` overrides."""
    path = settings_dir() / "postprocess.json"
    data = validate_postprocess(read_json_file(path), file_label(path))
    overrides = (project.manifest_overrides or {}).get("postprocess") if project else None
    if not overrides:
        return data
    source = f"project {project.slug} manifest overrides postprocess"
    if not isinstance(overrides, dict):
        raise ConfigError(source, "", "must be an object")
    return validate_postprocess(deep_merge(data, overrides), source)


# --- colour profiles ---------------------------------------------------------------------

PROFILE_KEYS = {"description", "white_balance", "curve", "saturation", "split_toning"}


def _rgb(value: Any, lo: float, hi: float) -> list[float]:
    if not isinstance(value, list) or len(value) != 3:
        raise ValueError("must be a list of 3 numbers [r, g, b]")
    return [_num(lo, hi)(v) for v in value]


def _curve(value: Any) -> list[list[float]]:
    if not isinstance(value, list) or len(value) < 2:
        raise ValueError("must be a list of at least 2 [input, output] points")
    points = []
    for i, point in enumerate(value):
        if not isinstance(point, list) or len(point) != 2:
            raise ValueError(f"point {i} must be [input, output]")
        x, y = _num(0, 1)(point[0]), _num(0, 1)(point[1])
        if points and x <= points[-1][0]:
            raise ValueError(f"point {i}: input values must increase")
        points.append([x, y])
    return points


def validate_profile(name: str, profile: Any, source: str) -> dict[str, Any]:
    where = f"profiles.{name}"
    if not isinstance(profile, dict):
        raise ConfigError(source, where, "must be an object")
    unknown = set(profile) - PROFILE_KEYS
    if unknown:
        raise ConfigError(
            source,
            f"{where}.{sorted(unknown)[0]}",
            f"unknown key; keys: {', '.join(sorted(PROFILE_KEYS))}",
        )
    checks = {
        "white_balance": lambda v: _rgb(v, 0.25, 4.0),
        "curve": _curve,
        "saturation": _num(0, 4),
    }
    for key, check in checks.items():
        if key in profile:
            try:
                check(profile[key])
            except ValueError as exc:
                raise ConfigError(source, f"{where}.{key}", str(exc)) from None
    toning = profile.get("split_toning")
    if toning is not None:
        if not isinstance(toning, dict):
            raise ConfigError(source, f"{where}.split_toning", "must be an object")
        for part in ("shadows", "highlights"):
            entry = toning.get(part)
            if entry is None:
                continue
            try:
                _rgb(entry.get("color") if isinstance(entry, dict) else None, 0, 1)
                _num(0, 1)(entry.get("strength"))
            except ValueError as exc:
                raise ConfigError(source, f"{where}.split_toning.{part}", str(exc)) from None
        try:
            _num(-0.95, 0.95)(toning.get("balance", 0.0))
        except ValueError as exc:
            raise ConfigError(source, f"{where}.split_toning.balance", str(exc)) from None
    return profile


def load_color_profiles() -> dict[str, dict[str, Any]]:
    path = settings_dir() / "color-correction.json"
    source = file_label(path)
    data = read_json_file(path)
    profiles = data.get("profiles")
    if not isinstance(profiles, dict) or not profiles:
        raise ConfigError(source, "profiles", "must be an object of name -> profile")
    return {name: validate_profile(name, p, source) for name, p in profiles.items()}
