"""Tables of the ad stream (issue 13): advertisers, campaigns, impressions, clicks, the burst
windows of click sources and the age band of API keys. Created by migration 0016.

No person is stored: an impression names its campaign, the request that carried it (the
usage record's id), the model and a keyed hash of the conversation (for frequency caps,
meaningless without the host's ads secret); a click's network is a keyed pseudonym in
`ad_click_windows` only. Campaign terms are JSON (amounts as decimal strings: a budget may
exceed 64 bits); a one-event price is one BIGINT like a request's charge. Impressions and
clicks are sources settled by position (`log_index`, `settled_period`).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, String, Table, Text

from ._amounts import amount_columns
from ._schema import metadata

ad_advertisers = Table(
    "ad_advertisers",
    metadata,
    Column("advertiser_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("legal_name", String(200), nullable=True),
    Column("token_sha256", String(64), nullable=True, unique=True),
    Column("currency", String(3), nullable=True),
    Column("created_us", BigInteger, nullable=False),
)

# `spent` counts every charge and every open reservation (what the budget has promised);
# `day_spent` the same for the UTC day `spent_day` (reset when a new day's charge comes).
ad_campaigns = Table(
    "ad_campaigns",
    metadata,
    Column("campaign_id", String(64), primary_key=True),
    Column("advertiser_id", String(64), nullable=False, index=True),
    Column("terms", Text, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    *amount_columns("spent"),
    Column("spent_day", String(10), nullable=False, server_default=""),
    *amount_columns("day_spent"),
    Column("impressions", BigInteger, nullable=False, server_default="0"),
    Column("clicks", BigInteger, nullable=False, server_default="0"),
)

# status: reserved (chosen, its charge held) -> delivered (a leaf) | released (never shown).
ad_impressions = Table(
    "ad_impressions",
    metadata,
    Column("impression_id", String(64), primary_key=True),
    Column("campaign_id", String(64), nullable=False),
    Column("advertiser_id", String(64), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("model", String(200), nullable=False),
    Column("time_us", BigInteger, nullable=False),
    Column("status", String(10), nullable=False),
    Column("bid_kind", String(3), nullable=False),
    Column("price_nanos", BigInteger, nullable=False),
    Column("charge_nanos", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("keywords", Text, nullable=False),
    Column("categories", Text, nullable=False),
    Column("answer_sha256", String(64), nullable=False),
    Column("conversation_key", String(64), nullable=False),
    Column("click_used", Boolean, nullable=False, server_default="0"),
    Column("log_index", BigInteger, nullable=True, unique=True),
    Column("settled_period", String(7), nullable=True),
    Index("ix_ad_impressions_status", "status", "time_us"),
    Index("ix_ad_impressions_conversation", "conversation_key", "campaign_id"),
    Index("ix_ad_impressions_campaign", "campaign_id", "time_us"),
)

# Every click that came with a valid token, whatever its outcome.
ad_clicks = Table(
    "ad_clicks",
    metadata,
    Column("click_id", String(64), primary_key=True),
    Column("impression_id", String(64), nullable=False, index=True),
    Column("campaign_id", String(64), nullable=False),
    Column("advertiser_id", String(64), nullable=False),
    Column("model", String(200), nullable=False),
    Column("time_us", BigInteger, nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("charge_nanos", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("log_index", BigInteger, nullable=True, unique=True),
    Column("settled_period", String(7), nullable=True),
)

ad_click_windows = Table(
    "ad_click_windows",
    metadata,
    Column("network_key", String(64), primary_key=True),
    Column("window_start_us", BigInteger, nullable=False),
    Column("current", BigInteger, nullable=False),
    Column("previous", BigInteger, nullable=False),
)

ad_key_settings = Table(
    "ad_key_settings",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("age_band", String(10), nullable=False),
)
