"""Licence compliance in the gateway (issue 15): who the end user is, the acceptable-use screen
before admission, attribution on `/v1/models`, and the worker's merge of monthly active users,
acceptable-use counts and alerts into the store.

Per generation request, before admission (`screen_request`, called by the route handler):

1. the end user is counted for the request's calendar month: the OpenAI `user` field, else the
   `x-revstream-end-user` header, else the API key (`revstream.licence.MauBuffer`, one keyed
   hash in memory, no I/O);
2. the prompt (the last user message) is classified (the built-in classifier, or Llama Guard on
   an upstream) and the host's policy decides: `log`, `flag` (the response carries
   `x-revstream-content-flag`), or `refuse`: 400 `content_policy_violation`, raised before
   admission, so no usage record, no hold and no charge exist for it.

Every `mau_flush_interval_s` (and once more at shutdown) `run_licence_flusher` merges the
worker's new end users and counters into the store, in the usage writer's thread; the merge
answers the month's count over every worker and replica, which fires the alerts (a row per
month and percent in the store decides who fires: once, whatever the workers and restarts), a
log line, the optional webhook, and the gauges `/metrics` shows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Sequence

import aiohttp
import orjson

from ..config import Config
from ..config._licence import licence_settings
from ..licence import (
    ClassifierError,
    Decision,
    LicenceSettings,
    MauAlert,
    MauBuffer,
    ModelLicence,
    Registry,
    alert_crossings,
    classifier_for,
    decide,
    declared_models,
    load_registry,
    model_licences,
    refusal_error,
    threshold_in_force,
)
from ..store import add_use_counts, licence_secret, merge_mau, record_mau_alerts, set_alert_delivery
from ._errors import ApiError, invalid

log = logging.getLogger("revstream.licence")
END_USER_HEADER = "x-revstream-end-user"
END_USER_CHARS_MAX = 256
FLAG_HEADER = "x-revstream-content-flag"
WEBHOOK_TIMEOUT_S = 5.0
MONTHS_KEPT = 3
"""Months a worker remembers the merged count of (for alerts and gauges)."""
FLUSH_FAILURES_LOGGED_MAX = 3
"""Consecutive failed merges logged in full; the rest are counted (the store is down)."""


class LicenceRuntime:
    """A worker's licence state: built once in the lifespan (`build_licence_runtime`)."""

    def __init__(self, settings: LicenceSettings, registry: Registry, models: dict[str, ModelLicence],
                 threshold: tuple[int, str] | None, secret: bytes, classifier, origin: str) -> None:
        self.settings, self.registry, self.models, self.threshold = settings, registry, models, threshold
        self.buffer = MauBuffer(secret, settings.mau_exact_users_max)
        self.classifier = classifier
        self.origin = origin
        self._counts: dict[str, dict[str, int]] = {}
        self._users: dict[str, int] = {}  # month -> users over every worker, as of the last merge
        self._alerted: dict[str, int] = {}  # month -> the users whose alerts are recorded
        self.failures = 0
        self._session: aiohttp.ClientSession | None = None

    # --- the request path ---------------------------------------------------------------

    def count(self, month: str, name: str, amount: int = 1) -> None:
        counters = self._counts.get(month)
        if counters is None:
            counters = self._counts[month] = {}
        counters[name] = counters.get(name, 0) + amount

    async def classify(self, messages: Sequence[tuple[str, str]], role: str, month: str) -> Decision | None:
        """The policy's decision on the last message of `role`, counted for `month`; None when
        the classifier could not answer and the settings let the request through, or there is
        no classifier (`classifier = "none"`)."""
        if self.classifier is None:
            return None
        try:
            verdict = await self.classifier.classify(messages, role)
        except ClassifierError as error:
            self.count(month, "unavailable")
            if self.settings.classifier_unavailable == "refuse":
                raise ApiError(503, f"the acceptable-use classifier is unavailable: {error}", "server_error",
                               "classifier_unavailable", headers={"x-should-retry": "true"}) from error
            log.warning("acceptable-use classifier unavailable, request let through: %s", error)
            return None
        decision = decide(self.settings.acceptable_use, verdict)
        self.count(month, "classified")
        for category in decision.categories:
            self.count(month, category)
        if decision.refused:
            self.count(month, "refused")
        elif decision.flagged:
            self.count(month, "flagged")
        return decision

    # --- attribution --------------------------------------------------------------------

    def model_fields(self, name: str) -> dict:
        """What a `/v1/models` entry adds: the licence, and its attribution where it asks one."""
        found = self.models.get(name)
        if found is None:
            return {}
        fields = {"licence": found.licence_id}
        if found.attribution:
            fields["attribution"] = found.attribution
        return fields

    # --- merging into the store ---------------------------------------------------------

    async def flush(self, state) -> None:
        """Merge the new end users and counters into the store, then fire the alerts the
        counts crossed. What a failed step held is kept for the next flush."""
        engine, now_us = state.engine, time.time_ns() // 1000
        batches = self.buffer.take()
        for index, batch in enumerate(batches):
            try:
                merged = await state.writer.call(merge_mau, engine, batch.month, batch.hashes, batch.registers,
                                                 self.settings.mau_exact_users_max, self.threshold, now_us)
            except BaseException:
                for unmerged in batches[index:]:
                    self.buffer.restore(unmerged)
                raise
            if merged.registers is not None:
                self.buffer.merged_as_sketch(batch.month, merged.registers)
            self._users[batch.month] = merged.users
        counts, self._counts = self._counts, {}
        months = sorted(counts)
        for index, month in enumerate(months):
            try:
                await state.writer.call(add_use_counts, engine, month, counts[month])
            except BaseException:
                for unsaved in months[index:]:
                    for name, amount in counts[unsaved].items():
                        self.count(unsaved, name, amount)
                raise
        if self.threshold is not None:
            for month, users in sorted(self._users.items()):
                if users > self._alerted.get(month, 0):
                    await self._alert(state, month, users)
                    self._alerted[month] = users  # only once recorded: a failure is tried again
        for old in sorted(self._users)[:-MONTHS_KEPT]:
            self._users.pop(old)
            self._alerted.pop(old, None)

    async def _alert(self, state, month: str, users: int) -> None:
        threshold_users, licence_id = self.threshold
        crossings = alert_crossings(0, users, threshold_users, self.settings.mau_alert_percent)
        if not crossings:
            return
        fired = await state.writer.call(record_mau_alerts, state.engine, month, crossings, time.time_ns() // 1000)
        for alert in fired:
            log.warning("licence %s, %s: %s", licence_id, month, alert.message())
            if self.settings.mau_alert_webhook:
                state.spawn(self._deliver(state, month, alert))

    async def _deliver(self, state, month: str, alert: MauAlert) -> None:
        threshold_users, licence_id = self.threshold
        body = {"event": "licence.mau_alert", "host": self.origin, "month": month, "percent": alert.percent,
                "users": alert.users, "threshold_users": threshold_users, "licence": licence_id,
                "message": alert.message()}
        try:
            if self._session is None:
                self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S))
            async with self._session.post(self.settings.mau_alert_webhook, data=orjson.dumps(body),
                                          headers={"content-type": "application/json"}) as reply:
                status = f"sent {reply.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            status = f"failed: {type(error).__name__}"
            log.warning("licence alert webhook for %s at %d%% failed: %s", month, alert.percent, error)
        await state.writer.call(set_alert_delivery, state.engine, month, alert.percent, status)

    def metrics_text(self) -> bytes:
        """The gauges of the latest month this worker merged (every worker's users in it)."""
        if not self._users:
            return b""
        month = max(self._users)
        users = self._users[month]
        lines = [
            "# HELP revstream_licence_monthly_active_users Distinct end users this calendar month (UTC), "
            "every worker and replica, as of this worker's last merge",
            "# TYPE revstream_licence_monthly_active_users gauge",
            f'revstream_licence_monthly_active_users{{month="{month}"}} {users}',
        ]
        if self.threshold is not None:
            threshold_users, licence_id = self.threshold
            crossed = alert_crossings(0, users, threshold_users, self.settings.mau_alert_percent)
            lines += [
                "# HELP revstream_licence_mau_threshold_users The licence's monthly-active-user threshold",
                "# TYPE revstream_licence_mau_threshold_users gauge",
                f'revstream_licence_mau_threshold_users{{licence="{licence_id}"}} {threshold_users}',
                "# HELP revstream_licence_mau_alert_percent The highest alert level crossed this month (0: none)",
                "# TYPE revstream_licence_mau_alert_percent gauge",
                f'revstream_licence_mau_alert_percent{{month="{month}",licence="{licence_id}"}} '
                f'{crossed[-1].percent if crossed else 0}',
            ]
        return ("\n".join(lines) + "\n").encode()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        close = getattr(self.classifier, "close", None)
        if close is not None:
            await close()


