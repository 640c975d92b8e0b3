"""The labelled prompt set (tests/ads/data/prompts.tsv, 570+ prompts) through the real
gateway: a free-plan adult's request on a sensitive topic or from a minor never carries an ad,
even with campaigns on every targetable tier-1 category; every neutral commercial prompt that
such a campaign matches carries one. (Precision and recall of the classifier alone: see
test_ads_sensitive.py.)"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from revstream.ads import load_taxonomy

from tests.ads.harness import MODEL, AdsHost
from tests.ads.test_ads_sensitive import ROWS
from tests.licence.harness import Echo


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    Echo.answer = "Here is what I would suggest."
    tmp = tmp_path_factory.mktemp("ads-prompts")
    with AdsHost(f"sqlite:///{tmp / 'store.db'}", tmp / "home") as running:
        tier1 = [c.category_id for c in load_taxonomy().categories.values() if c.tier == 1 and c.block is None]
        running.campaign(advertiser="Everything Co", credit_nanos=10**12, keywords=(), categories=tuple(tier1[:32]))
        if len(tier1) > 32:
            running.campaign(advertiser="Everything Else Co", credit_nanos=10**12, keywords=(),
                             categories=tuple(tier1[32:64]))
        yield running


def test_no_sensitive_or_minor_prompt_gets_an_ad_and_matching_neutral_ones_do(host):
    client = host.client(host.customer("freebie"))

    def sponsored(row) -> bool:
        prompt = row[3]
        completion = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": prompt}],
                                                    metadata={"age_band": "18_plus"})
        return "sponsored" in (completion.model_extra or {})

    with ThreadPoolExecutor(max_workers=8) as pool:
        shown = list(pool.map(sponsored, ROWS))
    sensitive_with_ad = [row[3] for row, ad in zip(ROWS, shown) if row[0] and ad]
    expected = [(row, ad) for row, ad in zip(ROWS, shown) if not row[0] and row[2] != "-"]
    neutral_without_ad = [row[3] for row, ad in expected if not ad]
    print(f"\n{len(ROWS)} prompts: {sum(1 for row in ROWS if row[0])} sensitive or minor, {sum(shown)} ads shown; "
          f"{len(expected) - len(neutral_without_ad)}/{len(expected)} matching neutral prompts carried one")
    assert sensitive_with_ad == []
    assert neutral_without_ad == []
