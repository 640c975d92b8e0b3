"""The WhatsApp adapter against the recorded fixtures (see fixtures/README.md)."""

from __future__ import annotations

import json

import orjson
import pytest

from revstream.messaging import (
    ADMIT_DUPLICATE,
    ADMIT_FUTURE,
    ADMIT_NEW,
    ADMIT_STALE,
    Channel,
    ChannelSendError,
    Outbound,
    SignatureInvalidError,
    SignatureMissingError,
    WebhookPayloadError,
    adapter_for,
    admit_event,
    event_age_max_us,
    sign_body,
)
from revstream.messaging._units import DAY_US, SECOND_US

from messaging_world import FIXTURES, UTILITY

SECRET = b"fixture-app-secret"
WHATSAPP = adapter_for("whatsapp")
CHANNEL = Channel("ch1", "acme", "whatsapp", phone_number_id="106540352242922", app_secret_env="ACME_WA_SECRET")


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def recorded_signature(name: str) -> str:
    return (FIXTURES / f"{name}.sig").read_text().strip()


# --- send ------------------------------------------------------------------------------

def test_template_send_request_matches_the_documented_body():
    outbound = Outbound("template", 0, template=UTILITY, parameters=("A-1042",))
    plan = WHATSAPP.build_send(channel=CHANNEL, to="+919876543210", outbound=outbound, message_id="msg_01J2ZQ4K8M3V6X9B")
    assert plan.url == "https://graph.facebook.com/v23.0/106540352242922/messages"
    assert dict(plan.headers) == {"Content-Type": "application/json"}  # no credential inside the plan
    assert orjson.loads(plan.body) == json.loads(raw("wa_send_request_template.json"))


def test_text_send_request_matches_the_documented_body():
    outbound = Outbound("text", 0, text="Your order A-1042 left our warehouse this morning.")
    plan = WHATSAPP.build_send(channel=CHANNEL, to="919876543210", outbound=outbound, message_id="msg_01J2ZQ4K8M3V6X9C")
    assert orjson.loads(plan.body) == json.loads(raw("wa_send_request_text.json"))


def test_send_request_refuses_a_recipient_that_is_not_a_number():
    with pytest.raises(ValueError):
        WHATSAPP.build_send(channel=CHANNEL, to="someone@example.com", outbound=Outbound("text", 0, text="hi"),
                            message_id="m1")


def test_send_response_and_error():
    assert WHATSAPP.parse_send_response(200, raw("wa_send_response.json")) == (
        "wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgSNzE2QjQ2M0Y0QkMxNkY5RjUzAA==")
    with pytest.raises(ChannelSendError) as error:
        WHATSAPP.parse_send_response(400, raw("wa_send_error.json"))
    assert error.value.code == 131030 and "allowed list" in str(error.value)
    with pytest.raises(ChannelSendError) as error:
        WHATSAPP.parse_send_response(502, b"<html>bad gateway</html>")
    assert error.value.code == 502


# --- webhooks --------------------------------------------------------------------------

def test_inbound_text_message():
    batch = WHATSAPP.parse_webhook(raw("wa_inbound_text.json"))
    (message,) = batch.inbound
    assert (message.channel_address, message.sender, message.time_us, message.message_type) == (
        "106540352242922", "919876543210", 1752138000 * SECOND_US, "text")
    assert message.text == "Bonjour, où en est ma commande ?" and message.referral is None
    assert message.event_key.startswith("in:wamid.")


def test_inbound_from_a_click_to_whatsapp_ad_is_an_entry_point():
    (message,) = WHATSAPP.parse_webhook(raw("wa_inbound_ctwa_referral.json")).inbound
    assert message.referral.entry_point == "ad"
    assert message.referral.source_id == "120212345678900123"
    assert message.referral.click_id.startswith("ARAkLkA8")


@pytest.mark.parametrize(("name", "status", "pricing"), [
    ("wa_status_sent_pmp.json", "sent", ("marketing", "regular", True, "PMP")),
    ("wa_status_delivered_pmp.json", "delivered", ("marketing", "regular", True, "PMP")),
    ("wa_status_read.json", "read", None),
    ("wa_status_failed.json", "failed", None),
    ("wa_status_free_customer_service.json", "delivered", ("utility", "free_customer_service", False, "PMP")),
    ("wa_status_free_entry_point.json", "delivered", ("marketing", "free_entry_point", False, "PMP")),
])
def test_status_webhooks(name, status, pricing):
    (update,) = WHATSAPP.parse_webhook(raw(name)).statuses
    assert update.status == status and update.recipient == "919876543210"
    assert update.callback_data == "msg_01J2ZQ4K8M3V6X9B"
    got = update.pricing and (update.pricing.category, update.pricing.pricing_type, update.pricing.billable,
                              update.pricing.pricing_model)
    assert got == pricing
    assert update.error_codes == ((131047,) if status == "failed" else ())


def test_template_category_updates():
    (done,) = WHATSAPP.parse_webhook(raw("wa_template_category_update.json")).template_updates
    assert (done.name, done.language, done.previous_category, done.new_category, done.impending) == (
        "order_update", "en_US", "utility", "marketing", False)
    assert done.time_us == 1752580800 * SECOND_US and done.template_id == "1315502779341834"
    (coming,) = WHATSAPP.parse_webhook(raw("wa_template_category_impending.json")).template_updates
    assert (coming.previous_category, coming.new_category, coming.impending) == ("utility", "marketing", True)
    assert coming.time_us == 1752580800 * SECOND_US  # when the change will apply, not when announced


