"""The ad-supported tier's rules: contextual, labelled, never near sensitive topics or minors.

Pure values and functions, no I/O, no clock: the store reads, calls these, and writes what
they return. One request, after the answer is generated (the ad never enters the model's
context):

1. ``audience_eligibility``: the customer's plan and the end user's age band;
2. ``read_conversation(message_texts(messages, answer))`` and a classifier's ``classify``
   (``load_classifier``; optionally ``UpstreamClassifier``), then ``ad_eligibility``;
3. ``match_categories`` (the shipped IAB Content Taxonomy 3.1, ``load_taxonomy``) and
   ``CampaignIndex.match``: the candidate campaigns, whose live state the store reads;
4. ``run_auction``: eligibility, pacing, ranking by expected value, generalized second price;
5. ``sponsored_object`` with a signed click URL (``issue_click_token``), returned beside the
   answer (``with_sponsored``, ``sponsored_chunk``);
6. on delivery, ``impression_leaf`` and the ledger entries (``ad_reserve`` at selection,
   ``ad_impression_charge`` or ``ad_release``); on a click, ``read_click_token``, ``count_click`` and
   ``judge_click``, then ``click_leaf``; settlement sums leaves with ``ads_gross``;
7. public views: ``repository_entry`` (DSA art. 39) and ``delivery`` per campaign and day.

Errors derive from ``AdsError`` (see ``_errors``).
"""

from revstream.ads._auction import (
    NO_ELIGIBLE,
    NO_MATCH,
    AuctionInput,
    AuctionRules,
    CampaignIndex,
    Candidates,
    NoAd,
    Sale,
    expected_value,
    predicted_click_rate,
    run_auction,
)
from revstream.ads._campaign import BID_CPC, BID_CPM, Campaign, CampaignState
from revstream.ads._clicks import (
    CLICK_BUDGET,
    CLICK_BURST,
    CLICK_CHARGED,
    CLICK_EXPIRED,
    CLICK_NOT_BILLABLE,
    CLICK_OUTCOMES,
    CLICK_REPLAY,
    BurstRule,
    ClickClaim,
    ClickVerdict,
    WindowCounter,
    count_click,
    issue_click_token,
    judge_click,
    network_key,
    read_click_token,
)
from revstream.ads._contribution import click_contribution, impression_contribution
from revstream.ads._context import (
    CategoryMatch,
    Conversation,
    conversation_key,
    match_categories,
    message_texts,
    read_conversation,
)
from revstream.ads._errors import AdsError, AdsLeafError, AdsValueError, ClassifierError, ClickTokenError, TaxonomyError
from revstream.ads._leaves import (
    KIND_CLICK,
    KIND_IMPRESSION,
    STREAM_ADS,
    ClickLeaf,
    ImpressionLeaf,
    StreamGross,
    ads_gross,
    click_leaf,
    impression_leaf,
    json_nanos,
    parse_click_leaf,
    parse_impression_leaf,
)
from revstream.ads._ledger import (
    ADVERTISER_CREDIT,
    ADVERTISER_RESERVED,
    ad_click_charge,
    ad_impression_charge,
    ad_release,
    ad_reserve,
    advertiser_top_up,
)
from revstream.ads._policy import (
    AGE_13_17,
    AGE_ADULT,
    AGE_BANDS,
    AGE_UNDER_13,
    AGE_UNKNOWN,
    AdPolicy,
    Eligibility,
    ad_eligibility,
    audience_eligibility,
    effective_age_band,
    parse_age_band,
)
from revstream.ads._repository import DeliveryRow, delivery, repository_entry, utc_day
from revstream.ads._sensitive import LocalClassifier, Sensitivity, load_classifier
from revstream.ads._sponsored import SPONSORED_FIELD, SPONSORED_LABEL, sponsored_chunk, sponsored_object, with_sponsored
from revstream.ads._taxonomy import TAXONOMY_NAME, TAXONOMY_SHA256, Category, Taxonomy, load_taxonomy
from revstream.ads._topics import CONVERSATION_BLOCKS, SENSITIVE_TOPICS
from revstream.ads._upstream import (
    TopicClassifier,
    UpstreamClassifier,
    combine,
    parse_upstream_reply,
    upstream_request,
    upstream_unavailable,
)

__all__ = [
    "ADVERTISER_CREDIT",
    "ADVERTISER_RESERVED",
    "AGE_13_17",
    "AGE_ADULT",
    "AGE_BANDS",
    "AGE_UNDER_13",
    "AGE_UNKNOWN",
    "BID_CPC",
    "BID_CPM",
    "CLICK_BUDGET",
    "CLICK_BURST",
    "CLICK_CHARGED",
    "CLICK_EXPIRED",
    "CLICK_NOT_BILLABLE",
    "CLICK_OUTCOMES",
    "CLICK_REPLAY",
    "CONVERSATION_BLOCKS",
    "KIND_CLICK",
    "KIND_IMPRESSION",
    "NO_ELIGIBLE",
    "NO_MATCH",
    "SENSITIVE_TOPICS",
    "SPONSORED_FIELD",
    "SPONSORED_LABEL",
    "STREAM_ADS",
    "TAXONOMY_NAME",
    "TAXONOMY_SHA256",
    "AdPolicy",
    "AdsError",
    "AdsLeafError",
    "AdsValueError",
    "AuctionInput",
    "AuctionRules",
    "BurstRule",
    "Campaign",
    "CampaignIndex",
    "CampaignState",
    "Candidates",
    "Category",
    "CategoryMatch",
    "ClassifierError",
    "ClickClaim",
    "ClickLeaf",
    "ClickTokenError",
    "ClickVerdict",
    "Conversation",
    "DeliveryRow",
    "Eligibility",
    "ImpressionLeaf",
    "LocalClassifier",
    "NoAd",
    "Sale",
    "Sensitivity",
    "StreamGross",
    "Taxonomy",
    "TaxonomyError",
    "TopicClassifier",
    "UpstreamClassifier",
    "WindowCounter",
    "ad_click_charge",
    "ad_eligibility",
    "ad_impression_charge",
    "ad_release",
    "ad_reserve",
    "ads_gross",
    "advertiser_top_up",
    "audience_eligibility",
    "click_contribution",
    "click_leaf",
    "combine",
    "conversation_key",
    "count_click",
    "delivery",
    "effective_age_band",
    "expected_value",
    "impression_contribution",
    "impression_leaf",
    "issue_click_token",
    "json_nanos",
    "judge_click",
    "load_classifier",
    "load_taxonomy",
    "match_categories",
    "message_texts",
    "network_key",
    "parse_age_band",
    "parse_click_leaf",
    "parse_impression_leaf",
    "parse_upstream_reply",
    "predicted_click_rate",
    "read_click_token",
    "read_conversation",
    "repository_entry",
    "run_auction",
    "sponsored_chunk",
    "sponsored_object",
    "upstream_request",
    "upstream_unavailable",
    "utc_day",
    "with_sponsored",
]
