"""Sponsored answers in the gateway (issue 13): who may see an ad, choosing it after the
answer, delivering it beside the answer, clicks, and the public ad repository.

The request path touches ads at three points, each one call:

1. before admission, `ad_request` reads the plan, the age band (`metadata.age_band`, the
   key's default) and the click base URL: None unless this request may carry an ad;
2. after generation, `AdRequest.place(answer)` classifies the conversation (the answer
   included), runs the auction on live state and reserves the impression: the ad never enters
   the model's context, and the answer is already final;
3. after the response carrying it went out, `Placed.deliver()` charges it; a response that
   did not go out leaves a reservation that `Placed.release()` (or the sweep) gives back.

Everything about the ad is contextual: the conversation's words, never the person.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import secrets
import time
from dataclasses import dataclass, field

import aiohttp
import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..ads import (
    AdPolicy,
    AdsValueError,
    AuctionInput,
    AuctionRules,
    BurstRule,
    CampaignIndex,
    ClickClaim,
    ClassifierError,
    ClickTokenError,
    Sale,
    Sensitivity,
    audience_eligibility,
    combine,
    conversation_key,
    effective_age_band,
    issue_click_token,
    load_classifier,
    load_taxonomy,
    match_categories,
    message_texts,
    network_key,
    parse_age_band,
    parse_upstream_reply,
    read_click_token,
    read_conversation,
    run_auction,
    sponsored_object,
    upstream_request,
    upstream_unavailable,
    utc_day,
)
from ..config._ads import AdsConfig, ads_settings
from ..keys import new_id
from ..store import (
    Placement,
    ad_repository,
    ads_secret,
    deliver_impression,
    key_age_band,
    live_state,
    load_campaigns,
    plan_kind_of,
    record_click,
    release_impression,
    reserve_impression,
    sweep_reservations,
)
from ._errors import ApiError, invalid
from ._loads import SharedLoads

log = logging.getLogger("revstream.gateway.ads")
CANDIDATES_READ_MAX = 64
"""Most candidates whose live state one auction reads (best first)."""
RESERVE_TRIES_MAX = 3
"""Auctions one answer runs when the store refuses the winner's reservation (budget gone meanwhile)."""
CACHE_ENTRIES_MAX = 10_000
CACHE_TTL_S = 5.0
_COUNTRY = re.compile(r"[A-Z]{2}")


class _Cache:
    """A small per-worker TTL cache (plans and keys' age bands change rarely)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[object, float]] = {}
        self._loads = SharedLoads()  # one read per key for every request that asks meanwhile

    async def get(self, key: str, read, *args):
        """The value for `key`, else `read(*args)`'s (in a thread), kept CACHE_TTL_S."""
        hit = self._entries.get(key)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        return await self._loads.run(key, lambda: self._load(key, read, args))

    async def _load(self, key: str, read, args: tuple):
        now = time.monotonic()
        value = await asyncio.to_thread(read, *args)
        if len(self._entries) >= CACHE_ENTRIES_MAX:
            self._entries.clear()
        self._entries[key] = (value, now + CACHE_TTL_S)
        return value


@dataclass(slots=True)
class AdsRuntime:
    """One worker's ad machinery, built in the lifespan."""

    settings: AdsConfig
    engine: object
    secret: bytes
    taxonomy: object
    classifier: object
    rules: AuctionRules
    policy: AdPolicy
    burst: BurstRule
    clock: object
    index: CampaignIndex | None = None
    plans: _Cache = field(default_factory=_Cache)
    bands: _Cache = field(default_factory=_Cache)
    session: aiohttp.ClientSession | None = None  # the upstream classifier's, made on first use

    async def classify(self, conversation) -> Sensitivity:
        """The local verdict, joined with the upstream classifier's when one is configured
        (it can only add topics; no answer in time means no ad)."""
        local = self.classifier.classify(conversation)
        settings = self.settings
        if local.blocks_ads or not settings.classifier_url:
            return local
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=settings.classifier_timeout_s))
        body = orjson.dumps(upstream_request(conversation.texts, settings.classifier_model))
        try:
            async with self.session.post(settings.classifier_url.rstrip("/") + "/chat/completions", data=body,
                                         headers={"content-type": "application/json"}) as reply:
                if reply.status != 200:
                    raise ClassifierError(f"the upstream classifier answered {reply.status}")
                upstream = parse_upstream_reply(orjson.loads(await reply.read()))
        except (aiohttp.ClientError, asyncio.TimeoutError, orjson.JSONDecodeError, ClassifierError) as error:
            log.warning("upstream ad classifier: %s", error)
            upstream = upstream_unavailable()
        return combine(local, upstream)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def refresh(self) -> None:
        """Build the next index aside (in a thread: about a second per 10,000 campaigns) and swap it in."""
        self.index = await asyncio.to_thread(self._build, utc_day(self.clock()))

    def _build(self, day: str) -> CampaignIndex:
        loaded = load_campaigns(self.engine, day)
        return CampaignIndex((c for c, _ in loaded), self.taxonomy, self.rules, {c.campaign_id: s for c, s in loaded})


