"""The `[ads]` section of the configuration (issue 13): the ad-supported tier's policy and
auction settings, parsed by `load_config` into `Config.ads`.

    [ads]
    enabled = true                # sponsored answers for customers on a `free` plan
    ads_for_unknown_age = false   # an end user of unknown age gets no ad (the default)
    currency = "USD"              # campaigns in this currency take part in the auction
    reserve_cpm = "1.00"          # the reserve price per 1,000 impressions (a lone bidder pays it)
    reserve_cpc = "0.05"          # the reserve price per click
    click_ttl_s = 86400           # how long a click link is valid
    reservation_stale_s = 300     # a reservation older than this (its response never delivered) is released
    burst_clicks_max = 5          # more clicks than this from one network ...
    burst_window_s = 60           # ... in this window are not charged
    index_refresh_s = 5           # how often a worker re-reads campaigns
    public_url = ""               # the gateway's public base URL for click links (default: the request's)
    classifier_url = ""           # optional upstream classifier: an OpenAI-compatible base URL (…/v1)
    classifier_model = ""         # its model name
    classifier_timeout_s = 2      # no verdict in time: no ad
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from ..money import MoneyError, parse_amount, validate_currency
from ._model import Config, ConfigError


@dataclass(frozen=True, slots=True)
class AdsConfig:
    enabled: bool = True
    ads_for_unknown_age: bool = False
    currency: str = "USD"
    reserve_cpm_nanos: int = 1_000_000_000
    reserve_cpc_nanos: int = 50_000_000
    click_ttl_s: int = 86_400
    reservation_stale_s: int = 300
    burst_clicks_max: int = 5
    burst_window_s: int = 60
    index_refresh_s: int = 5
    public_url: str = ""
    classifier_url: str = ""
    classifier_model: str = ""
    classifier_timeout_s: int = 2


_BOOLS = ("enabled", "ads_for_unknown_age")
_INTS = {"click_ttl_s": (1, 30 * 86_400), "reservation_stale_s": (5, 86_400), "burst_clicks_max": (1, 10_000),
         "burst_window_s": (1, 86_400), "index_refresh_s": (1, 3600), "classifier_timeout_s": (1, 60)}
_AMOUNTS = {"reserve_cpm": "reserve_cpm_nanos", "reserve_cpc": "reserve_cpc_nanos"}


def ads_section(raw: Any) -> AdsConfig:
    """The parsed `[ads]` table; a mistake is a `ConfigError` naming the key."""
    if not isinstance(raw, Mapping):
        raise ConfigError("ads: expected a table")
    known = (*_BOOLS, *_INTS, *_AMOUNTS, "currency", "public_url", "classifier_url", "classifier_model")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"ads.{key}: unknown key (known: {', '.join(sorted(known))})")
        if key in _BOOLS:
            if not isinstance(value, bool):
                raise ConfigError(f"ads.{key}: expected true or false")
            values[key] = value
        elif key in _INTS:
            low, high = _INTS[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"ads.{key}: expected an integer in {low}..{high}")
            values[key] = value
        elif not isinstance(value, str):
            raise ConfigError(f"ads.{key}: expected a string")
        else:
            values[key] = value
    try:
        currency = validate_currency(values.pop("currency", "USD"))
        for key, name in _AMOUNTS.items():
            if key in values:
                values[name] = parse_amount(values.pop(key), currency)
    except MoneyError as error:
        raise ConfigError(f"ads: {error}") from error
    if values.get("reserve_cpm_nanos", 0) % 1000:
        raise ConfigError("ads.reserve_cpm: must be whole nanos per impression (a multiple of 0.000001)")
    for key in ("public_url", "classifier_url"):
        if values.get(key) and not values[key].startswith(("http://", "https://")):
            raise ConfigError(f"ads.{key}: expected an http(s) URL")
    if bool(values.get("classifier_url")) != bool(values.get("classifier_model")):
        raise ConfigError("ads.classifier_model: the upstream classifier needs both classifier_url and classifier_model")
    return AdsConfig(currency=currency, **{k: v for k, v in values.items() if k in {f.name for f in fields(AdsConfig)}})


def ads_settings(config: Config) -> AdsConfig:
    """The install's ad settings: `config.ads`, or the defaults for a `Config` built without a file."""
    return getattr(config, "ads", None) or AdsConfig()
