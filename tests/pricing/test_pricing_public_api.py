"""Pins the public face of revstream.pricing."""

import revstream.pricing as pricing


def test_public_api_is_pinned() -> None:
    assert sorted(pricing.__all__) == sorted([
        "TOKENS_PER_MTOK", "ModelPrice", "NoPriceError", "PriceParseError", "PriceSchedule",
        "PriceScheduleError", "PricingError", "TokenCountError", "charge_exact", "max_cost_nanos",
        "parse_price", "provisional_charge_nanos", "to_utc_instant",
    ])
    for name in pricing.__all__:
        assert hasattr(pricing, name), name
