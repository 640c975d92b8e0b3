"""The sensitive-topic classifier on the labelled prompt set, and its rules one by one.

``data/prompts.tsv`` holds 574 labelled prompts: every sensitive topic, minors, neutral
commercial prompts and hard negatives that share vocabulary with a sensitive topic. The rule is
asymmetric: every sensitive prompt must be refused an ad (recall 100% on the set); a neutral
prompt that loses its ad costs revenue, so precision is reported, and held to a floor.

How far the set can be trusted: the lexicon was written together with the ``plain`` and
``hard`` prompts. Two batches were written *after* freezing the lexicon and measured before
any change (kinds ``heldout`` and ``heldout2``); then the lexicon was widened to pass them.
Measured before those changes (the honest estimate of recall on unseen phrasing):

* ``heldout`` (100 sensitive, 30 neutral): 72/100 sensitive prompts refused an ad, 65/100 with
  the exact topic; 0/30 neutral prompts lost their ad.
* ``heldout2`` (50 sensitive, 20 neutral, deliberately indirect phrasing): 29/50 refused,
  27/50 with the exact topic; 0/20 neutral prompts lost their ad.

So the local lexicon is a floor, not a guarantee: a deployment that serves ads should add an
upstream classifier model (``UpstreamClassifier``), which can only add refusals.

Run ``python tests/ads/test_ads_sensitive.py`` for the precision/recall table.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

from revstream.ads import (
    AGE_ADULT,
    SENSITIVE_TOPICS,
    AdPolicy,
    AuctionInput,
    AuctionRules,
    Campaign,
    CampaignIndex,
    NoAd,
    Sale,
    ad_eligibility,
    load_classifier,
    load_taxonomy,
    match_categories,
    message_texts,
    read_conversation,
    run_auction,
)
from revstream.ads._context import Conversation
from revstream.ads._sensitive import minor_signals
from revstream.ads._text import terms

PROMPTS = Path(__file__).parent / "data" / "prompts.tsv"
NEUTRAL = "neutral"
NOON_US = 1_767_268_800_000_000  # 2026-01-01T12:00:00Z
POLICY = AdPolicy()
RULES = AuctionRules(currency="USD", reserve_cpm_nanos=500_000_000)


def load_prompts() -> list[tuple[frozenset[str], str, str, str]]:
    rows = []
    for line in PROMPTS.read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        labels, kind, expect, prompt = line.split("\t")
        rows.append((frozenset(labels.split(",")) - {NEUTRAL}, kind, expect, prompt))
    return rows


ROWS = load_prompts()


def verdict(classifier, prompt):
    return classifier.classify(read_conversation(message_texts([{"role": "user", "content": prompt}], "")))


def metrics(classifier) -> dict[str, tuple[int, int, int]]:
    """Per topic and overall: (true positives, false negatives, false positives)."""
    counts: dict[str, list[int]] = {topic: [0, 0, 0] for topic in (*SENSITIVE_TOPICS, "sensitive (any)")}
    for labels, _kind, _expect, prompt in ROWS:
        found = verdict(classifier, prompt)
        for topic in SENSITIVE_TOPICS:
            hit, wanted = topic in found.topics, topic in labels
            counts[topic][0] += hit and wanted
            counts[topic][1] += wanted and not hit
            counts[topic][2] += hit and not wanted
        blocked, wanted = found.blocks_ads, bool(labels)
        counts["sensitive (any)"][0] += blocked and wanted
        counts["sensitive (any)"][1] += wanted and not blocked
        counts["sensitive (any)"][2] += blocked and not wanted
    return {topic: tuple(value) for topic, value in counts.items()}


def test_the_set_is_large_and_covers_every_topic():
    assert len(ROWS) >= 300
    per_topic = Counter(topic for labels, *_ in ROWS for topic in labels)
    assert set(per_topic) == set(SENSITIVE_TOPICS)
    assert min(per_topic.values()) >= 20, per_topic
    kinds = Counter(kind for labels, kind, *_ in ROWS if not labels)
    assert kinds["plain"] >= 60 and kinds["hard"] >= 50


@pytest.mark.parametrize("labels,kind,expect,prompt", [row for row in ROWS if row[0]], ids=lambda v: str(v)[:40])
def test_every_sensitive_prompt_is_refused(classifier, labels, kind, expect, prompt):
    found = verdict(classifier, prompt)
    assert found.blocks_ads, prompt
    assert labels & set(found.topics), (prompt, found)


def test_plain_commercial_prompts_keep_their_ad(classifier):
    refused = [prompt for labels, kind, _e, prompt in ROWS
               if not labels and kind == "plain" and verdict(classifier, prompt).blocks_ads]
    assert refused == []


def test_precision_stays_above_a_floor(classifier):
    true_positives, _false_negatives, false_positives = metrics(classifier)["sensitive (any)"]
    assert true_positives * 100 >= 98 * (true_positives + false_positives)


def _catch_all_index(taxonomy, prompts):
    """Campaigns on every targetable tier-1 category, and one per prompt on all its words."""
    campaigns = [
        Campaign(f"tier1-{c.category_id}", "adv", "Advertiser", "Advertiser Ltd", "Title", "Text.",
                 "https://ads.example/", "USD", "cpm", 2_000_000_000, categories=(c.category_id,))
        for c in taxonomy.categories.values() if c.tier == 1 and c.block is None
    ]
    for number, prompt in enumerate(prompts):
        words = tuple(dict.fromkeys(term for term in terms(prompt) if term))[:64]
        campaigns.append(Campaign(f"words-{number}", "adv", "Advertiser", "Advertiser Ltd", "Title", "Text.",
                                  "https://ads.example/", "USD", "cpc", 500_000_000, keywords=words))
    return CampaignIndex(campaigns, taxonomy, RULES)


def decide(taxonomy, classifier, index, prompt):
    conversation = read_conversation(message_texts([{"role": "user", "content": prompt}], ""))
    eligibility = ad_eligibility(POLICY, "free", AGE_ADULT, classifier.classify(conversation))
    if not eligibility.eligible:
        return eligibility
    candidates = index.match(conversation, match_categories(taxonomy, conversation))
    return run_auction(index, candidates, AuctionInput(NOON_US, {}, {"adv": 10**15}, {}))


def test_no_sensitive_prompt_gets_an_ad_even_when_every_word_is_bought(taxonomy, classifier):
    sensitive = [prompt for labels, _k, _e, prompt in ROWS if labels]
    index = _catch_all_index(taxonomy, sensitive)
    sold = [prompt for prompt in sensitive if isinstance(decide(taxonomy, classifier, index, prompt), Sale)]
    assert sold == []


def test_neutral_prompts_with_a_matching_campaign_get_one(taxonomy, classifier):
    index = _catch_all_index(taxonomy, [])
    tier1 = {c.path[0]: c.category_id for c in taxonomy.categories.values() if c.tier == 1}
    expected = [(expect, prompt) for labels, _k, expect, prompt in ROWS if not labels and expect != "-"]
    assert len(expected) >= 90
    for _expect, prompt in expected:
        outcome = decide(taxonomy, classifier, index, prompt)
        assert isinstance(outcome, Sale), (prompt, outcome)
        assert not isinstance(outcome, NoAd)
    # and the expected category is among those the conversation is about
    for expect, prompt in expected:
        conversation = read_conversation([prompt])
        assert tier1[expect] in match_categories(taxonomy, conversation).category_ids, (expect, prompt)


# --- the rules, one by one --------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "I'm 14 and bored", "i am 12 years old", "im 15 how do i", "I'm only 11", "I'm turning 13 next week",
    "I just turned 16!", "a 10 year old like me", "she is 9yo", "my 13th birthday party", "I'm in 8th grade",
    "I'm in year 9", "we are in grade 7", "I am fourteen", "aged 12", "a 15-year-old",
])
def test_age_rules_catch_minors(text):
    assert minor_signals(terms(text)), text


@pytest.mark.parametrize("text", [
    "I'm 5 minutes late", "I'm 180 cm tall", "I'm 30 and tired", "I am 6 feet tall", "I'm 18 now",
    "a 25 year old developer", "my 40th birthday", "I'm 19",
    "grade A beef", "I'm 2 hours away",
])
def test_age_rules_leave_adults_alone(text):
    assert minor_signals(terms(text)) == (), text


def test_a_longer_neutral_phrase_hides_what_it_contains(classifier):
    assert not verdict(classifier, "Explain the Great Depression of 1929.").blocks_ads
    assert verdict(classifier, "My depression is getting worse.").topics == ("mental_health",)


def test_a_longer_sensitive_phrase_decides_over_a_shorter_one(classifier):
    found = verdict(classifier, "What does the European Union do?")
    assert found.topics == ("politics",)


def test_a_phrase_never_spans_two_messages(classifier):
    split = classifier.classify(read_conversation(["my tips for self", "harm reduction in code reviews"]))
    joined = classifier.classify(read_conversation(["my tips for self harm"]))
    assert "self_harm" not in split.topics and "self_harm" in joined.topics


def test_the_answer_is_read_too(classifier):
    conversation = read_conversation(message_texts([{"role": "user", "content": "Tell me about my results."}],
                                                   "Your biopsy shows a malignant tumour."))
    assert "health" in classifier.classify(conversation).topics


def test_unreadable_conversations_are_unjudged(classifier):
    assert classifier.classify(Conversation((), (), too_long=True)).unjudged == "too_long"
    german = "Ich habe seit drei Tagen starke Kopfschmerzen und Fieber, was soll ich tun"
    assert classifier.classify(read_conversation([german])).unjudged == "language"
    cyrillic = "У меня болит голова"
    assert classifier.classify(read_conversation([cyrillic])).unjudged == "language"


def test_blocked_taxonomy_keywords_feed_the_classifier(taxonomy):
    classifier = load_classifier(taxonomy)
    assert "health" in classifier.classify(read_conversation(["Any tips on plantar fasciitis"])).topics


def _table(classifier) -> str:
    lines = [f"{'topic':<18} {'prompts':>7} {'recall':>8} {'precision':>9}"]
    for topic, (tp, fn, fp) in metrics(classifier).items():
        recall = f"{tp}/{tp + fn}" if tp + fn else "-"
        precision = f"{tp}/{tp + fp}" if tp + fp else "-"
        lines.append(f"{topic:<18} {tp + fn:>7} {recall:>8} {precision:>9}")
    neutral = sum(1 for labels, *_ in ROWS if not labels)
    lines.append(f"neutral prompts: {neutral}; all prompts: {len(ROWS)}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(_table(load_classifier(load_taxonomy())) + "\n")
