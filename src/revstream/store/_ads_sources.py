"""The ad stream's log sources (issue 13): a delivered impression and a click become leaves
(`revstream.ads.impression_leaf`, `click_leaf`), settled by position (see `_log_sources`)."""

from __future__ import annotations

from typing import Final, Sequence

from sqlalchemy import Connection, select, true

from ..ads import click_leaf, impression_leaf
from ..ads._leaves import CLICK_VERSION, IMPRESSION_VERSION
from ..leaves import LeafKind, encode_leaf
from ._ads import click_of, impression_of
from ._ads_schema import ad_clicks, ad_impressions
from ._log_sources import Leaf, LogSource
from ._sql import bulk_update

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


def _mark(table: str, key: str):
    def mark(connection: Connection, positions: Sequence[tuple[int, str]]) -> None:
        bulk_update(connection, table, key, ("log_index",), ("bigint", "text"), positions, condition="log_index IS NULL")
    return mark


def _impression_rows(connection: Connection, ids: Sequence[str]) -> dict:
    return {row.impression_id: row for row in connection.execute(
        select(ad_impressions).where(ad_impressions.c.impression_id.in_(list(ids))))}


def _click_rows(connection: Connection, ids: Sequence[str]) -> dict:
    return {row.click_id: row for row in connection.execute(select(ad_clicks).where(ad_clicks.c.click_id.in_(list(ids))))}


IMPRESSION_SOURCE: Final = LogSource(
    LeafKind.IMPRESSION,
    lambda: select(ad_impressions).where(_DELIVERED, ad_impressions.c.log_index.is_(None))
    .order_by(ad_impressions.c.time_us, ad_impressions.c.impression_id),
    _impression_leaf, _mark("ad_impressions", "impression_id"), _impression_rows,
    lambda row, secret, version, keys: encode_leaf(LeafKind.IMPRESSION, version, _impression_fields(row)),
    table=ad_impressions, ready=_DELIVERED,
)

CLICK_SOURCE: Final = LogSource(
    LeafKind.CLICK,
    lambda: select(ad_clicks).where(ad_clicks.c.log_index.is_(None)).order_by(ad_clicks.c.time_us, ad_clicks.c.click_id),
    _click_leaf, _mark("ad_clicks", "click_id"), _click_rows,
    lambda row, secret, version, keys: encode_leaf(LeafKind.CLICK, version, _click_fields(row)),
    table=ad_clicks, ready=true(),
)
