"""The built-in webchat channel's pure parts, driven through the same core as WhatsApp."""

from __future__ import annotations

import orjson
import pytest

from revstream.messaging import (
    ADAPTERS,
    Channel,
    ChannelSendError,
    MessagingValueError,
    SignatureMissingError,
    WebhookPayloadError,
    Windows,
    adapter_for,
    on_inbound,
    sign_body,
)

from messaging_world import MARKETING, T0, UTILITY, Book, H, contact, template, text

WEBCHAT = adapter_for("webchat")
CHANNEL = Channel("web1", "acme", "webchat", ai_model="smollm2-135m-instruct")


def test_adapters_share_one_interface():
    assert sorted(ADAPTERS) == ["webchat", "whatsapp"]
    for adapter in ADAPTERS.values():
        for member in ("build_send", "parse_send_response", "verify", "parse_webhook", "platform_cost", "kind"):
            assert hasattr(adapter, member)
    assert (ADAPTERS["webchat"].platform_cost, ADAPTERS["whatsapp"].platform_cost) == (False, True)
    with pytest.raises(MessagingValueError):
        adapter_for("sms")


def test_webchat_send_plan_is_delivered_by_the_host():
    plan = WEBCHAT.build_send(channel=CHANNEL, to="session-1", outbound=template(UTILITY, T0, "A-7"), message_id="m1")
    assert plan.url is None
    assert orjson.loads(plan.body) == {"id": "m1", "type": "template", "text": "Your order A-7 has shipped",
                                       "template": "order_update"}
    assert WEBCHAT.parse_send_response(200, plan.body) == "m1"
    with pytest.raises(ChannelSendError):
        WEBCHAT.parse_send_response(410, plan.body)
    with pytest.raises(MessagingValueError):
        WEBCHAT.build_send(channel=Channel("w", "acme", "whatsapp", phone_number_id="1", app_secret_env="S"),
                           to="x", outbound=text(T0), message_id="m1")


def test_webchat_events_drive_windows_and_statuses():
    body = orjson.dumps({"channel": "web1",
                         "messages": [{"id": "in1", "from": "session-1", "time_us": T0, "text": "hello",
                                       "entry_point": "ad", "click_id": "clk_42"}],
                         "statuses": [{"id": "m1", "status": "delivered", "time_us": T0 + 5}]})
    WEBCHAT.verify(body, {}, None)  # page endpoints authenticate the session instead
    batch = WEBCHAT.parse_webhook(body)
    (inbound,) = batch.inbound
    assert (inbound.referral.entry_point, inbound.referral.click_id, inbound.channel_address) == ("ad", "clk_42", "web1")
    book = Book(channel="webchat", windows=on_inbound(Windows(), inbound.time_us, entry_point=True))
    reply = book.send(contact(), text(T0 + H), "m1")
    assert reply.quote.pricing_type == "free_entry_point"
    (status,) = batch.statuses
    assert book.status("m1", status.status, status.time_us).charge_nanos == 0


def test_webchat_prices_from_its_own_rate_rows_without_platform_cost():
    book = Book(channel="webchat")
    quote = book.quote(contact(), template(MARKETING, T0))
    assert (quote.channel, quote.price_nanos, quote.cost_nanos) == ("webchat", 10_000_000, 0)


def test_webchat_signed_reports():
    body = b'{"channel": "web1", "statuses": []}'
    WEBCHAT.verify(body, {"X-Revstream-Signature-256": sign_body(body, b"s3cret")}, b"s3cret")
    with pytest.raises(SignatureMissingError):
        WEBCHAT.verify(body, {}, b"s3cret")


@pytest.mark.parametrize("body", [
    b"{}", b'{"channel": "web1", "messages": [{"id": "a", "from": "s", "time_us": 1.5, "text": "x"}]}',
    b'{"channel": "web1", "messages": [{"id": "a", "from": "s", "time_us": 1, "text": "x", "entry_point": "tv"}]}',
    b'{"channel": "web1", "statuses": [{"id": "a", "status": "lost", "time_us": 1}]}', b"nope",
])
def test_malformed_webchat_reports(body):
    with pytest.raises(WebhookPayloadError):
        WEBCHAT.parse_webhook(body)
