"""A business's balance shows its messages' holds as reserved (issue 14): the quoted price
of a message not yet delivered is neither available nor spent; delivery moves it to spent
money, failure back to available. Through the store on both stores, and through
`revstream balance --json` and GET /v1/balance of a real server."""

from __future__ import annotations

import httpx

from conftest import start_server
from revstream.messaging import StatusUpdate
from revstream.store import SendRequest, apply_statuses, customer_balance, send_messages, set_platform_ids

from test_messaging_store import T0, world  # noqa: F401  (the fixture: a business with USD 1 of credit)

MARKETING_NANOS = 12_500_000


def _send(engine, channel_id, count: int) -> list[str]:
    customer_id = customer_balance(engine, "acme").customer_id
    sent = send_messages(engine, [SendRequest(customer_id, channel_id, "+919800000001", T0 + i, "llama",
                                              template="spring_sale", parameters=("x",)) for i in range(count)], T0)
    ids = [s.message["id"] for s in sent]
    set_platform_ids(engine, [(m, "wamid." + m) for m in ids])
    return ids


def _status(engine, channel_id, message_id: str, what: str) -> None:
    apply_statuses(engine, channel_id, (StatusUpdate("wamid." + message_id, "1234567", what, T0 + 5),), T0 + 5)


def test_message_holds_are_reserved_until_delivered_or_failed(world) -> None:  # noqa: F811
    engine, channel_id = world
    delivered, failed, waiting = _send(engine, channel_id, 3)
    balance = customer_balance(engine, "acme")
    assert (balance.available_nanos, balance.reserved_nanos) == (1_000_000_000 - 3 * MARKETING_NANOS,
                                                                 3 * MARKETING_NANOS)
    _status(engine, channel_id, delivered, "delivered")
    _status(engine, channel_id, failed, "failed")
    balance = customer_balance(engine, "acme")
    assert (balance.available_nanos, balance.reserved_nanos) == (1_000_000_000 - 2 * MARKETING_NANOS, MARKETING_NANOS)


def test_the_cli_and_the_api_show_message_holds_as_reserved(world, tmp_path) -> None:  # noqa: F811
    engine, channel_id = world
    _send(engine, channel_id, 2)
    server = start_server(tmp_path / "home", f'[store]\ndatabase_url = "{engine.url.render_as_string(False)}"\n')
    try:
        shown = server.cli_json("balance", "--customer", "acme")
        assert (int(shown["reserved_nanos"]), int(shown["available_nanos"])) == (2 * MARKETING_NANOS,
                                                                               1_000_000_000 - 2 * MARKETING_NANOS)
        key = server.new_key("acme")
        mine = httpx.get(server.v1 + "/balance", headers={"authorization": f"Bearer {key}"}, timeout=60).json()
        assert int(mine["reserved_nanos"]) == 2 * MARKETING_NANOS
    finally:
        server.stop()
