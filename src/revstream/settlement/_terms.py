"""Revenue-share agreement terms, tier parsing and settlement periods.

An agreement pays the licensor, for its models and dates, exactly one of:

* ``share_bps``: basis points (1/10_000) of net revenue, flat; or
* ``tiers``: marginal brackets ``((threshold_nanos, bps), ...)`` starting at 0, applied to
  the period's net volume like income-tax brackets (each rate applies only to the part of
  the volume inside its bracket), so the share is continuous in the volume; or
* ``royalty_nanos_per_mtok``: a fee per million tokens, prompt and completion alike.

``stream_share_bps`` overrides the rule for named streams with a flat share of their net
(a subscription's tokens are prepaid, so a per-token royalty does not fit it); lines of
overridden streams are left out of the tiered volume. ``minimum_nanos`` and ``cap_nanos``
bound the period's share. ``effective_to`` is inclusive; ``None`` means open-ended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Final, Mapping

from revstream.money import MoneyError, parse_amount, validate_currency
from revstream.periods import Period, PeriodFormatError
from revstream.settlement._errors import AgreementError, PeriodError, TierParseError

BPS_PER_UNIT: Final = 10_000
KNOWN_STREAMS: Final = ("api", "subscription", "ads", "messaging")
tiers_max: Final = 32
models_max: Final = 1_000

_STREAM_PATTERN: Final = re.compile(r"[a-z][a-z0-9_]{0,31}", re.ASCII)


def parse_period(period: str) -> tuple[date, date]:
    """The first and last day of a "YYYY-MM" period."""
    try:
        value = Period.parse(period)
    except PeriodFormatError as error:
        raise PeriodError(str(error)) from None
    return value.first_day, value.last_day


def validate_stream(stream: object) -> str:
    """A stream name: a known one ("api", "subscription", ...) or any ``[a-z][a-z0-9_]*``."""
    if not isinstance(stream, str) or _STREAM_PATTERN.fullmatch(stream) is None:
        raise AgreementError(f"stream must match [a-z][a-z0-9_]*, got {stream!r}")
    return stream


def _require_bps(value: object, what: str, error: type[AgreementError] = AgreementError) -> int:
    if type(value) is not int or not 0 <= value <= BPS_PER_UNIT:
        raise error(f"{what} must be an int of basis points in 0..{BPS_PER_UNIT}, got {value!r}")
    return value


def _require_nanos(value: object, what: str, error: type[AgreementError] = AgreementError) -> int:
    if type(value) is not int or value < 0:
        raise error(f"{what} must be a non-negative int of nanos, got {value!r}")
    return value


def check_tiers(tiers: object) -> tuple[tuple[int, int], ...]:
    """Return ``tiers`` if they are ``((0, bps), (t1, bps), ...)`` with strictly rising thresholds."""
    if not isinstance(tiers, tuple) or not 0 < len(tiers) <= tiers_max:
        raise TierParseError(f"tiers must be a tuple of 1..{tiers_max} (threshold_nanos, bps) pairs")
    previous = -1
    for tier in tiers:
        if not isinstance(tier, tuple) or len(tier) != 2:
            raise TierParseError(f"a tier must be a (threshold_nanos, bps) pair, got {tier!r}")
        threshold_nanos = _require_nanos(tier[0], "tier threshold", TierParseError)
        _require_bps(tier[1], "tier rate", TierParseError)
        if threshold_nanos <= previous:
            raise TierParseError("tier thresholds must rise strictly")
        previous = threshold_nanos
    if tiers[0][0] != 0:
        raise TierParseError("the first tier must start at threshold 0")
    return tiers


def parse_tiers(text: str, currency: str) -> tuple[tuple[int, int], ...]:
    """Parse the CLI form "0:1000,100000:1500" (thresholds in currency units, rates in bps)."""
    if not isinstance(text, str) or not text:
        raise TierParseError("tiers must be a non-empty string like '0:1000,100000:1500'")
    tiers = []
    for part in text.split(",")[: tiers_max + 1]:
        threshold_text, separator, bps_text = part.partition(":")
        if not separator or not bps_text.isascii() or not bps_text.isdigit():
            raise TierParseError(f"tier {part!r} is not 'threshold:bps'")
        try:
            threshold_nanos = parse_amount(threshold_text, currency)
        except MoneyError as error:
            raise TierParseError(f"tier threshold {threshold_text!r}: {error}") from error
        tiers.append((threshold_nanos, int(bps_text)))
    return check_tiers(tuple(tiers))


def _normalise_stream_shares(value: object) -> tuple[tuple[str, int], ...]:
    items = tuple(value.items()) if isinstance(value, Mapping) else value
    if not isinstance(items, tuple) or not all(isinstance(item, tuple) and len(item) == 2 for item in items):
        raise AgreementError("stream_share_bps must be a mapping or a tuple of (stream, bps) pairs")
    pairs = tuple(sorted((validate_stream(stream), _require_bps(bps, f"share of {stream}")) for stream, bps in items))
    if len({stream for stream, _ in pairs}) != len(pairs):
        raise AgreementError("stream_share_bps names a stream twice")
    return pairs


@dataclass(frozen=True, slots=True)
class Agreement:
    """Revenue-share terms between a licensor and this host (see the module docstring)."""

    licensor: str
    agreement_id: str
    models: tuple[str, ...]
    currency: str
    effective_from: date
    effective_to: date | None = None
    share_bps: int | None = None
    tiers: tuple[tuple[int, int], ...] = ()
    royalty_nanos_per_mtok: int | None = None
    minimum_nanos: int | None = None
    cap_nanos: int | None = None
    stream_share_bps: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        self._check_identity()
        self._check_rule()
        if self.minimum_nanos is not None:
            _require_nanos(self.minimum_nanos, "minimum_nanos")
        if self.cap_nanos is not None:
            _require_nanos(self.cap_nanos, "cap_nanos")
            if self.minimum_nanos is not None and self.minimum_nanos > self.cap_nanos:
                raise AgreementError("minimum_nanos exceeds cap_nanos")
        object.__setattr__(self, "stream_share_bps", _normalise_stream_shares(self.stream_share_bps))

    def _check_identity(self) -> None:
        for name in ("licensor", "agreement_id"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise AgreementError(f"{name} must be a non-empty string")
        models = self.models
        if not isinstance(models, tuple) or not 0 < len(models) <= models_max:
            raise AgreementError(f"models must be a tuple of 1..{models_max} model names")
        if not all(isinstance(model, str) and model for model in models) or len(set(models)) != len(models):
            raise AgreementError("models must be distinct non-empty strings")
        try:
            validate_currency(self.currency)
        except MoneyError as error:
            raise AgreementError(str(error)) from error
        if type(self.effective_from) is not date:
            raise AgreementError("effective_from must be a date")
        if self.effective_to is not None and (
            type(self.effective_to) is not date or self.effective_to < self.effective_from
        ):
            raise AgreementError("effective_to must be a date on or after effective_from")

    def _check_rule(self) -> None:
        if self.tiers:
            check_tiers(self.tiers)
            if self.share_bps is not None and self.share_bps != self.tiers[0][1]:
                raise AgreementError("with tiers, share_bps must be omitted or equal the first tier's rate")
        elif self.share_bps is not None:
            _require_bps(self.share_bps, "share_bps")
        has_share = self.share_bps is not None or bool(self.tiers)
        if has_share == (self.royalty_nanos_per_mtok is not None):
            raise AgreementError("give exactly one of share_bps (optionally with tiers) or royalty_nanos_per_mtok")
        if self.royalty_nanos_per_mtok is not None:
            _require_nanos(self.royalty_nanos_per_mtok, "royalty_nanos_per_mtok")

    @property
    def stream_shares(self) -> Mapping[str, int]:
        """``stream_share_bps`` as a read-only mapping."""
        return MappingProxyType(dict(self.stream_share_bps))

    def covers(self, period: str) -> bool:
        """Whether any day of ``period`` falls inside the agreement's effective dates."""
        first, last = parse_period(period)
        return self.effective_from <= last and (self.effective_to is None or first <= self.effective_to)