async def build_ads_runtime(config, engine, clock) -> AdsRuntime:
    settings = ads_settings(config)
    taxonomy = await asyncio.to_thread(load_taxonomy)
    classifier = await asyncio.to_thread(load_classifier, taxonomy)
    secret = await asyncio.to_thread(ads_secret, engine)
    runtime = AdsRuntime(
        settings, engine, secret, taxonomy, classifier,
        AuctionRules(settings.currency, settings.reserve_cpm_nanos, settings.reserve_cpc_nanos),
        AdPolicy(settings.enabled, settings.ads_for_unknown_age), BurstRule(settings.burst_clicks_max,
                                                                            settings.burst_window_s), clock)
    if settings.enabled:
        await runtime.refresh()
    return runtime


async def run_ads_upkeep(runtime: AdsRuntime, stop: asyncio.Event) -> None:
    """Re-read campaigns every `index_refresh_s`; release stale reservations; at the end,
    close the upstream classifier's connections."""
    if not runtime.settings.enabled:
        return
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), runtime.settings.index_refresh_s)
        try:
            await runtime.refresh()
            now_us = runtime.clock()
            stale_us = now_us - runtime.settings.reservation_stale_s * 1_000_000
            await asyncio.to_thread(sweep_reservations, runtime.engine, stale_us, now_us)
        except Exception as error:  # a store hiccup must not stop the upkeep
            log.warning("ads upkeep failed: %s", error)
    await runtime.close()


# --- the request path ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Placed:
    """An impression reserved for a response: its `sponsored` object, delivered or released once."""

    runtime: AdsRuntime
    impression_id: str
    sponsored: dict

    async def deliver(self) -> None:
        await asyncio.to_thread(deliver_impression, self.runtime.engine, self.impression_id, self.runtime.clock())

    async def release(self) -> None:
        await asyncio.to_thread(release_impression, self.runtime.engine, self.impression_id, self.runtime.clock())

    async def settle(self, delivered: bool) -> None:
        """Charge the impression if its response went out whole, else give its reservation back."""
        await (self.deliver() if delivered else self.release())


@dataclass(frozen=True, slots=True)
class AdRequest:
    """A request that may carry an ad, as known before generation."""

    runtime: AdsRuntime
    request_id: str
    model: str
    messages: tuple[dict, ...]
    conversation_id: str | None
    click_base: str
    country: str | None = None  # `metadata.country`: campaigns limited to countries need it

    async def place(self, answer: str) -> Placed | None:
        """Choose and reserve an ad for `answer` (final): None when there is none to show."""
        try:
            return await self._place(answer)
        except Exception:  # an ad must never cost the customer an answer
            log.exception("no ad for %s: placing it failed", self.request_id)
            return None

    async def _place(self, answer: str) -> Placed | None:
        runtime = self.runtime
        conversation = read_conversation(message_texts(self.messages, answer))
        if runtime.index is None or (await runtime.classify(conversation)).blocks_ads:
            return None
        index = runtime.index
        candidates = index.match(conversation, match_categories(runtime.taxonomy, conversation))
        if not candidates.lists:
            return None
        first = next((text for text in message_texts(self.messages, "") if text), "")
        key = conversation_key(self.conversation_id, first, runtime.secret)
        ids = index.candidate_ids(candidates)[:CANDIDATES_READ_MAX]
        excluded: set[str] = set()
        for _ in range(RESERVE_TRIES_MAX):
            now_us = runtime.clock()
            live = await asyncio.to_thread(live_state, runtime.engine, ids, key, utc_day(now_us), runtime.rules.currency)
            sale = run_auction(index, candidates, AuctionInput(now_us, live.states, live.credit_nanos,
                                                                live.shown_in_conversation, self.country,
                                                                frozenset(excluded)))
            if not isinstance(sale, Sale):
                return None
            impression_id = new_id("imp")
            placement = Placement(impression_id, self.request_id, self.model, key,
                                  hashlib.sha256(answer.encode("utf-8")).hexdigest(), now_us)
            if await asyncio.to_thread(reserve_impression, runtime.engine, sale, placement):
                claim = ClickClaim(sale.campaign.campaign_id, impression_id, secrets.token_hex(16),
                                   now_us + runtime.settings.click_ttl_s * 1_000_000)
                url = f"{self.click_base}/ads/click/{issue_click_token(runtime.secret, claim)}"
                return Placed(runtime, impression_id, sponsored_object(sale, runtime.taxonomy, impression_id, url))
            excluded.add(sale.campaign.campaign_id)
        return None


