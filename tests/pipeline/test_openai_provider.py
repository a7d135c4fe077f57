"""The OpenAI provider through the real `openai` client against the fake server."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from pipeline.errors import ProviderError
from pipeline.providers.base import GenerationRequest, InputImage
from pipeline.providers.openai_images import OpenAIProvider


def _png() -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((64, 64)).save(out, "PNG")
    return out.getvalue()


def _request(n: int = 2, timeout: float = 5.0, retries: int = 3) -> GenerationRequest:
    return GenerationRequest(
        model="gpt-image-1",
        prompt="ink it",
        images=[InputImage("scene.png", _png(), "scene"), InputImage("ink.png", _png(), "style")],
        candidate_indices=list(range(n)),
        timeout_s=timeout,
        max_retries=retries,
        retry_base_s=0.01,
    )


@pytest.fixture
def provider(fake_openai):
    return OpenAIProvider(api_key="sk-test-fake-key-0000", base_url=fake_openai.base_url)


def test_edit_sends_all_images_and_parameters_and_returns_usage(provider, fake_openai):
    result = provider.generate(_request(n=3))
    call = fake_openai.calls[0]
    assert call.path == "/v1/images/edits"
    assert len(call.images) == 2
    assert (call.fields["model"], call.fields["n"], call.fields["input_fidelity"]) == (
        "gpt-image-1",
        "3",
        "high",
    )
    assert call.authorization == "Bearer sk-test-fake-key-0000"
    assert len(result.images) == 3 and result.attempts == 1
    assert result.usage["output_tokens"] == 3000
    assert Image.open(io.BytesIO(result.images[0])).format == "PNG"


def test_429_with_retry_after_is_retried_after_waiting(provider, fake_openai):
    fake_openai.fail_next("429", 1)
    started = time.monotonic()
    result = provider.generate(_request())
    assert time.monotonic() - started >= 1.0  # Retry-After: 1 was honoured
    assert result.attempts == 2
    assert "429" in result.events[0]
    assert [c.answered for c in fake_openai.calls] == [429, 200]


def test_500_is_retried_then_succeeds(provider, fake_openai):
    fake_openai.fail_next("500")
    fake_openai.fail_next("500")
    assert provider.generate(_request()).attempts == 3


def test_slow_answer_times_out_is_retried_and_the_timed_out_call_is_not_billed(
    provider, fake_openai
):
    fake_openai.fail_next("slow", 2.0)
    result = provider.generate(_request(timeout=0.5))
    assert result.attempts == 2
    assert "did not answer within" in result.events[0]
    time.sleep(1.7)  # let the slow handler try to answer the closed connection
    assert fake_openai.paid_images == 2


def test_malformed_json_is_reported_and_not_retried_since_it_may_be_billed(provider, fake_openai):
    fake_openai.fail_next("malformed")
    with pytest.raises(ProviderError, match="response Kroma cannot read"):
        provider.generate(_request(retries=3))
    assert len(fake_openai.calls) == 1


def test_content_policy_refusal_is_not_retried(provider, fake_openai):
    fake_openai.fail_next("policy")
    with pytest.raises(ProviderError) as excinfo:
        provider.generate(_request())
    assert "content policy" in str(excinfo.value)
    assert "Change the prompt or the input image" in str(excinfo.value)
    assert len(fake_openai.calls) == 1


def test_bad_key_is_not_retried_and_says_where_to_fix_it(provider, fake_openai):
    fake_openai.fail_next("401")
    with pytest.raises(ProviderError, match="openai/api_key"):
        provider.generate(_request())
    assert len(fake_openai.calls) == 1


def test_retries_give_up_after_max_retries(provider, fake_openai):
    for _ in range(3):
        fake_openai.fail_next("500")
    with pytest.raises(ProviderError, match="server error"):
        provider.generate(_request(retries=2))
    assert len(fake_openai.calls) == 3


def test_missing_key_is_a_clear_error():
    with pytest.raises(ProviderError, match="No OpenAI API key"):
        OpenAIProvider(api_key=None)
