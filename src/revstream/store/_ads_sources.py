"""The ad stream's log sources (issue 13): a delivered impression and a click become leaves
(`revstream.ads.impression_leaf`, `click_leaf`), settled by position (see `_log_sources`)."""

from __future__ import annotations

from typing import Final

from sqlalchemy import select, true

from ..ads import click_leaf, impression_leaf
from ..ads._leaves import CLICK_VERSION, IMPRESSION_VERSION
from ..leaves import LeafKind, encode_leaf
from ._ads import click_of, impression_of
from ._ads_schema import ad_clicks, ad_impressions
from ._log_sources import Leaf, LogSource, marks_positions, rows_by_id

_DELIVERED = ad_impressions.c.status == "delivered"


def _impression_fields(row) -> dict:
    return impression_leaf(impression_of(row))


def _click_fields(row) -> dict:
    return click_leaf(click_of(row))


def _impression_leaf(row, secret: bytes) -> Leaf:
    data = encode_leaf(LeafKind.IMPRESSION, IMPRESSION_VERSION, _impression_fields(row))
    return Leaf(LeafKind.IMPRESSION, IMPRESSION_VERSION, row.impression_id, data)


def _click_leaf(row, secret: bytes) -> Leaf:
    return Leaf(LeafKind.CLICK, CLICK_VERSION, row.click_id,
                encode_leaf(LeafKind.CLICK, CLICK_VERSION, _click_fields(row)))


IMPRESSION_SOURCE: Final = LogSource(
    LeafKind.IMPRESSION,
    lambda: select(ad_impressions).where(_DELIVERED, ad_impressions.c.log_index.is_(None))
    .order_by(ad_impressions.c.time_us, ad_impressions.c.impression_id),
    _impression_leaf, marks_positions(ad_impressions, "impression_id"), rows_by_id(ad_impressions, "impression_id"),
    lambda row, secret, version, keys: encode_leaf(LeafKind.IMPRESSION, version, _impression_fields(row)),
    table=ad_impressions, ready=_DELIVERED,
)

CLICK_SOURCE: Final = LogSource(
    LeafKind.CLICK,
    lambda: select(ad_clicks).where(ad_clicks.c.log_index.is_(None))
    .order_by(ad_clicks.c.time_us, ad_clicks.c.click_id),
    _click_leaf, marks_positions(ad_clicks, "click_id"), rows_by_id(ad_clicks, "click_id"),
    lambda row, secret, version, keys: encode_leaf(LeafKind.CLICK, version, _click_fields(row)),
    table=ad_clicks, ready=true(),
)
