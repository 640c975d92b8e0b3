"""The ``sponsored`` object, and that the official ``openai`` SDK still parses every response."""

from __future__ import annotations

import json

import httpx
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from revstream.ads import (
    SPONSORED_LABEL,
    AuctionInput,
    AuctionRules,
    Campaign,
    CampaignIndex,
    ClickClaim,
    Sale,
    issue_click_token,
    match_categories,
    read_conversation,
    run_auction,
    sponsored_chunk,
    sponsored_object,
    with_sponsored,
)

NOON_US = 1_767_268_800_000_000
KEY = b"k" * 32
COMPLETION = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1_767_268_800, "model": "smollm2-135m-instruct",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Look for cushioning."},
                 "finish_reason": "stop", "logprobs": None}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16},
}


def _sale(taxonomy) -> Sale:
    campaign = Campaign("camp-1", "adv-1", "Acme Running", "Acme Running GmbH", "Trail shoes", "Light and grippy.",
                        "https://shop.acme.example/trail?ref=rs", "USD", "cpm", 3_000_000_000,
                        keywords=("running shoes",), categories=("227",))
    index = CampaignIndex([campaign], taxonomy, AuctionRules())
    conversation = read_conversation(["Best running shoes for a marathon?"])
    candidates = index.match(conversation, match_categories(taxonomy, conversation))
    return run_auction(index, candidates, AuctionInput(NOON_US, {}, {"adv-1": 10**12}, {}))


def _sponsored(taxonomy) -> dict:
    token = issue_click_token(KEY, ClickClaim("camp-1", "imp-1", "ab" * 16, NOON_US + 3_600_000_000))
    return sponsored_object(_sale(taxonomy), taxonomy, "imp-1", f"https://host.example/ads/click/{token}")


def test_the_object_says_what_dsa_art_26_asks(taxonomy):
    sponsored = _sponsored(taxonomy)
    assert sponsored["label"] == SPONSORED_LABEL == "Sponsored"
    assert (sponsored["advertiser"], sponsored["paid_by"]) == ("Acme Running", "Acme Running GmbH")
    assert sponsored["url"].startswith("https://host.example/ads/click/v1.")
    assert sponsored["display_url"] == "shop.acme.example"
    why = sponsored["why"]
    assert why["keywords"] == ["running shoes"]
    assert why["categories"] == [{"id": "227", "name": "Healthy Living > Fitness and Exercise > Running and Jogging"}]
    assert why["personal_data_used"] is False and "running shoes" in why["summary"]
    json.dumps(sponsored)  # plain JSON, nothing exotic


def test_the_sdk_reads_sponsored_from_a_completion(taxonomy):
    body = with_sponsored(COMPLETION, _sponsored(taxonomy))
    completion = ChatCompletion.model_validate(json.loads(json.dumps(body)))
    assert completion.choices[0].message.content == "Look for cushioning."
    assert completion.model_extra["sponsored"]["label"] == "Sponsored"
    assert "sponsored" not in COMPLETION  # the answer's body itself is untouched


def test_the_sdk_reads_sponsored_from_a_stream_chunk(taxonomy):
    chunk = ChatCompletionChunk.model_validate(sponsored_chunk("chatcmpl-1", 1_767_268_800, "m", _sponsored(taxonomy)))
    assert chunk.choices == []
    assert chunk.model_extra["sponsored"]["advertiser"] == "Acme Running"


def _client(handler) -> openai.OpenAI:
    return openai.OpenAI(base_url="http://gateway.test/v1", api_key="rs-test",
                         http_client=httpx.Client(transport=httpx.MockTransport(handler)))


def test_the_sdk_client_parses_a_sponsored_response_end_to_end(taxonomy):
    body = with_sponsored(COMPLETION, _sponsored(taxonomy))
    client = _client(lambda request: httpx.Response(200, json=body))
    reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "shoes?"}])
    assert reply.model_extra["sponsored"]["why"]["keywords"] == ["running shoes"]


def test_the_sdk_client_streams_the_sponsored_chunk_after_usage(taxonomy):
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_767_268_800, "model": "m"}
    events = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Look"}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}},
        sponsored_chunk("chatcmpl-1", 1_767_268_800, "m", _sponsored(taxonomy)),
    ]
    stream = "".join(f"data: {json.dumps(event)}\n\n" for event in events) + "data: [DONE]\n\n"
    client = _client(lambda request: httpx.Response(200, text=stream, headers={"content-type": "text/event-stream"}))
    chunks = list(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "shoes?"}],
                                                 stream=True, stream_options={"include_usage": True}))
    assert [c.usage is not None for c in chunks] == [False, False, True, False]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Look"
    assert chunks[-1].choices == [] and chunks[-1].model_extra["sponsored"]["label"] == "Sponsored"
