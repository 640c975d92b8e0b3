"""Click tokens and click judgement: signed, single-use, expiring; bursts caught; no cookies.

A click URL is ``/ads/click/{token}``. The token is ``v1.<payload>.<mac>``: the payload is the
canonical JSON of a ``ClickClaim`` (campaign, impression, a random nonce, expiry), both parts
base64url without padding, the MAC an HMAC-SHA256 over a domain tag and the payload with the
host's click key. Nothing in it identifies a person.

Judging a click (``judge_click``) is pure: the caller reads whether the nonce was used, the
network address's window counter and the campaign's room, and writes what the verdict says.
Every click with a valid token is recorded with its outcome; only ``charged`` costs money:

* ``replay``: the nonce was used before (the store keeps used nonces until they expire);
* ``expired``: past the token's expiry;
* ``burst``: too many clicks from one network (an IPv4 /24 or IPv6 /64, kept only as a keyed
  pseudonym) within the sliding window;
* ``budget_exhausted``: the campaign or its advertiser cannot pay the click price;
* ``not_billable``: a click on a CPM ad (CPM pays per impression);
* ``charged``: a CPC click, charged its auction price once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass

import orjson

from revstream.ads._campaign import check_id
from revstream.ads._errors import AdsValueError, ClickTokenError

TOKEN_VERSION = "v1"
click_token_chars_max = 512
click_key_bytes_min = 32
nonce_hex_chars = 32
_MAC_DOMAIN = b"revstream ads click token v1\x00"
_NONCE = re.compile(r"[0-9a-f]{32}")
_B64 = re.compile(r"[A-Za-z0-9_-]+")

CLICK_CHARGED = "charged"
CLICK_REPLAY = "replay"
CLICK_EXPIRED = "expired"
CLICK_BURST = "burst"
CLICK_BUDGET = "budget_exhausted"
CLICK_NOT_BILLABLE = "not_billable"
CLICK_OUTCOMES = (CLICK_CHARGED, CLICK_REPLAY, CLICK_EXPIRED, CLICK_BURST, CLICK_BUDGET, CLICK_NOT_BILLABLE)


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, bytes) or len(key) < click_key_bytes_min:
        raise AdsValueError(f"a click key is at least {click_key_bytes_min} random bytes")
    return key


@dataclass(frozen=True, slots=True)
class ClickClaim:
    """What a click token asserts. ``nonce`` is 16 random bytes in hex, chosen by the caller."""

    campaign_id: str
    impression_id: str
    nonce: str
    expires_us: int

    def __post_init__(self) -> None:
        check_id("campaign_id", self.campaign_id)
        check_id("impression_id", self.impression_id)
        if not isinstance(self.nonce, str) or _NONCE.fullmatch(self.nonce) is None:
            raise AdsValueError("nonce must be 32 lower-case hex characters (16 random bytes)")
        if not isinstance(self.expires_us, int) or isinstance(self.expires_us, bool) or self.expires_us < 0:
            raise AdsValueError("expires_us must be a non-negative integer")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if _B64.fullmatch(text) is None:
        raise ClickTokenError("malformed click token")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise ClickTokenError("malformed click token") from error
    if _b64(data) != text:  # one encoding per token: no malleable padding bits
        raise ClickTokenError("malformed click token")
    return data


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.digest(key, _MAC_DOMAIN + payload, "sha256")


def issue_click_token(key: bytes, claim: ClickClaim) -> str:
    """The signed token for ``claim`` (goes into ``/ads/click/{token}``)."""
    payload = orjson.dumps({"c": claim.campaign_id, "e": claim.expires_us, "i": claim.impression_id, "n": claim.nonce},
                           option=orjson.OPT_SORT_KEYS)
    token = f"{TOKEN_VERSION}.{_b64(payload)}.{_b64(_mac(_check_key(key), payload))}"
    if len(token) > click_token_chars_max:
        raise AdsValueError(f"a click token longer than {click_token_chars_max} characters; shorten the ids")
    return token


def read_click_token(key: bytes, token: str) -> ClickClaim:
    """The claim of a token this host signed; ClickTokenError for anything else."""
    _check_key(key)
    if not isinstance(token, str) or len(token) > click_token_chars_max:
        raise ClickTokenError("malformed click token")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_VERSION:
        raise ClickTokenError("malformed click token")
    payload, mac = _unb64(parts[1]), _unb64(parts[2])
    if not hmac.compare_digest(mac, _mac(key, payload)):
        raise ClickTokenError("click token signature does not verify")
    try:
        fields = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise ClickTokenError("malformed click token payload") from error
    if not isinstance(fields, dict) or set(fields) != {"c", "e", "i", "n"}:
        raise ClickTokenError("malformed click token payload")
    try:
        return ClickClaim(fields["c"], fields["i"], fields["n"], fields["e"])
    except AdsValueError as error:
        raise ClickTokenError(f"malformed click token payload: {error}") from error


# --- bursts ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class WindowCounter:
    """A sliding-window counter: clicks in the current fixed window and in the one before."""

    window_start_us: int = 0
    current: int = 0
    previous: int = 0


@dataclass(frozen=True, slots=True)
class BurstRule:
    """At most ``clicks_max`` clicks per ``window_s`` from one network."""

    clicks_max: int = 5
    window_s: int = 60

    def __post_init__(self) -> None:
        if not isinstance(self.clicks_max, int) or self.clicks_max < 1:
            raise AdsValueError("clicks_max must be a positive integer")
        if not isinstance(self.window_s, int) or not 1 <= self.window_s <= 86_400:
            raise AdsValueError("window_s must be an integer in 1..86400")


def count_click(counter: WindowCounter, now_us: int, rule: BurstRule) -> tuple[bool, WindowCounter]:
    """Count one click; return whether it makes a burst, and the new counter.

    The estimate of clicks in the last ``window_s`` is the current window's count plus the
    previous window's, weighted by how much of it still lies inside the sliding window; exact
    integers (no float): ``previous × (window − elapsed) + current × window > max × window``.
    A clock that went back counts in the latest window seen."""
    window_us = rule.window_s * 1_000_000
    start = max(now_us - now_us % window_us, counter.window_start_us)
    if start == counter.window_start_us:
        current, previous = counter.current, counter.previous
    elif start == counter.window_start_us + window_us:
        current, previous = 0, counter.current
    else:
        current, previous = 0, 0
    current += 1
    elapsed = max(0, min(now_us - start, window_us))
    burst = previous * (window_us - elapsed) + current * window_us > rule.clicks_max * window_us
    return burst, WindowCounter(start, current, previous)


def network_key(address: str, secret: bytes) -> str:
    """The keyed pseudonym of the network a click came from (IPv4 /24, IPv6 /64): the store
    counts bursts per network without keeping an address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError as error:
        raise AdsValueError(f"not an IP address: {address!r}") from error
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 64
    network = ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
    return hmac.digest(_check_key(secret), str(network).encode("ascii"), hashlib.sha256).hex()[:32]


