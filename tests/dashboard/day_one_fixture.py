"""A host on its first day with money in every corner the dashboard must tell the truth about
(issue 12, item 12): a real gateway in this process (fake backends) with

* a subscription plan held since five months ago: a fee every month, stored by the one
  close and computed for every month after it;
* a customer with priced usage and usage of a model without a price (one customer, two
  currencies of record: "USD" and none); its live requests cost a fraction of a cent;
* two licensors, one whose agreement has a minimum guarantee, one with a cap, both topping
  up or cut in the one settled month; five months left unsettled after it;
* the host's `[host]` section and serving costs configured.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone

import httpx
import orjson
import uvicorn

from dashboard_fixture import FAST_LOG, InProcessServer, now_us  # noqa: F401  (FAST_LOG: for the caller)
from revstream.config import CostsConfig, HostConfig
from revstream.gateway import create_app
from revstream.keys import hash_secret, new_admin_token
from revstream.money import parse_amount
from revstream.periods import period_bounds_us, shift_period
from revstream.plans import draft_plan
from revstream.pricing import ModelPrice
from revstream.settlement import draft_agreement
from revstream.store import (
    add_agreement,
    add_credit,
    add_licensor,
    create_key,
    create_licensor_token,
    import_usage,
    init_log_key,
    list_usage,
    put_meta_if_absent,
    set_model_licensor,
    set_price,
    settle,
)
from revstream.store._plans import add_plan, subscribe

HOST = HostConfig(legal_name="Example Inference GmbH", address=("Musterstraße 1", "10115 Berlin", "Germany"),
                  tax_id="DE123456789", contact="billing@example.com")
COSTS = CostsConfig("USD", per_mtok_nanos=(("fake-echo", 20_000_000),))
UNSETTLED = 5  # months after the settled one, the current one included
LIVE = 3  # live requests of acme on fake-echo: 2 prompt + 5 completion tokens each, a fraction of a cent


def current_period() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m")


@dataclass
class DayOne:
    server: InProcessServer
    admin: str
    licensor: str  # Llama Labs: minimum guarantee
    capped: str  # Capped Labs: a cap
    acme: str  # acme's API key
    settled: str  # the one settled month
    unsettled: tuple[str, ...]

    @property
    def engine(self):
        return self.server.engine

    def get(self, path: str, token: str, **params) -> dict:
        response = httpx.get(f"http://127.0.0.1:{self.server.port}{path}", headers={"authorization": f"Bearer {token}"},
                             params=params or None, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()

    def records(self):
        return [r for r in list_usage(self.engine) if r.status != "pending"]


def _configure(server: InProcessServer) -> None:
    """The host's [host] and [costs] sections, before the server starts."""
    server.config = dataclasses.replace(server.config, host=HOST, costs=COSTS)
    server.app = create_app(server.config)
    server.server = uvicorn.Server(uvicorn.Config(server.app, port=server.port, log_level="warning", lifespan="on"))
    server.thread = threading.Thread(target=server.server.run, daemon=True)


def _imported(settled: str) -> list[bytes]:
    """In the settled month: acme's priced usage of both licensed models."""
    records = [
        {"request_id": "old-echo", "time": f"{settled}-03T12:00:00Z", "customer": "acme", "model": "fake-echo",
         "tokens_prompt": 1000, "tokens_completion": 0, "status": "ok"},  # 1.00 USD at 1000 USD per Mtok
        {"request_id": "old-capped", "time": f"{settled}-04T12:00:00Z", "customer": "acme", "model": "capped-model",
         "tokens_prompt": 1000, "tokens_completion": 0, "status": "ok"},  # 1.00 USD
    ]
    return [orjson.dumps(record) + b"\n" for record in records]


def _history(engine, settled: str) -> tuple[str, str]:
    at = now_us()
    since = date(2020, 1, 1)
    set_price(engine, ModelPrice.from_strings("fake-echo", "USD", "1000", "2000", since), at)
    set_price(engine, ModelPrice.from_strings("capped-model", "USD", "1000", "2000", since), at)
    # From the month after the settled one, fake-echo costs what a small model does: a live
    # request (2 prompt and 5 completion tokens) is 0.0000034 USD.
    cheap_from = date.fromisoformat(f"{shift_period(settled, 1)}-01")
    set_price(engine, ModelPrice.from_strings("fake-echo", "USD", "0.20", "0.60", cheap_from), at)
    for name, model in (("Llama Labs", "fake-echo"), ("Capped Labs", "capped-model")):
        add_licensor(engine, name, at)
        set_model_licensor(engine, model, name, at)
    add_agreement(engine, draft_agreement(licensor="Llama Labs", models=("fake-echo",), currency="USD",
                                          effective_from=since, share_bps=1000, minimum="5.00"), at)
    add_agreement(engine, draft_agreement(licensor="Capped Labs", models=("capped-model",), currency="USD",
                                          effective_from=since, share_bps=5000, cap="0.10"), at)
    add_plan(engine, draft_plan(name="pro", kind="subscription", currency="USD", fee="9.00", tokens_included=1000,
                                overage_per_mtok="1.00", models=("fake-echo", "capped-model")), at)
    subscribe(engine, "subs", "pro", period_bounds_us(settled)[0], at)
    lines = _imported(settled)
    import_usage(engine, lambda: iter(lines), at, False, None)
    settle(engine, settled, at)
    return create_licensor_token(engine, "Llama Labs", at)[0], create_licensor_token(engine, "Capped Labs", at)[0]


def open_day_one(server: InProcessServer) -> DayOne:
    """Build the history on a server not started yet, start it, send acme's live requests."""
    current = current_period()
    settled = shift_period(current, -UNSETTLED)
    _configure(server)
    init_log_key(server.engine, "example.com/log")
    licensor, capped = _history(server.engine, settled)
    admin = new_admin_token()
    put_meta_if_absent(server.engine, "admin_token_sha256", hash_secret(admin))
    server.__enter__()
    add_credit(server.engine, "acme", parse_amount("10.00", "USD"), "USD", now_us())
    key = create_key(server.engine, "acme", now_us())[0]
    client = server.client(key)
    for model in ("fake-echo",) * LIVE + ("fake-window",):  # fake-window has no price: a record of no currency
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "a b"}], max_tokens=10)
    deadline = time.monotonic() + 30
    while len([r for r in list_usage(server.engine) if r.status != "pending"]) < 2 + LIVE + 1:
        if time.monotonic() > deadline:
            raise AssertionError("the live requests were not recorded")
        time.sleep(0.05)
    unsettled = tuple(shift_period(settled, n) for n in range(1, UNSETTLED + 1))
    return DayOne(server, admin, licensor, capped, key, settled, unsettled)
