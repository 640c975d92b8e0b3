"""Pins the public face of revstream.ads: a change here is a deliberate API change."""

import revstream.ads as ads


def test_public_api_is_pinned():
    assert sorted(ads.__all__) == sorted([
        "ADVERTISER_CREDIT", "ADVERTISER_RESERVED", "ad_click_charge", "ad_impression_charge", "ad_release",
        "ad_reserve", "advertiser_top_up",
        "AGE_13_17", "AGE_ADULT", "AGE_BANDS", "AGE_UNDER_13", "AGE_UNKNOWN", "BID_CPC", "BID_CPM",
        "CLICK_BUDGET", "CLICK_BURST", "CLICK_CHARGED", "CLICK_EXPIRED", "CLICK_NOT_BILLABLE", "CLICK_OUTCOMES",
        "CLICK_REPLAY", "CONVERSATION_BLOCKS", "KIND_CLICK", "KIND_IMPRESSION", "NO_ELIGIBLE", "NO_MATCH",
        "SENSITIVE_TOPICS", "SPONSORED_FIELD", "SPONSORED_LABEL", "STREAM_ADS", "TAXONOMY_NAME",
        "TAXONOMY_SHA256", "AdPolicy", "AdsError", "AdsLeafError", "AdsValueError", "AuctionInput",
        "AuctionRules", "BurstRule", "Campaign", "CampaignIndex", "CampaignState", "Candidates", "Category",
        "CategoryMatch", "ClassifierError", "ClickClaim", "ClickLeaf", "ClickTokenError", "ClickVerdict",
        "Conversation", "DeliveryRow", "Eligibility", "ImpressionLeaf", "LocalClassifier", "NoAd", "Sale",
        "Sensitivity", "StreamGross", "Taxonomy", "TaxonomyError", "TopicClassifier", "UpstreamClassifier",
        "WindowCounter", "ad_eligibility", "ads_gross", "audience_eligibility", "click_contribution", "click_leaf", "combine",
        "conversation_key", "count_click", "delivery", "effective_age_band", "expected_value",
        "impression_contribution", "impression_leaf", "issue_click_token", "json_nanos", "judge_click", "load_classifier", "load_taxonomy",
        "match_categories", "message_texts", "network_key", "parse_age_band", "parse_click_leaf",
        "parse_impression_leaf", "parse_upstream_reply", "predicted_click_rate", "read_click_token",
        "read_conversation", "repository_entry", "run_auction", "utc_day", "sponsored_chunk",
        "sponsored_object", "upstream_request", "upstream_unavailable", "with_sponsored",
    ])
    for name in ads.__all__:
        assert hasattr(ads, name), name


def test_errors_form_one_hierarchy():
    for error in (ads.AdsValueError, ads.TaxonomyError, ads.ClassifierError, ads.ClickTokenError, ads.AdsLeafError):
        assert issubclass(error, ads.AdsError)
    assert issubclass(ads.AdsValueError, ValueError) and issubclass(ads.AdsLeafError, ValueError)


def test_the_core_imports_no_storage_or_web_framework():
    import subprocess
    import sys

    code = (
        "import sys, revstream.ads; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'starlette', 'uvicorn', 'redis', 'psycopg')"
        " or m.startswith('revstream.store') or m.startswith('revstream.gateway')]; "
        "print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
