"""OpenAI-style headers and refusal messages from hand-computed decisions."""

from __future__ import annotations

import pytest

from revstream.ratelimit import (
    KeyLimits,
    KeyState,
    RateLimitArgumentError,
    format_duration_us,
    rate_limit_headers,
    refusal_message,
    take_key,
)


@pytest.mark.parametrize(
    ("duration_us", "text"),
    [
        (0, "0s"),
        (1, "1ms"),
        (120_000, "120ms"),
        (999_000, "999ms"),
        (999_001, "1s"),
        (1_000_000, "1s"),
        (1_500_000, "1.5s"),
        (8_571_429, "8.572s"),
        (17_280_000, "17.28s"),
        (59_999_000, "59.999s"),
        (59_999_001, "1m0s"),
        (60_000_000, "1m0s"),
        (360_000_000, "6m0s"),
        (90_250_000, "1m30.25s"),
        (3_600_000_000, "1h0m0s"),
    ],
)
def test_durations_read_as_openai_writes_them(duration_us, text):
    assert format_duration_us(duration_us) == text


def test_headers_of_an_admitted_request():
    decision = take_key(KeyState(), 0, KeyLimits(requests_per_minute=60, tokens_per_minute=1000), 333)
    assert rate_limit_headers(decision) == {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "667",
        "x-ratelimit-reset-tokens": "19.98s",
    }


def test_unlimited_dimension_has_no_headers():
    decision = take_key(KeyState(), 0, KeyLimits(requests_per_minute=10), 5)
    assert set(rate_limit_headers(decision)) == {
        "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
    }
    assert rate_limit_headers(take_key(KeyState(), 0, KeyLimits(), 5)) == {}


def test_refusal_by_requests():
    limits = KeyLimits(requests_per_minute=60)
    state = KeyState()
    for _ in range(60):
        state = take_key(state, 0, limits, 0).state
    refused = take_key(state, 0, limits, 0)
    headers = rate_limit_headers(refused)
    assert headers["retry-after"] == "1" and headers["retry-after-ms"] == "1000"
    assert headers["x-ratelimit-remaining-requests"] == "0" and headers["x-ratelimit-reset-requests"] == "1m0s"
    assert refusal_message(refused) == "Rate limit reached for requests per minute (limit 60): retry in 1s"


def test_refusal_by_tokens_rounds_retry_after_up():
    limits = KeyLimits(requests_per_minute=60, tokens_per_minute=1000)
    state = take_key(KeyState(), 0, limits, 333).state
    refused = take_key(state, 0, limits, 700)  # 33 tokens short: 1.98 s
    headers = rate_limit_headers(refused)
    assert headers["retry-after"] == "2" and headers["retry-after-ms"] == "1980"
    assert headers["x-ratelimit-remaining-requests"] == "59"  # not charged
    assert refusal_message(refused) == (
        "Rate limit reached for tokens per minute (limit 1000, remaining 667, requested 700): retry in 2s"
    )


def test_retry_after_is_at_least_one_second():
    limits = KeyLimits(requests_per_minute=6000)
    state = KeyState()
    for _ in range(6000):
        state = take_key(state, 0, limits, 0).state
    refused = take_key(state, 0, limits, 0)  # 10 ms
    assert rate_limit_headers(refused)["retry-after"] == "1"
    assert rate_limit_headers(refused)["retry-after-ms"] == "10"


def test_both_refused_retry_when_both_allow():
    limits = KeyLimits(requests_per_minute=1, tokens_per_minute=120)
    state = take_key(KeyState(), 0, limits, 120).state
    refused = take_key(state, 0, limits, 60)  # requests: 60 s, tokens: 30 s
    assert rate_limit_headers(refused)["retry-after"] == "60"
    assert refusal_message(refused) == (
        "Rate limit reached for requests per minute (limit 1): retry in 60s; "
        "Rate limit reached for tokens per minute (limit 120, remaining 0, requested 60): retry in 30s"
    )


def test_request_larger_than_the_limit_says_so_and_has_no_retry_after():
    refused = take_key(KeyState(), 0, KeyLimits(tokens_per_minute=1000), 5000)
    headers = rate_limit_headers(refused)
    assert "retry-after" not in headers and headers["x-ratelimit-remaining-tokens"] == "1000"
    assert refusal_message(refused) == (
        "Request too large for tokens per minute (limit 1000, requested 5000): "
        "it can never be admitted; reduce the prompt or max_tokens"
    )


def test_no_refusal_message_for_an_admitted_request():
    with pytest.raises(RateLimitArgumentError):
        refusal_message(take_key(KeyState(), 0, KeyLimits(requests_per_minute=1), 0))