def test_template_review_update():
    (review,) = WHATSAPP.parse_webhook(raw("wa_template_status_update.json")).template_reviews
    assert (review.name, review.review_state, review.time_us) == ("order_update", "approved", 1751360400 * SECOND_US)


def test_mixed_batch_keeps_order_and_names_ignored_fields():
    batch = WHATSAPP.parse_webhook(raw("wa_batch_mixed.json"))
    assert [s.status for s in batch.statuses] == ["delivered", "read"]
    assert [m.message_type for m in batch.inbound] == ["button"] and batch.inbound[0].text is None
    assert batch.ignored_fields == ("account_update",)


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b'{"object": "page", "entry": []}',
    b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {}}]}]}',
    b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {"metadata":'
    b' {"phone_number_id": "1"}, "statuses": [{"id": "w", "status": "deleted", "timestamp": "1"}]}}]}]}',
    b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {"metadata":'
    b' {"phone_number_id": "1"}, "statuses": [{"id": "w", "status": "sent", "timestamp": "1.5"}]}}]}]}',
])
def test_malformed_webhooks_are_refused(body):
    with pytest.raises(WebhookPayloadError):
        WHATSAPP.parse_webhook(body)


# --- signatures ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["wa_status_delivered_pmp.json", "wa_inbound_text.json"])
def test_valid_signature(name):
    body = raw(name)
    assert sign_body(body, SECRET) == recorded_signature(name)  # known answer from openssl
    WHATSAPP.verify(body, {"X-Hub-Signature-256": recorded_signature(name)}, SECRET)
    WHATSAPP.verify(body, {"x-hub-signature-256": recorded_signature(name)}, SECRET)  # any letter case


def test_invalid_signatures():
    body = raw("wa_status_delivered_pmp.json")
    good = recorded_signature("wa_status_delivered_pmp.json")
    tampered = body.replace(b'"marketing"', b'"utility"')
    for headers, payload, secret in [
        ({"X-Hub-Signature-256": good}, tampered, SECRET),               # body changed
        ({"X-Hub-Signature-256": good}, body, b"another-secret"),         # wrong secret
        ({"X-Hub-Signature-256": good[:-2] + "00"}, body, SECRET),        # signature changed
        ({"X-Hub-Signature-256": good.replace("sha256=", "sha1=")}, body, SECRET),
        ({"X-Hub-Signature-256": "sha256=zz"}, body, SECRET),             # not hex
        ({"X-Hub-Signature-256": "sha256=" + "ab" * 16}, body, SECRET),   # wrong length
    ]:
        with pytest.raises(SignatureInvalidError):
            WHATSAPP.verify(payload, headers, secret)


def test_signature_over_a_reserialized_body_fails():
    """The platform signs its escaped bytes; parsing and dumping again changes them."""
    body = raw("wa_inbound_text.json")
    again = orjson.dumps(json.loads(body))
    assert b"\\u00e9" in body and "é".encode() in again
    with pytest.raises(SignatureInvalidError):
        WHATSAPP.verify(again, {"X-Hub-Signature-256": recorded_signature("wa_inbound_text.json")}, SECRET)


def test_missing_signature_or_secret():
    body = raw("wa_status_delivered_pmp.json")
    with pytest.raises(SignatureMissingError):
        WHATSAPP.verify(body, {}, SECRET)
    with pytest.raises(SignatureMissingError):
        WHATSAPP.verify(body, {"X-Hub-Signature-256": "  "}, SECRET)
    with pytest.raises(SignatureInvalidError):  # a channel without its secret accepts nothing
        WHATSAPP.verify(body, {"X-Hub-Signature-256": recorded_signature("wa_status_delivered_pmp.json")}, None)


def test_replayed_webhook_is_recognised():
    """A replay carries a valid signature (it is the platform's own request), so the
    signature cannot catch it: the event keys and the event's own timestamp do."""
    body = raw("wa_status_delivered_pmp.json")
    headers = {"X-Hub-Signature-256": recorded_signature("wa_status_delivered_pmp.json")}
    seen: set[str] = set()
    now_us = 1752138010 * SECOND_US
    outcomes = []
    for _ in range(2):  # the original delivery and its replay
        WHATSAPP.verify(body, headers, SECRET)
        for update in WHATSAPP.parse_webhook(body).statuses:
            outcome = admit_event(update.event_key, update.time_us, now_us, seen)
            outcomes.append(outcome)
            if outcome == ADMIT_NEW:
                seen.add(update.event_key)
    assert outcomes == [ADMIT_NEW, ADMIT_DUPLICATE]
    (update,) = WHATSAPP.parse_webhook(body).statuses
    # Replayed after the store forgot the key (beyond the platform's 7-day retry horizon): stale.
    late_us = update.time_us + event_age_max_us + 1
    assert admit_event(update.event_key, update.time_us, late_us, set()) == ADMIT_STALE
    assert admit_event(update.event_key, update.time_us, update.time_us + 7 * DAY_US, set()) == ADMIT_NEW
    assert admit_event(update.event_key, update.time_us, update.time_us - 3600 * SECOND_US, set()) == ADMIT_FUTURE
