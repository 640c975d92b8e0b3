"""Messaging stored (issue 14), on SQLite and the real PostgreSQL: a send holds the quoted
price, `delivered` books it (and the platform's cost), `failed` releases it, a repeated
status changes nothing, a refused send writes nothing, and the ledger stays balanced."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from revstream.messaging import InboundMessage, Referral, SendRefused, StatusUpdate, instant_us, parse_rate_card_csv
from revstream.store import (
    MessageHoldRefused,
    SendRequest,
    add_channel,
    add_contact,
    add_credit,
    add_template,
    apply_statuses,
    balances_of,
    check_ledger,
    customer_balance,
    import_rate_card,
    list_budgets,
    list_channels,
    make_engine,
    messages_report,
    record_inbound,
    record_opt_in,
    send_message,
    set_budget,
    set_platform_id,
    set_template,
    upgrade,
)
from revstream.store._messaging_schema import msg_messages

from messaging_world import FIXTURES

T0 = instant_us("2025-07-10T09:00:00Z")
HOUR_US = 3_600_000_000
CARD_ROWS = parse_rate_card_csv((FIXTURES / "ratecard_scenarios.csv").read_text())


@pytest.fixture
def world(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    add_credit(engine, "acme", 1_000_000_000, "USD", T0)
    channel = add_channel(engine, "acme", "whatsapp", T0, phone_number_id="1234567", app_secret_env="ACME_SECRET",
                          market="IN", country="GB")
    assert import_rate_card(engine, CARD_ROWS, T0)["added"] == len(CARD_ROWS)
    assert import_rate_card(engine, CARD_ROWS, T0)["added"] == 0  # the same card again: nothing new
    add_contact(engine, channel["channel_id"], "+919800000001", "IN", T0)
    for scope in ("messaging", "marketing"):
        record_opt_in(engine, channel["channel_id"], "+919800000001", scope, True, T0 - HOUR_US, "form")
    add_contact(engine, channel["channel_id"], "+919800000002", "IN", T0)  # no opt-in at all
    add_template(engine, "acme", "spring_sale", "en_US", "marketing", "Sale: {{1}} off", T0 - HOUR_US, "approved")
    add_template(engine, "acme", "order_update", "en_US", "utility", "Order {{1}} shipped", T0 - HOUR_US, "approved")
    yield engine, channel["channel_id"]
    engine.dispose()


def _send(engine, channel_id, to="+919800000001", at=T0, **what):
    return send_message(engine, SendRequest(_customer(engine), channel_id, to, at, "llama", **what)).message


def _customer(engine) -> str:
    return customer_balance(engine, "acme").customer_id


def _status(engine, channel_id, message, status, at):
    platform_id = message["id"] + "-wamid"
    set_platform_id(engine, message["id"], platform_id)
    return apply_statuses(engine, channel_id, (StatusUpdate(platform_id, "1234567", status, at),), at)


def test_marketing_is_held_then_booked_once_with_its_platform_cost(world) -> None:
    engine, channel_id = world
    message = _send(engine, channel_id, template="spring_sale", parameters=("20%",))
    assert (message["category"], message["window"], message["quoted_price_nanos"]) == ("marketing", "closed", 12_500_000)
    assert customer_balance(engine, "acme").available_nanos == 1_000_000_000 - 12_500_000
    first = _status(engine, channel_id, message, "delivered", T0 + 1)
    again = _status(engine, channel_id, message, "delivered", T0 + 1)  # the platform retried its webhook
    assert first[0]["charge_nanos"] == 12_500_000 and again[0]["effect"] == "duplicate"
    balances = balances_of(engine, ["host", _customer(engine)])
    assert balances[("host", "host_revenue", "USD")] == -12_500_000
    assert balances[("host", "messaging_cost", "USD")] == 10_700_000
    assert balances[("host", "platform_payable", "USD")] == -10_700_000
    assert balances.get((_customer(engine), "customer_reserved", "USD"), 0) == 0
    assert customer_balance(engine, "acme").available_nanos == 1_000_000_000 - 12_500_000
    assert check_ledger(engine).ok
    report = messages_report(engine, "2025-07")
    assert report["totals"] == [{"currency": "USD", "messages": 1, "fees_nanos": 12_500_000,
                                 "costs_nanos": 10_700_000, "margin_nanos": 1_800_000}]


def test_failed_delivery_releases_the_hold_and_charges_nothing(world) -> None:
    engine, channel_id = world
    message = _send(engine, channel_id, template="spring_sale", parameters=("20%",))
    _status(engine, channel_id, message, "failed", T0 + 1)
    assert customer_balance(engine, "acme").available_nanos == 1_000_000_000
    assert balances_of(engine, ["host"]).get(("host", "host_revenue", "USD"), 0) == 0
    assert check_ledger(engine).ok


def test_refused_sends_write_nothing(world) -> None:
    engine, channel_id = world
    with pytest.raises(SendRefused) as closed:
        _send(engine, channel_id, text="hello")  # no inbound yet: no window
    assert closed.value.code == "window_closed"
    with pytest.raises(SendRefused) as marketing:
        _send(engine, channel_id, to="+919800000002", template="spring_sale", parameters=("20%",))
    assert marketing.value.code == "no_marketing_opt_in"
    assert messages_report(engine, "2025-07")["lines"] == []
    assert customer_balance(engine, "acme").available_nanos == 1_000_000_000


def test_an_inbound_message_opens_the_free_service_window(world) -> None:
    engine, channel_id = world
    stored = record_inbound(engine, channel_id, InboundMessage("wamid.in1", "1234567", "+919800000001", T0, "text",
                                                              "where is my order?"), T0)
    replay = record_inbound(engine, channel_id, InboundMessage("wamid.in1", "1234567", "+919800000001", T0, "text",
                                                              "where is my order?"), T0)
    assert stored["effect"] == "new" and stored["service_open"] and replay["effect"] == "duplicate"
    reply = _send(engine, channel_id, at=T0 + HOUR_US, text="It ships today.")
    utility = _send(engine, channel_id, at=T0 + HOUR_US, template="order_update", parameters=("A1",))
    assert (reply["category"], reply["quoted_price_nanos"]) == ("service", 0)
    assert (utility["window"], utility["quoted_price_nanos"]) == ("customer_service", 0)
    later = _send(engine, channel_id, at=T0 + 25 * HOUR_US, template="order_update", parameters=("A2",))
    assert (later["window"], later["quoted_price_nanos"]) == ("closed", 4_000_000)  # utility outside: charged


def test_a_recategorized_template_is_priced_by_its_category_from_then_on(world) -> None:
    engine, channel_id = world
    before = _send(engine, channel_id, template="order_update", parameters=("A1",))
    set_template(engine, "acme", "order_update", "en_US", T0 + HOUR_US, category="marketing")
    after = _send(engine, channel_id, at=T0 + 2 * HOUR_US, template="order_update", parameters=("A2",))
    assert (before["category"], before["quoted_price_nanos"]) == ("utility", 4_000_000)
    assert (after["category"], after["quoted_price_nanos"]) == ("marketing", 12_500_000)


def test_no_credit_no_hold(world) -> None:
    engine, channel_id = world
    add_channel(engine, "poor", "webchat", T0, market="IN")
    add_credit(engine, "poor", 1_000_000, "USD", T0)  # 0.001 USD, less than one marketing message
    channel = list_channels(engine, "poor")[0]
    add_contact(engine, channel["channel_id"], "visitor-0001", "IN", T0)
    record_opt_in(engine, channel["channel_id"], "visitor-0001", "marketing", True, T0 - 1)
    record_opt_in(engine, channel["channel_id"], "visitor-0001", "messaging", True, T0 - 1)
    add_template(engine, "poor", "promo", "en", "marketing", "Promo", T0 - 1, "approved")
    customer_id = customer_balance(engine, "poor").customer_id
    with pytest.raises(MessageHoldRefused):
        send_message(engine, SendRequest(customer_id, channel["channel_id"], "visitor-0001", T0, "llama",
                                         template="promo"))
    assert messages_report(engine, "2025-07")["lines"] == []


def test_utility_volume_tiers_count_the_months_charged_deliveries(world) -> None:
    engine, channel_id = world
    prices = []
    for n in range(5):  # tiers of the card: 1-2 at 0.0040, 3-4 at 0.0035, 5+ at 0.0030
        message = _send(engine, channel_id, at=T0 + n, template="order_update", parameters=(f"A{n}",))
        [result] = _status(engine, channel_id, message, "delivered", T0 + 10 + n)
        prices.append(result["charge_nanos"])
    assert prices == [4_000_000, 4_000_000, 3_500_000, 3_500_000, 3_000_000]
    august = _send(engine, channel_id, at=instant_us("2025-08-01T00:00:00Z"), template="order_update",
                   parameters=("B1",))
    assert august["quoted_price_nanos"] == 4_000_000  # a new calendar month counts from one again
    assert check_ledger(engine).ok


def test_a_reply_to_an_ad_click_opens_the_free_entry_window(world) -> None:
    engine, channel_id = world
    record_inbound(engine, channel_id, InboundMessage("wamid.ad1", "1234567", "+919800000001", T0, "text", "Hi!",
                                                      Referral("ad", "ad-42", "click-1")), T0)
    reply = _send(engine, channel_id, at=T0 + HOUR_US, text="Welcome!")
    marketing = _send(engine, channel_id, at=T0 + 48 * HOUR_US, template="spring_sale", parameters=("10%",))
    after = _send(engine, channel_id, at=T0 + HOUR_US + 72 * HOUR_US, template="spring_sale", parameters=("10%",))
    assert (reply["window"], reply["pricing_type"]) == ("free_entry", "free_entry_point")
    assert (marketing["window"], marketing["quoted_price_nanos"]) == ("free_entry", 0)
    assert (after["window"], after["quoted_price_nanos"]) == ("closed", 12_500_000)


def test_a_budget_bounds_message_holds(world) -> None:
    engine, channel_id = world
    set_budget(engine, "acme", None, "month", 20_000_000, "USD", T0)  # room for one marketing message
    _send(engine, channel_id, template="spring_sale", parameters=("20%",))
    with pytest.raises(MessageHoldRefused, match="Budget exceeded"):
        _send(engine, channel_id, at=T0 + 1, template="spring_sale", parameters=("20%",))
    [budget] = list_budgets(engine, T0)
    assert budget["reserved_nanos"] == 12_500_000


def test_a_delivery_reported_after_the_logged_failure_charges_nothing(world) -> None:
    engine, channel_id = world
    message = _send(engine, channel_id, template="spring_sale", parameters=("20%",))
    _status(engine, channel_id, message, "failed", T0 + 1)
    with engine.begin() as connection:  # the appender made the failed message a leaf
        connection.execute(update(msg_messages).where(msg_messages.c.message_id == message["id"]).values(log_index=0))
    [late] = _status(engine, channel_id, message, "delivered", T0 + 2)
    assert late["effect"] == "after_log"
    assert customer_balance(engine, "acme").available_nanos == 1_000_000_000
    assert balances_of(engine, ["host"]).get(("host", "host_revenue", "USD"), 0) == 0
    assert check_ledger(engine).ok
