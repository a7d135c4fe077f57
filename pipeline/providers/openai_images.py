"""OpenAI image edits through the official SDK, with our own retry policy.

The SDK's built-in retries are switched off (max_retries=0) so that every attempt, wait and
reason is ours to log: 429, 5xx, timeouts and broken connections are retried with exponential
backoff and full jitter, honouring Retry-After; other 4xx answers are final.
"""

from __future__ import annotations

import base64
import logging
import random
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import openai

from pipeline.errors import ProviderError
from pipeline.providers.base import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)
MAX_RETRY_AFTER_S = 60.0


class OpenAIProvider:
    name = "openai"
    label = "OpenAI"
    paid = True

    @classmethod
    def model_for(cls, generation: dict[str, Any]) -> str:
        return generation["model"]

    @classmethod
    def estimate(
        cls, *, generation: dict[str, Any], model: str, prompt: str, images: int, candidates: int
    ) -> Decimal:
        """Per-image output price for the quality and size, plus prompt and input-image tokens."""
        from pipeline.config import ConfigError, load_prices, pricing_label

        prices = load_prices(model)
        quality = generation["quality"] if generation["quality"] != "auto" else "high"
        size = generation["size"] if generation["size"] != "auto" else "1024x1024"
        per_image = prices.per_image.get(quality, {}).get(size)
        if per_image is None:
            raise ConfigError(
                pricing_label(), f"models.{model}.per_image.{quality}.{size}", "missing"
            )
        text_tokens = len(prompt) / 4
        image_tokens = prices.input_image_tokens.get(generation["input_fidelity"], 0) * images
        usd = (
            Decimal(str(per_image)) * candidates
            + Decimal(str(text_tokens * prices.text_input / 1e6))
            + Decimal(str(image_tokens * prices.image_input / 1e6))
        )
        return usd.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)

    @classmethod
    def prices_estimated(cls, model: str) -> bool:
        from pipeline.config import load_prices

        return load_prices(model).estimated

    @classmethod
    def cost(
        cls, *, model: str, usage: dict[str, Any] | None, n: int, quality: str, size: str
    ) -> tuple[Decimal, dict[str, Any]]:
        from pipeline.services.costs import usd_for_call

        return usd_for_call(model, usage, n, quality, size)

    def __init__(self, *, api_key: str | None, base_url: str | None = None) -> None:
        if not api_key:
            raise ProviderError(
                "No OpenAI API key: add the project secret openai/api_key (Admin → Project "
                "secrets) or set OPENAI_API_KEY, or choose the local provider for an offline run."
            )
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url or None, max_retries=0)

    def generate(self, request: GenerationRequest) -> GenerationResult:
        started = time.monotonic()
        events: list[str] = []
        for attempt in range(1, request.max_retries + 2):
            try:
                response = self._call(request)
            except ProviderError as exc:
                if not exc.retryable or attempt > request.max_retries:
                    raise
                wait = self._wait_seconds(exc, attempt, request.retry_base_s)
                events.append(f"attempt {attempt}: {exc} (retrying in {wait:.1f}s)")
                log.warning("OpenAI attempt %s failed: %s; retrying in %.1fs", attempt, exc, wait)
                time.sleep(wait)
                continue
            result = self._parse(response, request)
            result.attempts, result.events = attempt, events
            result.duration_s = time.monotonic() - started
            return result
        raise AssertionError("unreachable")

    def _call(self, request: GenerationRequest) -> Any:
        """images.edit with the request's images; images.generate when it has none."""
        kwargs: dict[str, Any] = {
            "model": request.model,
            "prompt": request.prompt,
            "n": request.n,
            "size": request.size,
            "quality": request.quality,
            "timeout": request.timeout_s,
        }
        if request.background:
            kwargs["background"] = request.background
        endpoint = self._client.images.with_raw_response.generate
        if request.images:
            endpoint = self._client.images.with_raw_response.edit
            kwargs["image"] = [(i.name, i.data, "image/png") for i in request.images]
            if request.input_fidelity:
                kwargs["input_fidelity"] = request.input_fidelity
        try:
            return endpoint(**kwargs)
        except openai.RateLimitError as exc:
            raise _status_error(exc, "OpenAI is rate-limiting this key (429)", True) from None
        except openai.InternalServerError as exc:
            raise _status_error(
                exc, f"OpenAI had a server error ({exc.status_code})", True
            ) from None
        except openai.APITimeoutError:
            raise ProviderError(
                f"OpenAI did not answer within {request.timeout_s:.0f}s", retryable=True
            ) from None
        except openai.APIConnectionError as exc:
            raise ProviderError(f"Could not reach OpenAI: {exc}", retryable=True) from None
        except openai.AuthenticationError:
            raise ProviderError(
                "OpenAI rejected the API key (401): check the project secret openai/api_key.",
                status=401,
            ) from None
        except openai.APIStatusError as exc:
            raise _refusal(exc) from None

    @staticmethod
    def _parse(raw: Any, request: GenerationRequest) -> GenerationResult:
        try:
            response = raw.parse()
            images = [base64.b64decode(item.b64_json) for item in response.data or []]
        except Exception as exc:  # malformed JSON, missing fields, bad base64
            # Not retried: a 200 may have been billed, and paying twice is worse than asking.
            raise ProviderError(
                f"OpenAI answered with a response Kroma cannot read ({type(exc).__name__}); "
                "nothing was saved. Run the job again; if it persists, check OPENAI_BASE_URL.",
            ) from None
        if not images:
            raise ProviderError("OpenAI answered without any image.")
        # Fewer than n (some withheld by moderation) are still paid for: keep them.
        usage = response.usage.model_dump() if getattr(response, "usage", None) else None
        return GenerationResult(
            images=images,
            model=request.model,
            usage=usage,
            request_id=raw.headers.get("x-request-id"),
        )

    @staticmethod
    def _wait_seconds(exc: ProviderError, attempt: int, base: float) -> float:
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER_S)
        return random.uniform(0, base * 2 ** (attempt - 1))


def _status_error(exc: openai.APIStatusError, message: str, retryable: bool) -> ProviderError:
    error = ProviderError(f"{message}.", retryable=retryable, status=exc.status_code)
    error.retry_after = _retry_after(exc.response.headers)  # type: ignore[attr-defined]
    return error


def _retry_after(headers: Any) -> float | None:
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) / divisor)
            except ValueError:
                continue
    return None


def _refusal(exc: openai.APIStatusError) -> ProviderError:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    code = (error or {}).get("code") or ""
    detail = (error or {}).get("message") or str(exc)
    if "moderation" in code or "content_policy" in code or "safety" in code:
        return ProviderError(
            f"OpenAI refused this request under its content policy: {detail} "
            "Change the prompt or the input image and run again.",
            status=exc.status_code,
        )
    return ProviderError(
        f"OpenAI rejected the request ({exc.status_code}): {detail}", status=exc.status_code
    )
