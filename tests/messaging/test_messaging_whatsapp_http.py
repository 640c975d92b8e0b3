"""The WhatsApp channel over HTTP (issue 14), against recorded payloads (the platform itself is
unreachable here): a send goes to a local server answering the Cloud API's recorded response,
the signed `delivered` webhook books the charge and the platform's cost once, and the
signature is checked on the raw bytes: valid, invalid, missing, replayed."""

from __future__ import annotations

import threading

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conftest import free_port
from revstream.config._model import EMBEDDED_MODEL_NAME as MODEL
from revstream.messaging import instant_us, parse_rate_card_csv, sign_body
from revstream.store import (
    add_channel,
    add_contact,
    add_credit,
    add_template,
    balances_of,
    check_ledger,
    customer_balance,
    import_rate_card,
    list_templates,
    list_usage,
    record_opt_in,
    set_channel_ai,
)

from messaging_host import Clock, Host, wait_until
from messaging_world import FIXTURES

PHONE_NUMBER_ID = "106540352242922"
CONTACT = "+919876543210"
SECRET_ENV = "REVSTREAM_TEST_WA_APP_SECRET"
SENT_AT = instant_us("2025-07-10T09:00:00Z")


class Platform:
    """A local server answering sends as the Cloud API did in the recorded fixtures."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes, str]] = []
        self.answer = (200, (FIXTURES / "wa_send_response.json").read_bytes())

        async def handle(request: Request) -> Response:
            self.received.append((request.url.path, await request.body(), request.headers.get("authorization", "")))
            body = self.answer[1]
            if len(self.received) > 1:  # each later send gets an id of its own, as the platform gives
                body = body.replace(b'AA=="', f'AA{len(self.received)}=="'.encode())
            return Response(body, self.answer[0], media_type="application/json")

        self.port = free_port()
        app = Starlette(routes=[Route("/{path:path}", handle, methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, port=self.port, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "Platform":
        self.thread.start()
        wait_until(lambda: self.server.started, "the recorded platform's start")
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("messaging-whatsapp")
    patch = pytest.MonkeyPatch()
    patch.setenv(SECRET_ENV, "fixture-app-secret")
    patch.setenv("REVSTREAM_TEST_WA_TOKEN", "test-access-token")
    patch.setenv("REVSTREAM_TEST_WA_VERIFY", "subscribe-me")
    with Platform() as platform:
        patch.setenv("REVSTREAM_WHATSAPP_API_BASE", f"http://127.0.0.1:{platform.port}")
        with Host(f"sqlite:///{tmp / 'store.db'}", tmp / "home", Clock(SENT_AT)) as host:
            engine = host.engine
            add_credit(engine, "acme", 10**9, "USD", SENT_AT)
            channel = add_channel(engine, "acme", "whatsapp", SENT_AT, phone_number_id=PHONE_NUMBER_ID,
                                  app_secret_env=SECRET_ENV, access_token_env="REVSTREAM_TEST_WA_TOKEN",
                                  verify_token_env="REVSTREAM_TEST_WA_VERIFY",
                                  market="IN", country="GB")["channel_id"]
            import_rate_card(engine, parse_rate_card_csv((FIXTURES / "ratecard_scenarios.csv").read_text()), SENT_AT)
            add_contact(engine, channel, CONTACT, "IN", SENT_AT)
            for scope in ("messaging", "marketing"):
                record_opt_in(engine, channel, CONTACT, scope, True, SENT_AT - 1, "signup form")
            add_template(engine, "acme", "spring_sale", "en_US", "marketing", "Sale: {{1}} off", SENT_AT - 1,
                         "approved")
            yield {"host": host, "platform": platform, "channel": channel, "key": host.new_key("acme")}
    patch.undo()


@pytest.fixture(scope="module")
def sent(world):
    host = world["host"]
    answer = host.post("/v1/messages", world["key"], json={"channel": world["channel"], "to": CONTACT,
                                                            "template": "spring_sale", "parameters": ["20%"]})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _webhook(host: Host, channel: str, name: str, signature: str | None = "file") -> tuple[int, dict]:
    body = (FIXTURES / name).read_bytes()
    headers = {"content-type": "application/json"}
    if signature == "file":
        signature = (FIXTURES / f"{name}.sig").read_text().strip()
    if signature is not None:
        headers["x-hub-signature-256"] = signature
    host.clock.now_us = instant_us("2025-07-10T09:00:10Z")
    answer = host.post(f"/webhooks/whatsapp/{channel}", content=body, headers=headers)
    return answer.status_code, answer.json()


def test_a_send_reaches_the_platform_as_the_cloud_api_expects(world, sent) -> None:
    path, body, authorization = world["platform"].received[0]
    assert path.startswith("/v") and path.endswith(f"/{PHONE_NUMBER_ID}/messages")
    assert b'"to":"919876543210"' in body and sent["id"].encode() in body
    assert authorization == "Bearer test-access-token"
    assert (sent["category"], sent["quoted_price"]["nanos"]) == ("marketing", 12_500_000)


def test_a_signed_delivery_books_once_and_a_replay_changes_nothing(world, sent) -> None:
    host, channel = world["host"], world["channel"]
    status, first = _webhook(host, channel, "wa_status_delivered_pmp.json")
    assert status == 200 and [r["effect"] for r in first["results"]] == ["applied"]
    status, replay = _webhook(host, channel, "wa_status_delivered_pmp.json")  # the same signed request again
    assert status == 200 and [r["effect"] for r in replay["results"]] == ["duplicate"]
    balances = balances_of(host.engine, ["host"])
    assert balances[("host", "host_revenue", "USD")] == -12_500_000
    assert balances[("host", "messaging_cost", "USD")] == 10_700_000
    assert customer_balance(host.engine, "acme").available_nanos == 10**9 - 12_500_000
    assert check_ledger(host.engine).ok


@pytest.mark.parametrize("signature, code", [
    ("sha256=" + "0" * 64, "signature_invalid"),
    ("sha1=0123", "signature_invalid"),
    (None, "signature_missing"),
])
def test_an_unsigned_or_wrongly_signed_webhook_is_refused(world, signature, code) -> None:
    status, answer = _webhook(world["host"], world["channel"], "wa_inbound_text.json", signature)
    assert status == 401 and answer["error"]["code"] == code


def test_a_signed_inbound_message_opens_the_window(world) -> None:
    host, channel = world["host"], world["channel"]
    status, answer = _webhook(host, channel, "wa_inbound_text.json")
    assert status == 200 and [r["effect"] for r in answer["results"]] == ["new"]
    [conversation] = host.get("/v1/conversations", world["key"]).json()["data"]
    assert conversation["window"] == "customer_service" and conversation["contact"] == CONTACT.lstrip("+")
    reply = host.post("/v1/messages", world["key"], json={"channel": channel, "to": CONTACT, "text": "On its way!"})
    assert reply.status_code == 200 and reply.json()["quoted_price"]["nanos"] == 0


def test_a_send_the_platform_refuses_releases_its_hold(world) -> None:
    host, platform = world["host"], world["platform"]
    before = customer_balance(host.engine, "acme").available_nanos
    platform.answer = (400, (FIXTURES / "wa_send_error.json").read_bytes())
    try:
        answer = host.post("/v1/messages", world["key"], json={"channel": world["channel"], "to": CONTACT,
                                                                "template": "spring_sale", "parameters": ["5%"]})
    finally:
        platform.answer = (200, (FIXTURES / "wa_send_response.json").read_bytes())
    assert answer.status_code == 502 and answer.json()["error"]["code"] == "channel_send_failed"
    assert customer_balance(host.engine, "acme").available_nanos == before
    assert check_ledger(host.engine).ok


def test_the_model_answers_a_whatsapp_message_in_the_background(world) -> None:
    host, platform, channel = world["host"], world["platform"], world["channel"]
    set_channel_ai(host.engine, channel, MODEL)
    try:
        body = (FIXTURES / "wa_inbound_text.json").read_bytes().replace(b"wamid.HBgM", b"wamid.AIAI")
        host.clock.now_us = instant_us("2025-07-10T09:00:10Z")
        answer = host.post(f"/webhooks/whatsapp/{channel}", content=body,
                           headers={"x-hub-signature-256": sign_body(body, b"fixture-app-secret")})
        assert answer.status_code == 200 and answer.json()["replies"] == []  # answered at once; the model follows
        sent = len(platform.received)
        [conversation] = host.get("/v1/conversations", world["key"]).json()["data"]

        def reply():
            messages = host.get("/v1/messages", world["key"], params={"conversation": conversation["id"]}).json()
            return [m for m in messages["data"] if m["direction"] == "out" and m["attribution"] == "reply"]

        [message] = wait_until(reply, "the model's reply")
        assert message["model"] == MODEL and message["usage_request_id"] and message["price_nanos"] == 0
        wait_until(lambda: len(platform.received) > sent, "the reply's send to the platform")
        assert message["id"].encode() in platform.received[-1][1]
        assert [r.request_id for r in list_usage(host.engine)] == [message["usage_request_id"]]
    finally:
        set_channel_ai(host.engine, channel, None)


def test_a_recategorization_webhook_applies_from_its_time_once(world) -> None:
    host, channel = world["host"], world["channel"]
    add_template(host.engine, "acme", "order_update", "en_US", "utility", "Order {{1}} shipped", SENT_AT - 1,
                 "approved")
    body = (FIXTURES / "wa_template_category_update.json").read_bytes()  # at 2025-07-15T12:00:00Z
    headers = {"x-hub-signature-256": sign_body(body, b"fixture-app-secret")}
    host.clock.now_us = instant_us("2025-07-15T12:00:05Z")
    first = host.post(f"/webhooks/whatsapp/{channel}", content=body, headers=headers).json()
    again = host.post(f"/webhooks/whatsapp/{channel}", content=body, headers=headers).json()
    assert first["results"] == [{"template": "order_update", "effect": "applied"}]
    assert again["results"] == [{"template": "order_update", "effect": "duplicate"}]
    [template] = [t for t in list_templates(host.engine, "acme") if t["name"] == "order_update"]
    assert [(c["category"], c["review_state"]) for c in template["history"]] == [
        ("utility", "pending"), (None, "approved"), ("marketing", None)]
    sent = host.post("/v1/messages", world["key"], json={"channel": channel, "to": CONTACT, "template": "order_update",
                                                          "parameters": ["A7"]}).json()
    assert (sent["category"], sent["quoted_price"]["nanos"]) == ("marketing", 12_500_000)


def test_the_subscription_check_echoes_the_challenge_for_the_right_token(world) -> None:
    host, channel = world["host"], world["channel"]
    query = {"hub.mode": "subscribe", "hub.verify_token": "subscribe-me", "hub.challenge": "1158201444"}
    answer = host.get(f"/webhooks/whatsapp/{channel}", params=query)
    assert answer.status_code == 200 and answer.text == "1158201444"
    wrong = host.get(f"/webhooks/whatsapp/{channel}", params={**query, "hub.verify_token": "guess"})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "verify_token_mismatch"
