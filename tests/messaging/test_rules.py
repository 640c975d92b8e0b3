"""Windows, templates, contacts and units, rule by rule."""

from __future__ import annotations

import pytest

from revstream.messaging import (
    Channel,
    Contact,
    MessagingValueError,
    OptIn,
    Outbound,
    TemplateChange,
    TemplateParameterError,
    Windows,
    draft_template,
    instant_us,
    json_nanos,
    market_for_number,
    month_of_us,
    on_inbound,
    on_outbound,
    window_at,
)
from revstream.messaging._units import parse_json_nanos

from messaging_world import T0, UTILITY, H

US = 1


def test_entry_window_opens_only_on_a_reply_within_24_hours_and_not_twice():
    windows = on_inbound(Windows(), T0, entry_point=True)
    assert window_at(windows, T0).name == "customer_service"
    opened = on_outbound(windows, T0 + 23 * H)
    assert (opened.entry_from_us, opened.entry_until_us) == (T0 + 23 * H, T0 + 95 * H)
    assert on_outbound(opened, T0 + 24 * H) == opened  # later replies do not move it
    again = on_inbound(opened, T0 + 30 * H, entry_point=True)  # a new ad click while it is open
    assert (again.entry_from_us, again.entry_inbound_us) == (T0 + 23 * H, None)
    expired = on_outbound(windows, T0 + 24 * H)  # the first reply came too late
    assert (expired.entry_from_us, expired.entry_inbound_us) == (None, None)
    plain = on_inbound(Windows(), T0)
    assert on_outbound(plain, T0 + H) == plain  # no entry point, no free entry window


def test_windows_state_names():
    assert window_at(Windows(), T0).name == "closed"
    windows = on_outbound(on_inbound(Windows(), T0, entry_point=True), T0 + H)
    assert window_at(windows, T0 + 2 * H).name == "free_entry"
    assert window_at(windows, T0 + 73 * H - US).name == "free_entry"
    assert window_at(windows, T0 + 73 * H).name == "closed"


def test_template_history_and_rendering():
    template = draft_template("order_update", "en_US", "utility", "Order {{1}} for {{2}}, again {{1}}", T0)
    assert (template.review_state_at(T0 - 1), template.review_state_at(T0), template.parameters) == ("pending", "pending", 2)
    template = template.with_change(TemplateChange(T0 + H, review_state="approved"))
    template = template.with_change(TemplateChange(T0 + 2 * H, category="marketing"))
    assert [template.category_at(t) for t in (T0, T0 + 2 * H - 1, T0 + 2 * H)] == ["utility", "utility", "marketing"]
    assert template.review_state_at(T0 + 3 * H) == "approved"
    assert template.render(("A-1", "Ana")) == "Order A-1 for Ana, again A-1"
    with pytest.raises(MessagingValueError):
        template.with_change(TemplateChange(T0, category="utility"))  # cannot predate the latest change


@pytest.mark.parametrize(("args", "message"), [
    (("Order-Update", "en_US", "utility", "x"), "name"),
    (("order", "english", "utility", "x"), "language"),
    (("order", "en", "promo", "x"), "category"),
    (("order", "en", "utility", "{{2}}"), "without gaps"),
    (("order", "en", "utility", ""), "body"),
])
def test_bad_templates(args, message):
    with pytest.raises(MessagingValueError) as error:
        draft_template(*args, T0)
    assert message in str(error.value)


@pytest.mark.parametrize("params", [(), ("a", "b"), ("",), ("two\nlines",), ("tab\there",), ["a"]])
def test_template_parameters_must_fit(params):
    with pytest.raises(TemplateParameterError):
        Outbound("template", T0, template=UTILITY, parameters=params) if not isinstance(params, list) else \
            UTILITY.render(params)


def test_outbound_shapes():
    with pytest.raises(MessagingValueError):
        Outbound("text", T0, text="  ")
    with pytest.raises(MessagingValueError):
        Outbound("text", T0, text="x" * 4097)
    with pytest.raises(MessagingValueError):
        Outbound("sticker", T0)
    with pytest.raises(MessagingValueError):
        Outbound("text", 1.5, text="hi")


def test_consent_is_the_latest_record_at_the_instant():
    contact = Contact("c1", "IN", (OptIn("messaging", True, T0), OptIn("messaging", False, T0 + H),
                                   OptIn("messaging", True, T0 + H)))
    assert [contact.consents("messaging", t) for t in (T0 - 1, T0, T0 + H)] == [False, True, True]
    assert not contact.consents("marketing", T0 + H)
    with pytest.raises(MessagingValueError):
        OptIn("sms", True, T0)


def test_channels():
    Channel("c", "acme", "webchat")
    with pytest.raises(MessagingValueError):
        Channel("c", "acme", "whatsapp")  # needs --phone-number-id and --app-secret-env
    with pytest.raises(MessagingValueError):
        Channel("c", "acme", "whatsapp", phone_number_id="123", app_secret_env="my secret")
    with pytest.raises(MessagingValueError):
        Channel("c", "acme", "telegram")
    Channel("c", "acme", "whatsapp", phone_number_id="123", app_secret_env="ACME_SECRET", access_token_env="ACME_TOKEN")
    with pytest.raises(MessagingValueError):
        Channel("c", "acme", "whatsapp", phone_number_id="123", app_secret_env="ACME_SECRET", access_token_env="EAAG...")


def test_market_for_number_is_the_longest_prefix():
    prefixes = {"1": "NORTH_AMERICA", "1876": "JM", "91": "IN"}
    assert market_for_number("+18765550100", prefixes) == "JM"
    assert market_for_number("15550100", prefixes) == "NORTH_AMERICA"
    assert market_for_number("919876543210", prefixes) == "IN"
    for bad in ("+44 20 7946 0000", "44207946000", "1234567890123456"):
        with pytest.raises(MessagingValueError) as error:
            market_for_number(bad, prefixes)
        assert "4420" not in str(error.value)  # the number never lands in a message


def test_units_are_exact():
    assert instant_us("2025-07-01") == 1_751_328_000_000_000
    assert instant_us("2025-07-01T00:00:00.000001Z") == 1_751_328_000_000_001
    assert instant_us("2025-07-01T02:00:00+02:00") == 1_751_328_000_000_000
    assert month_of_us(instant_us("2025-07-31T23:59:59.999999Z")) == "2025-07"
    assert month_of_us(instant_us("2025-08-01")) == "2025-08"
    for bad in ("20250701", "yesterday", "", "2025-13-01"):
        with pytest.raises(MessagingValueError):
            instant_us(bad)
    assert json_nanos(2**53 - 1) == 2**53 - 1 and json_nanos(-(2**53)) == str(-(2**53))
    assert parse_json_nanos(str(10**30), "x") == 10**30
    with pytest.raises(MessagingValueError):
        parse_json_nanos("12", "x")  # small amounts travel as ints, one spelling
    with pytest.raises(MessagingValueError):
        json_nanos(1.0)
