"""settings/postprocess.json and settings/color-correction.json, validated with paths in errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.config import (
    MODELS,
    QUALITIES,
    SIZES,
    ConfigError,
    _bool,
    _choice,
    _int,
    _num,
    _text,
    check_rules,
    deep_merge,
    file_label,
    read_json_file,
    settings_dir,
)
from projects.models import Project

BG_BACKENDS = ("rembg", "photoroom", "removebg")


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


POSTPROCESS_RULES = {
    "bg_remove.enabled": _bool,
    "bg_remove.backend": _choice(BG_BACKENDS),
    "bg_remove.model": _text,
    "bg_remove.alpha_matting": _bool,
    "bg_remove.fallback": _optional_choice(("photoroom", "removebg")),
    "bg_remove.timeout_s": _num(1, 600),
    "refine.enabled": _bool,
    "refine.model": _choice(MODELS),
    "refine.quality": _choice(QUALITIES),
    "refine.size": _choice(SIZES),
    "refine.prompt": _text,
    "upscale.enabled": _bool,
    "upscale.model": _onnx_name,
    "upscale.scale": _scale,
    "upscale.tile": _int(0, 4096),
    "upscale.tile_pad": _int(0, 256),
    "upscale.threads": _int(0, 64),
    "upscale.allow_lanczos_fallback": _bool,
    "color.enabled": _bool,
    "color.profile": _text,
}


def validate_postprocess(data: dict[str, Any], source: str) -> dict[str, Any]:
    check_rules(data, POSTPROCESS_RULES, source)
    profiles = load_color_profiles()
    if data["color"]["profile"] not in profiles:
        raise ConfigError(
            source,
            "color.profile",
            f"no profile {data['color']['profile']!r}; profiles: {', '.join(sorted(profiles))}",
        )
    return data


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
    unknown = set(overrides) - set(data)
    if unknown:
        raise ConfigError(source, sorted(unknown)[0], f"unknown step; steps: {', '.join(data)}")
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