# --- building and running -------------------------------------------------------------------

async def build_licence_runtime(config: Config, engine) -> LicenceRuntime:
    settings = licence_settings(config)
    registry = load_registry().extended(settings.licences, settings.weights)
    models = model_licences(registry, declared_models(config.models, settings))
    secret = await asyncio.to_thread(licence_secret, engine)
    classifier = classifier_for(settings)
    start = getattr(classifier, "start", None)
    if start is not None:
        await start()
    threshold = threshold_in_force(registry, (entry.licence_id for entry in models.values()),
                                   datetime.now(timezone.utc).date())
    return LicenceRuntime(settings, registry, models, threshold, secret, classifier, config.transparency.origin)


async def run_licence_flusher(state, stop: asyncio.Event) -> None:
    """Merge every `mau_flush_interval_s` until `stop` is set, then once more."""
    runtime: LicenceRuntime = state.licence
    interval_s = runtime.settings.mau_flush_interval_s
    while True:
        stopping = stop.is_set()
        try:
            await runtime.flush(state)
            runtime.failures = 0
        except Exception as error:  # a store hiccup must not kill the worker: the batch is kept
            runtime.failures += 1
            if runtime.failures <= FLUSH_FAILURES_LOGGED_MAX:
                log.warning("merging monthly active users into the store failed (kept for the next try): %s", error)
        if stopping:
            return
        try:
            await asyncio.wait_for(stop.wait(), interval_s)
        except TimeoutError:
            pass


