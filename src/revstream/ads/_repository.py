"""Public views of the ad stream: the ad repository (DSA art. 39) and delivery per campaign and day.

Both are projections of what the log already proves (campaign terms and impression/click
leaves), aggregated, with no personal data: the store reads, these shape, the HTTP layer
serves (``GET /ads/repository``, ``revstream ads report``, the advertiser's dashboard view).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from fractions import Fraction

from revstream.ads._campaign import Campaign
from revstream.ads._clicks import CLICK_BUDGET, CLICK_CHARGED, CLICK_NOT_BILLABLE
from revstream.ads._leaves import ClickLeaf, ImpressionLeaf, json_nanos
from revstream.ads._taxonomy import TAXONOMY_NAME, Taxonomy

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
GENUINE_CLICKS = frozenset({CLICK_CHARGED, CLICK_NOT_BILLABLE, CLICK_BUDGET})


def utc_day(time_us: int) -> str:
    """``YYYY-MM-DD`` of a time in microseconds since the epoch (exact: no float)."""
    return (_EPOCH + timedelta(microseconds=time_us)).date().isoformat()


def _rfc3339(time_us: int) -> str:
    return (_EPOCH + timedelta(microseconds=time_us)).isoformat(timespec="seconds").replace("+00:00", "Z")


def repository_entry(campaign: Campaign, taxonomy: Taxonomy, first_shown_us: int | None, last_shown_us: int | None,
                     impressions: int) -> dict:
    """One ad in the public repository: its content, on whose behalf it ran and who paid, when,
    the targeting parameters (contextual only), and how many times it was shown."""
    return {
        "campaign_id": campaign.campaign_id,
        "advertiser": campaign.advertiser,
        "paid_by": campaign.payer,
        "title": campaign.title,
        "text": campaign.text,
        "url": campaign.url,
        "shown_from": _rfc3339(first_shown_us) if first_shown_us is not None else None,
        "shown_to": _rfc3339(last_shown_us) if last_shown_us is not None else None,
        "targeting": {
            "kind": "contextual",
            "keywords": sorted(campaign.keywords),
            "categories": [{"id": c, "name": taxonomy.categories[c].label} for c in sorted(campaign.categories)],
            "taxonomy": TAXONOMY_NAME,
            "countries": sorted(campaign.countries),
            "personal_data_used": False,
        },
        "impressions": impressions,
    }


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One campaign on one UTC day: impressions, genuine clicks, refused clicks, spend."""

    campaign_id: str
    day: str
    currency: str
    impressions: int
    clicks: int
    refused_clicks: int
    spend_nanos: int

    @property
    def click_rate(self) -> Fraction | None:
        return Fraction(self.clicks, self.impressions) if self.impressions else None

    def as_json(self) -> dict:
        rate = self.click_rate
        return {
            "campaign_id": self.campaign_id, "day": self.day, "currency": self.currency,
            "impressions": self.impressions, "clicks": self.clicks, "refused_clicks": self.refused_clicks,
            "spend_nanos": json_nanos(self.spend_nanos),
            "ctr": None if rate is None else f"{rate.numerator}/{rate.denominator}",
        }


def delivery(impressions: Iterable[ImpressionLeaf], clicks: Iterable[ClickLeaf]) -> tuple[DeliveryRow, ...]:
    """Delivery per campaign and UTC day from parsed leaves, sorted by campaign then day.
    A click counts on the day it came; replays, expired tokens and bursts are ``refused_clicks``."""
    rows: dict[tuple[str, str], list] = {}

    def row(campaign_id: str, time_us: int, currency: str) -> list:
        return rows.setdefault((campaign_id, utc_day(time_us)), [currency, 0, 0, 0, 0])

    for impression in impressions:
        entry = row(impression.campaign_id, impression.time_us, impression.currency)
        entry[1] += 1
        entry[4] += impression.charge_nanos
    for click in clicks:
        entry = row(click.campaign_id, click.time_us, click.currency)
        if click.outcome in GENUINE_CLICKS:
            entry[2] += 1
        else:
            entry[3] += 1
        entry[4] += click.charge_nanos
    return tuple(DeliveryRow(campaign_id, day, currency, shown, clicked, refused, spend)
                 for (campaign_id, day), (currency, shown, clicked, refused, spend) in sorted(rows.items()))
