"""A real gateway (in this process, fake backends) with a known history for the dashboard
tests: a licensor with a settled month of imported usage, a second licensor with nothing,
two customers with prepaid credit and live requests this month, and a signed checkpoint."""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import httpx
import orjson
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))

from inprocess import InProcessServer  # noqa: E402

from revstream.config import CostsConfig, TransparencyConfig  # noqa: E402
from revstream.gateway import create_app  # noqa: E402
from revstream.keys import hash_secret, new_admin_token  # noqa: E402
from revstream.money import parse_amount  # noqa: E402
from revstream.pricing import ModelPrice  # noqa: E402
from revstream.settlement import draft_agreement  # noqa: E402
from revstream.store import (  # noqa: E402
    add_agreement,
    add_credit,
    add_licensor,
    create_key,
    create_licensor_token,
    import_usage,
    init_log_key,
    latest_checkpoint,
    list_usage,
    put_meta_if_absent,
    set_model_licensor,
    set_price,
    settle,
)

FAST_LOG = TransparencyConfig(origin="example.com/log", log_append_interval_s=0.05, checkpoint_interval_s=3600,
                              checkpoint_records=1)
PROMPT = [{"role": "user", "content": "a b"}]  # two prompt tokens; fake-echo answers five
LIVE_REQUESTS = {"acme": 3, "globex": 2}


def now_us() -> int:
    return time.time_ns() // 1000


def previous_period(today: date) -> str:
    last = today.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def imported_lines(period: str) -> list[bytes]:
    """A month of usage for two customers: 1000 prompt tokens a record at 1000 USD per Mtok is
    1.00 USD, so a 15% share is whole cents and leaves no residue."""
    year, month = map(int, period.split("-"))
    records = [
        {"request_id": f"imp-{n}", "time": f"{year:04d}-{month:02d}-{n + 1:02d}T12:00:00Z",
         "customer": "acme" if n % 2 else "globex", "model": "fake-echo", "tokens_prompt": 1000,
         "tokens_completion": 0, "status": "ok"}
        for n in range(4)
    ]
    return [orjson.dumps(record) + b"\n" for record in records]


@dataclass
class Dashboard:
    server: InProcessServer
    admin: str
    licensor: str
    other_licensor: str
    keys: dict[str, str]
    customer_ids: dict[str, str]
    key_ids: dict[str, str]
    settled: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def get(self, path: str, token: str | None, **params) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.get(self.base_url + path, headers=headers, params=params or None, timeout=30)

    def records(self):
        return [r for r in list_usage(self.server.engine) if r.status != "pending"]


def _history(server: InProcessServer, period: str) -> tuple[str, str]:
    engine, at = server.engine, now_us()
    set_price(engine, ModelPrice.from_strings("fake-echo", "USD", "1000", "2000", date(2020, 1, 1)), at)
    add_licensor(engine, "Llama Labs", at)
    add_licensor(engine, "Other Labs", at)
    set_model_licensor(engine, "fake-echo", "Llama Labs", at)
    add_agreement(engine, draft_agreement(licensor="Llama Labs", models=("fake-echo",), currency="USD",
                                          effective_from=date(2020, 1, 1), effective_to=None, share_bps=1500), at)
    lines = imported_lines(period)
    import_usage(engine, lambda: iter(lines), at, False, None)
    settle(engine, period, at)
    return create_licensor_token(engine, "Llama Labs", at)[0], create_licensor_token(engine, "Other Labs", at)[0]


def _wait_for_checkpoint(server: InProcessServer, size: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stored = latest_checkpoint(server.engine)
        if stored is not None and stored.size >= size:
            return
        time.sleep(0.05)
    raise AssertionError("no checkpoint covering every record was signed")


def with_costs(server: InProcessServer, costs: CostsConfig) -> InProcessServer:
    """The same in-process server, configured with serving costs (before it starts)."""
    server.config = dataclasses.replace(server.config, costs=costs)
    server.app = create_app(server.config)
    server.server = uvicorn.Server(uvicorn.Config(server.app, port=server.port, log_level="warning", lifespan="on"))
    server.thread = threading.Thread(target=server.server.run, daemon=True)
    return server


def open_dashboard(server: InProcessServer) -> Dashboard:
    """Build the history on a server not started yet, start it, send the live requests."""
    period = previous_period(datetime.now(timezone.utc).date())
    init_log_key(server.engine, "example.com/log")
    licensor, other = _history(server, period)
    admin = new_admin_token()
    put_meta_if_absent(server.engine, "admin_token_sha256", hash_secret(admin))
    server.__enter__()
    keys, customer_ids, key_ids = {}, {}, {}
    for customer, credit in (("acme", "10.00"), ("globex", "5.00")):
        add_credit(server.engine, customer, parse_amount(credit, "USD"), "USD", now_us())
        key, row = create_key(server.engine, customer, now_us())
        keys[customer], customer_ids[customer], key_ids[customer] = key, row.customer_id, row.key_id
    for customer, count in LIVE_REQUESTS.items():
        client = server.client(keys[customer])
        for _ in range(count):
            client.chat.completions.create(model="fake-echo", messages=PROMPT, max_tokens=10)
    dashboard = Dashboard(server, admin, licensor, other, keys, customer_ids, key_ids, period)
    _wait_for_checkpoint(server, len(dashboard.records()))
    return dashboard
