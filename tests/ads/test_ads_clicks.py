"""Click tokens (signed, single-use, expiring), burst counting and the click verdict."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revstream.ads import (
    CLICK_BUDGET,
    CLICK_BURST,
    CLICK_CHARGED,
    CLICK_EXPIRED,
    CLICK_NOT_BILLABLE,
    CLICK_REPLAY,
    AdsValueError,
    BurstRule,
    ClickClaim,
    ClickTokenError,
    WindowCounter,
    count_click,
    issue_click_token,
    judge_click,
    network_key,
    read_click_token,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
CLAIM = ClickClaim("camp-1", "imp-1", "0123456789abcdef0123456789abcdef", 2_000_000)
SECOND = 1_000_000


def test_a_token_round_trips():
    token = issue_click_token(KEY, CLAIM)
    assert token.startswith("v1.") and len(token) < 512
    assert read_click_token(KEY, token) == CLAIM


def _swap(token: str, part: int, data: bytes) -> str:
    pieces = token.split(".")
    pieces[part] = base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    return ".".join(pieces)


def test_forged_and_malformed_tokens_are_refused():
    token = issue_click_token(KEY, CLAIM)
    with pytest.raises(ClickTokenError, match="signature"):
        read_click_token(OTHER_KEY, token)
    payload = base64.urlsafe_b64decode(token.split(".")[1] + "==")
    with pytest.raises(ClickTokenError, match="signature"):
        read_click_token(KEY, _swap(token, 1, payload.replace(b"imp-1", b"imp-2")))
    bad = [
        "", "v2" + token[2:], token + ".x", token.replace(".", "", 1), token[:-1] + ("A" if token[-1] != "A" else "B"),
        token + "=", "v1.!!.!!", "v1." + "A" * 600,
    ]
    for candidate in bad:
        with pytest.raises(ClickTokenError):
            read_click_token(KEY, candidate)


def test_non_canonical_base64_is_refused():
    token = issue_click_token(KEY, CLAIM)
    head, payload, mac = token.split(".")
    # flip the unused low bits of the last character of the MAC (43 chars encode 32 bytes + 2 spare bits)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(mac[-1])
    twin = mac[:-1] + alphabet[last ^ 1]
    with pytest.raises(ClickTokenError):
        read_click_token(KEY, f"{head}.{payload}.{twin}")


def test_keys_and_claims_are_checked():
    with pytest.raises(AdsValueError):
        issue_click_token(b"short", CLAIM)
    with pytest.raises(AdsValueError):
        ClickClaim("camp-1", "imp-1", "XYZ", 1)
    with pytest.raises(AdsValueError):
        ClickClaim("camp 1", "imp-1", "0" * 32, 1)


@pytest.mark.parametrize("used,now_us,burst,price,room,outcome,charge", [
    (False, 1_000_000, False, 200, 1_000, CLICK_CHARGED, 200),
    (True, 1_000_000, False, 200, 1_000, CLICK_REPLAY, 0),
    (False, 2_000_000, False, 200, 1_000, CLICK_EXPIRED, 0),
    (False, 1_000_000, True, 200, 1_000, CLICK_BURST, 0),
    (False, 1_000_000, False, None, 1_000, CLICK_NOT_BILLABLE, 0),
    (False, 1_000_000, False, 200, 199, CLICK_BUDGET, 0),
    (False, 1_000_000, False, 200, 200, CLICK_CHARGED, 200),
    (True, 3_000_000, True, 200, 0, CLICK_REPLAY, 0),  # a replay is a replay first
])
def test_the_verdict(used, now_us, burst, price, room, outcome, charge):
    verdict = judge_click(CLAIM, now_us, used, burst, price, room)
    assert (verdict.outcome, verdict.charge_nanos, verdict.charged) == (outcome, charge, outcome == CLICK_CHARGED)


def test_a_burst_starts_past_the_limit_and_ends_as_the_window_slides():
    rule = BurstRule(clicks_max=3, window_s=60)
    counter, start = WindowCounter(), 600 * SECOND
    results = []
    for offset_s in (0, 1, 2, 3):
        burst, counter = count_click(counter, start + offset_s * SECOND, rule)
        results.append(burst)
    assert results == [False, False, False, True]
    # 30 s into the next window, half the previous 4 still count: 4 * 30/60 + 1 = 3 → allowed
    burst, counter = count_click(counter, start + 90 * SECOND, rule)
    assert not burst and (counter.previous, counter.current) == (4, 1)
    burst, counter = count_click(counter, start + 90 * SECOND, rule)
    assert burst  # 2 + 2 = 4 > 3
    burst, counter = count_click(counter, start + 500 * SECOND, rule)
    assert not burst and (counter.previous, counter.current) == (0, 1)


def test_a_clock_that_goes_back_counts_in_the_latest_window():
    rule = BurstRule(clicks_max=1, window_s=60)
    _, counter = count_click(WindowCounter(), 120 * SECOND, rule)
    burst, later = count_click(counter, 10 * SECOND, rule)
    assert burst and later.window_start_us == counter.window_start_us and later.current == 2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10 * SECOND), min_size=1, max_size=60), st.integers(1, 5))
def test_the_counter_never_misses_an_exact_burst(gaps_us, clicks_max):
    """If more than clicks_max clicks fall inside one fixed window, the counter flags a burst."""
    rule = BurstRule(clicks_max=clicks_max, window_s=10)
    counter, now_us, flagged, per_window = WindowCounter(), 0, False, {}
    for gap in gaps_us:
        now_us += gap
        burst, counter = count_click(counter, now_us, rule)
        flagged |= burst
        window = now_us // (10 * SECOND)
        per_window[window] = per_window.get(window, 0) + 1
    if max(per_window.values()) > clicks_max:
        assert flagged


def test_network_keys_are_pseudonyms_of_networks():
    secret = b"n" * 32
    assert network_key("203.0.113.5", secret) == network_key("203.0.113.77", secret)
    assert network_key("203.0.113.5", secret) != network_key("203.0.114.5", secret)
    assert network_key("::ffff:203.0.113.9", secret) == network_key("203.0.113.5", secret)
    assert network_key("2001:db8:1:2::1", secret) == network_key("2001:db8:1:2:ffff::9", secret)
    assert network_key("2001:db8:1:2::1", secret) != network_key("2001:db8:1:3::1", secret)
    key = network_key("203.0.113.5", secret)
    assert len(key) == 32 and int(key, 16) >= 0 and key != network_key("203.0.113.5", b"m" * 32)
    with pytest.raises(AdsValueError):
        network_key("not-an-ip", secret)
