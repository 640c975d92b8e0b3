"""What `revstream licence status` and the dashboard's licence panel show, as JSON: monthly
active users by month against the threshold, acceptable-use counts by category, and where the
attribution is shown. Pure: the months come in as read from the store (any value with the
fields of the store's `MonthStatus`)."""

from __future__ import annotations

from typing import Iterable, Mapping

from ._check import SURFACE_DASHBOARD, SURFACE_MODELS_ENDPOINT
from ._hazards import HAZARD_CODES, HAZARDS
from ._leaf import threshold_bps, users_upper_bound
from ._served import ModelLicence

ATTRIBUTION_SURFACES = (SURFACE_MODELS_ENDPOINT, SURFACE_DASHBOARD)
"""Where revstream itself shows a licence's attribution: each `/v1/models` entry of a model
whose licence asks for one, and the dashboard's footer."""
HAZARD_NAMES = {hazard.code: hazard.name for hazard in HAZARDS}


def attribution_state(models: Mapping[str, ModelLicence], attribution_url: str | None) -> list[dict]:
    """Each attribution the served models' licences ask for, the models, and where it is shown."""
    texts: dict[tuple[str, str], list[str]] = {}
    for name, found in sorted(models.items()):
        if found.attribution:
            texts.setdefault((found.licence_id, found.attribution), []).append(name)
    shown = [*ATTRIBUTION_SURFACES, *([attribution_url] if attribution_url else [])]
    return [{"licence": licence_id, "text": text, "models": names, "shown_on": shown}
            for (licence_id, text), names in sorted(texts.items())]


def month_report(month, threshold: tuple[int, str] | None) -> dict:
    """One month: the live count (every merge so far), the leaf its close froze, the counts."""
    threshold_users = month.threshold_users if month.threshold_users is not None else (
        threshold[0] if threshold else None)
    threshold_licence = month.threshold_licence if month.threshold_users is not None else (
        threshold[1] if threshold else None)
    counts = month.counts
    leaf = month.leaf
    return {
        "month": month.month, "users": month.users,
        "users_upper_bound": users_upper_bound(month.users, month.error_ppm),
        "method": month.method, "error_ppm": month.error_ppm, "threshold_users": threshold_users,
        "threshold_licence": threshold_licence, "threshold_bps": threshold_bps(month.users, threshold_users),
        "alerts_percent": list(month.alerts_percent),
        "acceptable_use": {
            "classified": counts["classified"], "flagged": counts["flagged"], "refused": counts["refused"],
            "unavailable": counts["unavailable"],
            "by_category": [{"category": code, "name": HAZARD_NAMES[code], "count": counts[code]}
                            for code in HAZARD_CODES],
        },
        "affiliates": [{"affiliate": item.affiliate, "users": item.users, "method": item.method,
                        "same_key": item.same_key, "imported_us": item.imported_us}
                       for item in month.affiliates],
        "closed": None if leaf is None else {
            "users": leaf.users, "method": leaf.method, "sketch_sha256": leaf.sketch_sha256,
            "log_index": month.leaf_index, "settled_period": month.settled_period,
        },
    }


def status_report(months: Iterable, threshold: tuple[int, str] | None, models: Mapping[str, ModelLicence],
                  attribution_url: str | None) -> dict:
    """The whole status: the threshold in force, each month newest first, the attribution."""
    return {
        "threshold": None if threshold is None else {"users": threshold[0], "licence": threshold[1]},
        "months": [month_report(month, threshold) for month in months],
        "attribution": attribution_state(models, attribution_url),
    }
