"""The post-processing chain: bg_remove -> refine -> upscale -> color, in this order only.

Adding a step is one ChainStep class (pipeline.postprocess.base: its settings, rules, key,
estimate and work) plus one line in CHAIN; validation, estimates, the Lab, kroma_postprocess,
step rows, the run page and the run log all follow from the chain.
"""

from __future__ import annotations

import io
import time
from decimal import Decimal
from typing import Any

from PIL import Image

from kroma.lib.weights import model_fingerprint
from pipeline.config import MODELS, QUALITIES, SIZES, _bool, _choice, _int, _num, _text, load_prices
from pipeline.errors import PipelineError
from pipeline.postprocess import bg_remove, color, upscale
from pipeline.postprocess.base import Artifact, ChainContext, ChainStep, StopChain, step_key
from pipeline.postprocess.config import (
    BG_BACKENDS,
    BG_SERVICES,
    _onnx_name,
    _optional_choice,
    _profile_name,
    _scale,
    load_color_profiles,
)
from pipeline.postprocess.pixels import decode, encode, sha256


def _has_alpha(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as image:
        return "A" in image.getbands() or "transparency" in image.info


class BackgroundRemoval(ChainStep):
    name = "bg_remove"
    label = "Remove background"
    rules = {
        "enabled": _bool,
        "backend": _choice(BG_BACKENDS),
        "model": _text,
        "alpha_matting": _bool,
        "fallback": _optional_choice(BG_SERVICES),
        "timeout_s": _num(1, 600),
    }

    def key_params(self, params: dict[str, Any]) -> dict[str, Any]:
        key = super().key_params(params)
        if params["backend"] == "rembg":  # new weights re-run the step
            key["model_sha256"] = model_fingerprint(bg_remove.MODEL_FILES.get(params["model"], ""))
        return key

    def estimate(self, params: dict[str, Any]) -> Decimal:
        """A paid background service, as backend or as fallback: counted in full, since the
        fallback may be needed."""
        services = (params["backend"], params.get("fallback"))
        return sum(
            (Decimal(str(_service_price(s))) for s in services if s in BG_SERVICES), Decimal(0)
        )

    def run(
        self, artifact: Artifact, params: dict[str, Any], ctx: ChainContext
    ) -> tuple[bytes, dict]:
        if params["backend"] == "rembg":
            try:
                data = bg_remove.remove_with_rembg(
                    artifact.data, model=params["model"], alpha_matting=params["alpha_matting"]
                )
                return data, {"backend": "rembg", "model": params["model"]}
            except bg_remove.BackgroundError as exc:
                if not params.get("fallback"):
                    raise
                return self._service(artifact, params["fallback"], params, ctx, because=str(exc))
        return self._service(artifact, params["backend"], params, ctx)

    def _service(
        self,
        artifact: Artifact,
        service: str,
        params: dict[str, Any],
        ctx: ChainContext,
        because: str = "",
    ) -> tuple[bytes, dict]:
        decode(artifact.data, "the input")  # refuse non-images and bombs before paying anyone
        key, base_url = ctx.credentials(service)
        if not key:
            raise bg_remove.BackgroundError(
                f"{service} needs the project secret {service}/api_key."
                + (f" (Fallback after: {because})" if because else "")
            )
        if not ctx.confirm_spend:
            raise PipelineError(f"{service} is a paid service: confirm the spend to use it.")
        call = bg_remove.ServiceCall(service, key, base_url, timeout_s=params["timeout_s"])
        data = bg_remove.remove_with_service(artifact.data, call)
        usd = Decimal(str(_service_price(service)))
        ctx.charge(
            provider=service,
            model=service,
            operation="bg_remove",
            usd=usd,
            units={"images": 1},
            key=f"bg_remove/{service}/{artifact.sha256}",
        )
        notes = {"backend": service, "usd": str(usd)}
        if because:
            notes["fallback_because"] = because
        return data, notes


def _service_price(service: str) -> float:
    from pipeline.config import read_json_file, settings_dir

    services = read_json_file(settings_dir() / "pricing.json").get("services", {})
    return float(services.get(service, {}).get("per_image", 0))


class EdgeRefine(ChainStep):
    """An OpenAI edit pass over a cut-out's edges: costs money, so it needs confirmed spend."""

    name = "refine"
    label = "Refine edges (OpenAI)"
    paid = True
    in_lab = False  # the Lab belongs to no project, and refine is billed to a project's key
    rules = {
        "enabled": _bool,
        "model": _choice(MODELS),
        "quality": _choice(QUALITIES),
        "size": _choice(SIZES),
        "prompt": _text,
    }

    def estimate(self, params: dict[str, Any]) -> Decimal:
        prices = load_prices(params["model"])
        quality = params["quality"] if params["quality"] != "auto" else "high"
        size = params["size"] if params["size"] != "auto" else "1024x1024"
        return Decimal(str(prices.per_image.get(quality, {}).get(size, 0)))

    def able_to_run(self, artifact: Artifact, params: dict[str, Any]) -> bool:
        return _has_alpha(artifact.data)

    def run(
        self, artifact: Artifact, params: dict[str, Any], ctx: ChainContext
    ) -> tuple[bytes, dict]:
        from pipeline.providers.base import GenerationRequest, InputImage
        from pipeline.providers.openai_images import OpenAIProvider
        from pipeline.services.costs import usd_for_call

        if not ctx.confirm_spend:
            raise PipelineError("Edge refine is a paid OpenAI call: confirm the spend to use it.")
        key, base_url = ctx.credentials("openai")
        provider = OpenAIProvider(api_key=key, base_url=base_url)
        request = GenerationRequest(
            model=params["model"],
            prompt=params["prompt"],
            images=[InputImage("cutout.png", artifact.data, "scene")],
            candidate_indices=[0],
            size=params["size"],
            quality=params["quality"],
            input_fidelity="high",
            background="transparent",
        )
        result = provider.generate(request)
        usd, units = usd_for_call(result.model, result.usage, 1, params["quality"], params["size"])
        ctx.charge(
            provider="openai",
            model=result.model,
            operation="refine",
            usd=usd,
            units=units,
            key=f"refine/{artifact.sha256}/{result.request_id or ''}",
        )
        refined = decode(result.images[0], "the refined cut-out")
        if not refined.has_alpha:
            raise PipelineError(
                "Edge refine came back without transparency (it was billed); the cut-out before "
                "refine is kept. Disable refine or change its prompt."
            )
        return result.images[0], {"usd": str(usd), "request_id": result.request_id}


class Upscale(ChainStep):
    name = "upscale"
    label = "Upscale"
    rules = {
        "enabled": _bool,
        "model": _onnx_name,
        "scale": _scale,
        "tile": _int(0, 4096),
        "tile_pad": _int(0, 256),
        "threads": _int(0, 64),
        "allow_lanczos_fallback": _bool,
    }

    def key_params(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**super().key_params(params), "model_sha256": model_fingerprint(params["model"])}

    def run(
        self, artifact: Artifact, params: dict[str, Any], ctx: ChainContext
    ) -> tuple[bytes, dict]:
        pixels = decode(artifact.data, "the input")
        result, notes = upscale.upscale(pixels, params)
        return encode(result), notes


class ColorCorrection(ChainStep):
    name = "color"
    label = "Colour profile"
    rules = {"enabled": _bool, "profile": _profile_name}

    def key_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """The profile's settings, not only its name: an edited profile re-runs the step."""
        return {
            **super().key_params(params),
            "profile_settings": load_color_profiles()[params["profile"]],
        }

    def run(
        self, artifact: Artifact, params: dict[str, Any], ctx: ChainContext
    ) -> tuple[bytes, dict]:
        profiles = load_color_profiles()
        pixels = decode(artifact.data, "the input")
        return encode(color.apply_profile(pixels, profiles[params["profile"]])), {
            "profile": params["profile"]
        }


CHAIN: list[ChainStep] = [BackgroundRemoval(), EdgeRefine(), Upscale(), ColorCorrection()]


def chain_steps() -> list[ChainStep]:
    return list(CHAIN)


def step_names() -> list[str]:
    return [step.name for step in CHAIN]


def get_step(name: str) -> ChainStep:
    for step in CHAIN:
        if step.name == name:
            return step
    raise PipelineError(f"Unknown step {name!r}; steps: {', '.join(step_names())}.")


def run_chain(
    *,
    data: bytes,
    source: Any,
    config: dict[str, Any],
    ctx: ChainContext,
    only: list[str] | None = None,
) -> Artifact:
    """Run the enabled steps (or exactly `only`, in chain order) and return the last output.

    Each step's entry (parameters, key, timing, output, or why it was skipped) is appended to
    `ctx.log`. A step whose output exists for the same input and parameters is not run again.
    """
    if only is not None:
        unknown = [name for name in only if name not in step_names()]
        if unknown:
            raise PipelineError(
                f"Unknown step(s) {', '.join(unknown)}; steps: {', '.join(step_names())}."
            )
    artifact = Artifact(data, sha256(data), source)
    for step in CHAIN:
        wanted = step.name in only if only is not None else config[step.name]["enabled"]
        if not wanted:
            continue
        params = step.key_params(config[step.name])
        entry: dict[str, Any] = {"step": step.name, "input_sha256": artifact.sha256}
        ctx.log.append(entry)
        if not step.able_to_run(artifact, params):
            entry["skipped"] = "not applicable to this input"
            continue
        key = step_key(step.name, artifact.sha256, params)
        entry["key"] = key
        existing = ctx.outputs.lookup(step.name, key)
        if existing is not None:
            entry.update(
                skipped="output exists",
                output_sha256=existing.sha256,
                output_asset_id=getattr(existing.ref, "pk", None),
            )
            artifact = existing
            continue
        started = time.monotonic()
        estimate = step.estimate(config[step.name])
        paid_end = None
        try:
            # The intent row (and the budget check, which may refuse the step) comes first.
            if ctx.begin_paid and estimate:
                paid_end = ctx.begin_paid(step.name, estimate)
            output, notes = step.run(artifact, params, ctx)
        except StopChain as stop:
            entry["stopped"] = str(stop)
            if paid_end:
                paid_end(None)
            break
        except Exception as exc:
            entry["error"] = str(exc)
            if paid_end:
                paid_end(exc)
            raise
        if paid_end:
            paid_end(None)
        entry.update(duration_s=round(time.monotonic() - started, 3), notes=notes)
        if "fallback" in notes:  # never let a stand-in answer for the real step next time
            key = step_key(step.name, artifact.sha256, {**params, "fallback": notes["fallback"]})
            entry["key"] = key
        artifact = ctx.outputs.save(step.name, key, output, artifact, {**notes, "params": params})
        entry["output_sha256"] = artifact.sha256
        entry["output_asset_id"] = getattr(artifact.ref, "pk", None)
    return artifact


def estimate_paid_steps(config: dict[str, Any]) -> Decimal:
    """What the enabled steps may cost per image (each step's own estimate)."""
    return sum(
        (step.estimate(config[step.name]) for step in CHAIN if config[step.name]["enabled"]),
        Decimal(0),
    )
