"""Who may see an ad: the plan, the end user's age band, and the conversation's sensitivity.

Checked in that order, cheapest first, so the gateway classifies a conversation only when
the plan and the age band already allow an ad:

1. ads are on, and the customer is on an ad-supported plan kind (``free`` by default);
2. the end user is known not to be a minor. The request field ``metadata.age_band`` and the
   API key's default each say ``under_13``, ``13_17``, ``18_plus`` or ``unknown``; the most
   restrictive *known* band of the two counts (a key for a children's app cannot be
   overridden by a request claiming ``18_plus``). ``unknown`` gets ads only if the host's
   policy says so (default: no);
3. the conversation touches no sensitive topic and could be judged (see ``Sensitivity``).
"""

from __future__ import annotations

from dataclasses import dataclass

from revstream.ads._errors import AdsValueError
from revstream.ads._sensitive import Sensitivity
from revstream.plans import KIND_FREE

AGE_UNDER_13 = "under_13"
AGE_13_17 = "13_17"
AGE_ADULT = "18_plus"
AGE_UNKNOWN = "unknown"
AGE_BANDS = (AGE_UNDER_13, AGE_13_17, AGE_ADULT, AGE_UNKNOWN)
_RESTRICTION = {AGE_UNDER_13: 0, AGE_13_17: 1, AGE_ADULT: 2}

ELIGIBLE = "eligible"
REFUSED_DISABLED = "ads_disabled"
REFUSED_PLAN = "plan_without_ads"
REFUSED_MINOR = "minor"
REFUSED_AGE_UNKNOWN = "age_unknown"
REFUSED_SENSITIVE = "sensitive"
REFUSED_UNJUDGED = "unjudged"


@dataclass(frozen=True, slots=True)
class AdPolicy:
    """The host's ad policy (from its configuration)."""

    enabled: bool = True
    ads_for_unknown_age: bool = False
    plan_kinds: tuple[str, ...] = (KIND_FREE,)

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool) or not isinstance(self.ads_for_unknown_age, bool):
            raise AdsValueError("enabled and ads_for_unknown_age must be bools")
        if not isinstance(self.plan_kinds, tuple) or not all(isinstance(kind, str) for kind in self.plan_kinds):
            raise AdsValueError("plan_kinds must be a tuple of plan kinds")


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Whether this request may carry an ad; ``reason`` says why not (``eligible`` when it may)."""

    reason: str
    topics: tuple[str, ...] = ()

    @property
    def eligible(self) -> bool:
        return self.reason == ELIGIBLE


def parse_age_band(value: object) -> str:
    """A band from a request or key setting; None (absent) is ``unknown``."""
    if value is None:
        return AGE_UNKNOWN
    if not isinstance(value, str) or value not in AGE_BANDS:
        raise AdsValueError(f"age_band must be one of {', '.join(AGE_BANDS)}, not {value!r}")
    return value


def effective_age_band(request_band: str, key_band: str) -> str:
    """The most restrictive known band of the two; ``unknown`` only when neither is known."""
    known = [band for band in (parse_age_band(request_band), parse_age_band(key_band)) if band != AGE_UNKNOWN]
    return min(known, key=_RESTRICTION.__getitem__) if known else AGE_UNKNOWN


def audience_eligibility(policy: AdPolicy, plan_kind: str | None, age_band: str) -> Eligibility:
    """Steps 1 and 2: the plan and the age band (``age_band`` from ``effective_age_band``)."""
    if not policy.enabled:
        return Eligibility(REFUSED_DISABLED)
    if plan_kind not in policy.plan_kinds:
        return Eligibility(REFUSED_PLAN)
    band = parse_age_band(age_band)
    if band in (AGE_UNDER_13, AGE_13_17):
        return Eligibility(REFUSED_MINOR)
    if band == AGE_UNKNOWN and not policy.ads_for_unknown_age:
        return Eligibility(REFUSED_AGE_UNKNOWN)
    return Eligibility(ELIGIBLE)


def ad_eligibility(policy: AdPolicy, plan_kind: str | None, age_band: str, sensitivity: Sensitivity) -> Eligibility:
    """All three steps. The conversation's ``sensitivity`` comes from the classifier(s)."""
    audience = audience_eligibility(policy, plan_kind, age_band)
    if not audience.eligible:
        return audience
    if sensitivity.unjudged is not None:
        return Eligibility(REFUSED_UNJUDGED)
    if sensitivity.topics:
        return Eligibility(REFUSED_SENSITIVE, sensitivity.topics)
    return Eligibility(ELIGIBLE)
