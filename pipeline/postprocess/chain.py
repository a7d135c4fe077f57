"""The post-processing chain: bg_remove -> refine -> upscale -> color, in this order only.

Adding a step is one unit below plus one line in CHAIN.
"""

from __future__ import annotations

import io
import time
from decimal import Decimal
from typing import Any

from PIL import Image

from kroma.lib.weights import model_fingerprint
from pipeline.config import load_prices
from pipeline.errors import PipelineError
from pipeline.postprocess import bg_remove, color, upscale
from pipeline.postprocess.base import Artifact, ChainContext, Step, StopChain, step_key
from pipeline.postprocess.config import load_color_profiles
from pipeline.postprocess.pixels import decode, encode, sha256


def _has_alpha(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as image:
        return "A" in image.getbands() or "transparency" in image.info


class FreeStep:
    """A local step that works on any image (the input is checked when it is decoded)."""

    paid = False

    def able_to_run(self, artifact: Artifact, params: dict[str, Any]) -> bool:
        return True


class BackgroundRemoval(FreeStep):
    name = "bg_remove"

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


class EdgeRefine:
    """An OpenAI edit pass over a cut-out's edges: costs money, so it needs confirmed spend."""

    name = "refine"
    paid = True

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


class Upscale(FreeStep):
    name = "upscale"

    def run(
        self, artifact: Artifact, params: dict[str, Any], ctx: ChainContext
    ) -> tuple[bytes, dict]:
        pixels = decode(artifact.data, "the input")
        result, notes = upscale.upscale(pixels, params)
        return encode(result), notes


class ColorCorrection(FreeStep):
    name = "color"

    def run(
        self, artifact: Artifact, params: dict[str, Any], ctx: ChainContext
    ) -> tuple[bytes, dict]:
        profiles = load_color_profiles()
        pixels = decode(artifact.data, "the input")
        return encode(color.apply_profile(pixels, profiles[params["profile"]])), {
            "profile": params["profile"]
        }


CHAIN: list[Step] = [BackgroundRemoval(), EdgeRefine(), Upscale(), ColorCorrection()]
STEP_NAMES = [step.name for step in CHAIN]


def step_params(config: dict[str, Any], step: str) -> dict[str, Any]:
    """A step's parameters without 'enabled' (which must not change its key)."""
    params = {k: v for k, v in config[step].items() if k != "enabled"}
    if step == "color":
        params["profile_settings"] = load_color_profiles()[params["profile"]]
    if step == "upscale":
        params["model_sha256"] = model_fingerprint(params["model"])
    if step == "bg_remove" and params["backend"] == "rembg":
        params["model_sha256"] = model_fingerprint(bg_remove.MODEL_FILES.get(params["model"], ""))
    return params


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
        unknown = [name for name in only if name not in STEP_NAMES]
        if unknown:
            raise PipelineError(
                f"Unknown step(s) {', '.join(unknown)}; steps: {', '.join(STEP_NAMES)}."
            )
    artifact = Artifact(data, sha256(data), source)
    for step in CHAIN:
        wanted = step.name in only if only is not None else config[step.name]["enabled"]
        if not wanted:
            continue
        params = step_params(config, step.name)
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
        try:
            output, notes = step.run(artifact, params, ctx)
        except StopChain as stop:
            entry["stopped"] = str(stop)
            break
        except Exception as exc:
            entry["error"] = str(exc)
            raise
        entry.update(duration_s=round(time.monotonic() - started, 3), notes=notes)
        if "fallback" in notes:  # never let a stand-in answer for the real step next time
            key = step_key(step.name, artifact.sha256, {**params, "fallback": notes["fallback"]})
            entry["key"] = key
        artifact = ctx.outputs.save(step.name, key, output, artifact, {**notes, "params": params})
        entry["output_sha256"] = artifact.sha256
        entry["output_asset_id"] = getattr(artifact.ref, "pk", None)
    return artifact


def estimate_paid_steps(config: dict[str, Any]) -> Decimal:
    """What the enabled paid steps may cost per image: refine, and a paid background service
    (as backend, or as fallback: counted in full, since the fallback may be needed)."""
    total = Decimal(0)
    background = config["bg_remove"]
    if background["enabled"]:
        for service in (background["backend"], background.get("fallback")):
            if service in ("photoroom", "removebg"):
                total += Decimal(str(_service_price(service)))
    if config["refine"]["enabled"]:
        prices = load_prices(config["refine"]["model"])
        quality = config["refine"]["quality"] if config["refine"]["quality"] != "auto" else "high"
        size = config["refine"]["size"] if config["refine"]["size"] != "auto" else "1024x1024"
        total += Decimal(str(prices.per_image.get(quality, {}).get(size, 0)))
    return total
