"""Who may see an ad: plan, age band, sensitivity, in that order."""

from __future__ import annotations

import pytest

from revstream.ads import (
    AGE_13_17,
    AGE_ADULT,
    AGE_UNDER_13,
    AGE_UNKNOWN,
    AdPolicy,
    AdsValueError,
    Sensitivity,
    ad_eligibility,
    audience_eligibility,
    effective_age_band,
    parse_age_band,
)

CLEAR = Sensitivity()


@pytest.mark.parametrize("request_band,key_band,expected", [
    (AGE_ADULT, AGE_UNKNOWN, AGE_ADULT),
    (AGE_UNKNOWN, AGE_ADULT, AGE_ADULT),
    (AGE_ADULT, AGE_UNDER_13, AGE_UNDER_13),  # a key for a children's app is not overridden
    (AGE_13_17, AGE_ADULT, AGE_13_17),
    (AGE_UNKNOWN, AGE_UNKNOWN, AGE_UNKNOWN),
    (None, None, AGE_UNKNOWN),
])
def test_the_most_restrictive_known_band_counts(request_band, key_band, expected):
    assert effective_age_band(request_band, key_band) == expected


def test_a_bad_band_is_a_clear_error():
    with pytest.raises(AdsValueError, match="under_13"):
        parse_age_band("adult")
    with pytest.raises(AdsValueError):
        parse_age_band(18)


@pytest.mark.parametrize("policy,plan,band,reason", [
    (AdPolicy(), "free", AGE_ADULT, "eligible"),
    (AdPolicy(enabled=False), "free", AGE_ADULT, "ads_disabled"),
    (AdPolicy(), "payg", AGE_ADULT, "plan_without_ads"),
    (AdPolicy(), None, AGE_ADULT, "plan_without_ads"),
    (AdPolicy(), "subscription", AGE_ADULT, "plan_without_ads"),
    (AdPolicy(), "free", AGE_UNDER_13, "minor"),
    (AdPolicy(), "free", AGE_13_17, "minor"),
    (AdPolicy(), "free", AGE_UNKNOWN, "age_unknown"),
    (AdPolicy(ads_for_unknown_age=True), "free", AGE_UNKNOWN, "eligible"),
    (AdPolicy(ads_for_unknown_age=True), "free", AGE_13_17, "minor"),
])
def test_audience(policy, plan, band, reason):
    assert audience_eligibility(policy, plan, band).reason == reason


def test_sensitivity_comes_last_and_refuses():
    policy = AdPolicy()
    assert ad_eligibility(policy, "free", AGE_ADULT, CLEAR).eligible
    refused = ad_eligibility(policy, "free", AGE_ADULT, Sensitivity(("health",), ("doctor",)))
    assert (refused.eligible, refused.reason, refused.topics) == (False, "sensitive", ("health",))
    assert ad_eligibility(policy, "free", AGE_ADULT, Sensitivity(unjudged="language")).reason == "unjudged"
    assert ad_eligibility(policy, "payg", AGE_ADULT, Sensitivity(("health",))).reason == "plan_without_ads"
