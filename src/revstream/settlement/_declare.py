"""Agreements declared in words (the CLI's flags, the config file's tables) turned into
`Agreement` values: one parser for both, so they cannot drift apart."""

from __future__ import annotations

from datetime import date

from revstream.money import parse_amount, validate_currency
from revstream.settlement._errors import AgreementError
from revstream.settlement._terms import Agreement, parse_tiers

DRAFT_AGREEMENT_ID = "draft"


def parse_stream_shares(items: tuple[str, ...] | list[str]) -> tuple[tuple[str, int], ...]:
    """"subscription:1000" → ("subscription", 1000) for each item."""
    pairs = []
    for item in items:
        stream, _, bps = item.partition(":")
        if not stream or not bps.isascii() or not bps.isdigit():
            raise AgreementError(f"a stream share is STREAM:BPS, got {item!r}")
        pairs.append((stream, int(bps)))
    return tuple(pairs)


def draft_agreement(
    *, licensor: str, models: tuple[str, ...], currency: str, effective_from: date, effective_to: date | None = None,
    share_bps: int | None = None, tiers: str | None = None, royalty_per_mtok: str | None = None,
    minimum: str | None = None, cap: str | None = None, stream_shares: tuple[str, ...] = (),
) -> Agreement:
    """An agreement from decimal strings in currency units; the store gives it its id."""
    currency = validate_currency(currency)
    return Agreement(
        licensor=licensor, agreement_id=DRAFT_AGREEMENT_ID, models=tuple(models), currency=currency,
        effective_from=effective_from, effective_to=effective_to, share_bps=share_bps,
        tiers=parse_tiers(tiers, currency) if tiers else (),
        royalty_nanos_per_mtok=parse_amount(royalty_per_mtok, currency) if royalty_per_mtok else None,
        minimum_nanos=parse_amount(minimum, currency) if minimum else None,
        cap_nanos=parse_amount(cap, currency) if cap else None,
        stream_share_bps=parse_stream_shares(stream_shares),
    )