# --- hooks the request path calls -----------------------------------------------------------

def end_user_of(parsed, headers) -> str | None:
    """The end user a request names: the OpenAI `user` field, else the documented header."""
    if parsed.user:
        return parsed.user
    header = headers.get(END_USER_HEADER)
    if header is None or not header.strip():
        return None
    if len(header) > END_USER_CHARS_MAX:
        raise invalid(f"the {END_USER_HEADER} header holds at most {END_USER_CHARS_MAX} characters", END_USER_HEADER)
    return header.strip()


async def screen_request(state, parsed, principal, headers) -> Decision | None:
    """Count the end user, then classify the prompt and apply the policy: raises the 400
    `content_policy_violation` of a refused prompt, before admission."""
    runtime: LicenceRuntime | None = state.licence
    if runtime is None or state.model(parsed.generation.model) is None:  # admission answers 404
        return None
    now_us = state.clock()
    runtime.buffer.observe(principal.customer_id, end_user_of(parsed, headers), principal.key_id, now_us)
    if runtime.classifier is None:  # `classifier = "none"`: nothing to screen, nothing to build for it
        return None
    generation = parsed.generation
    if generation.endpoint == "chat":
        messages = tuple((message.role, message.content) for message in generation.messages)
    else:
        messages = (("user", generation.prompt),)
    decision = await runtime.classify(messages, "user", runtime.buffer.month(now_us))
    if decision is not None and decision.refused:
        error = refusal_error(decision, "messages" if generation.endpoint == "chat" else "prompt")["error"]
        raise ApiError(400, error["message"], error["type"], error["code"], error["param"])
    return decision


def flag_headers(decision: Decision | None) -> dict[str, str]:
    """The response header of a flagged request (its categories, never its content)."""
    return {FLAG_HEADER: ",".join(decision.categories)} if decision is not None and decision.flagged else {}


def screens_outputs(state) -> bool:
    """Whether outputs are classified: then a streamed answer is held until it is (see
    `_pipeline._complete`), so a refused one never reaches the client."""
    runtime: LicenceRuntime | None = state.licence
    return runtime is not None and runtime.settings.classify_outputs


async def screen_output(state, parsed, text: str) -> Decision | None:
    """With `classify_outputs`, the decision on a whole completion (a streamed one is held)."""
    runtime: LicenceRuntime | None = state.licence
    if runtime is None or not runtime.settings.classify_outputs:
        return None
    generation = parsed.generation
    prompt = tuple((m.role, m.content) for m in generation.messages) if generation.endpoint == "chat" \
        else (("user", generation.prompt),)
    return await runtime.classify((*prompt, ("assistant", text)), "assistant",
                                  runtime.buffer.month(state.clock()))


async def output_refusal(state, parsed, text: str, headers: dict[str, str]) -> ApiError | None:
    """With `classify_outputs`: the 400 a refused completion answers instead (the caller has
    billed what was generated); a flagged one gets the flag header."""
    decision = await screen_output(state, parsed, text)
    if decision is None:
        return None
    if decision.refused:
        error = refusal_error(decision, None)["error"]
        return ApiError(400, error["message"].replace("This request", "This completion"), error["type"], error["code"])
    headers.update(flag_headers(decision))
    return None


def models_entry_fields(state, name: str) -> dict:
    runtime: LicenceRuntime | None = getattr(state, "licence", None)
    return runtime.model_fields(name) if runtime is not None else {}