# --- the verdict ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ClickVerdict:
    """``outcome`` (one of ``CLICK_OUTCOMES``) and what the click costs (0 unless charged)."""

    outcome: str
    charge_nanos: int

    @property
    def charged(self) -> bool:
        return self.outcome == CLICK_CHARGED


def judge_click(claim: ClickClaim, now_us: int, nonce_used: bool, burst: bool, cpc_price_nanos: int | None,
                room_nanos: int) -> ClickVerdict:
    """The verdict for one click with a valid token.

    ``cpc_price_nanos``: the impression's click price, None for a CPM impression; ``room_nanos``:
    the least of what the campaign's total budget, its daily budget and its advertiser's credit
    still allow (the store reads it under the same lock that will record the charge)."""
    if nonce_used:
        return ClickVerdict(CLICK_REPLAY, 0)
    if now_us >= claim.expires_us:
        return ClickVerdict(CLICK_EXPIRED, 0)
    if burst:
        return ClickVerdict(CLICK_BURST, 0)
    if cpc_price_nanos is None:
        return ClickVerdict(CLICK_NOT_BILLABLE, 0)
    if cpc_price_nanos > room_nanos:
        return ClickVerdict(CLICK_BUDGET, 0)
    return ClickVerdict(CLICK_CHARGED, cpc_price_nanos)