def _metadata(body: object) -> tuple[str, str | None, str | None]:
    """(age band, conversation id, country) of a request's `metadata`; 400 for a wrong value."""
    metadata = body.get("metadata") if isinstance(body, dict) else None
    if metadata is None:
        return parse_age_band(None), None, None
    if not isinstance(metadata, dict):
        raise invalid("'metadata' must be an object", "metadata", "invalid_type")
    try:
        band = parse_age_band(metadata.get("age_band"))
    except AdsValueError as error:
        raise invalid(f"metadata.age_band: {error}", "metadata.age_band", "invalid_value") from None
    conversation_id = metadata.get("conversation_id")
    if conversation_id is not None and (not isinstance(conversation_id, str) or not 0 < len(conversation_id) <= 256):
        raise invalid("metadata.conversation_id must be a string of 1..256 characters", "metadata.conversation_id")
    country = metadata.get("country")
    if country is not None and (not isinstance(country, str) or _COUNTRY.fullmatch(country) is None):
        raise invalid("metadata.country must be an ISO 3166-1 alpha-2 code such as DE", "metadata.country")
    return band, conversation_id, country


async def ad_request(request: Request, parsed, principal, body: object) -> AdRequest | None:
    """Step 1 (see the module docstring): None unless the customer's plan carries ads and the
    end user is known not to be a minor (or the policy allows unknown ages)."""
    runtime: AdsRuntime | None = getattr(request.app.state, "ads", None)
    if runtime is None or not runtime.settings.enabled or not parsed.generation.messages:
        return None  # a host without ads reads nothing of `metadata`
    band, conversation_id, country = _metadata(body)
    now_us = runtime.clock()
    plan_kind = await runtime.plans.get(principal.customer_id, plan_kind_of, runtime.engine, principal.customer_id, now_us)
    key_band = await runtime.bands.get(principal.key_id, key_age_band, runtime.engine, principal.key_id)
    if not audience_eligibility(runtime.policy, plan_kind, effective_age_band(band, key_band)).eligible:
        return None
    messages = tuple({"role": m.role, "content": m.content} for m in parsed.generation.messages)
    base = runtime.settings.public_url or str(request.base_url)
    return AdRequest(runtime, request.scope["revstream.request_id"], parsed.generation.model, messages,
                     conversation_id, base.rstrip("/"), country)


# --- HTTP: clicks and the repository ---------------------------------------------------------

def _runtime(request: Request) -> AdsRuntime:
    runtime = getattr(request.app.state, "ads", None)
    if runtime is None:
        raise ApiError(404, "ads are not enabled on this host", code="not_found")
    return runtime


async def ad_click(request: Request) -> Response:
    """`GET /ads/click/{token}`: record the click, charge it if it is billable, redirect."""
    runtime = _runtime(request)
    try:
        claim = read_click_token(runtime.secret, request.path_params["token"])
    except ClickTokenError as error:
        raise ApiError(404, f"not an ad link of this host: {error}", code="invalid_click_token") from None
    address = request.client.host if request.client else "0.0.0.0"
    try:
        network = network_key(address, runtime.secret)
    except AdsValueError:
        network = network_key("0.0.0.0", runtime.secret)
    recorded = await asyncio.to_thread(record_click, runtime.engine, claim, runtime.clock(), network, runtime.burst)
    if recorded is None:
        raise ApiError(404, "this ad link names no ad shown by this host", code="unknown_impression")
    headers = {"cache-control": "no-store", "referrer-policy": "no-referrer"}
    return RedirectResponse(recorded[1], status_code=302, headers=headers)


async def ads_repository(request: Request) -> Response:
    """`GET /ads/repository`: every ad shown or running, public (DSA art. 39 style)."""
    runtime = _runtime(request)
    entries = await asyncio.to_thread(ad_repository, runtime.engine, runtime.taxonomy)
    return Response(orjson.dumps({"object": "list", "data": entries}), media_type="application/json")
