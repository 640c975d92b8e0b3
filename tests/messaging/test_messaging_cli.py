"""The messaging commands through the real CLI (issue 14): channels, contacts, templates,
the rate card import and the period report."""

from __future__ import annotations

import json

from conftest import revstream

from messaging_world import FIXTURES


def _json(home, *args):
    return json.loads(revstream(*args, "--json", home=home).stdout)


def test_a_business_is_set_up_from_the_command_line(tmp_path) -> None:
    home = tmp_path / "home"
    channel = _json(home, "channels", "add", "--customer", "acme", "--kind", "whatsapp", "--phone-number-id",
                    "1234567", "--app-secret-env", "ACME_APP_SECRET")
    assert channel["app_secret_env"] == "ACME_APP_SECRET" and channel["phone_number_id"] == "1234567"
    imported = _json(home, "ratecards", "import", str(FIXTURES / "ratecard_scenarios.csv"))
    assert imported["added"] == imported["rows"] > 0
    contact = _json(home, "contacts", "add", "--channel", channel["channel_id"], "--address", "+919800000001",
                    "--market", "IN", "--opt-in", "messaging")
    assert contact["opt_ins"] == ["messaging"]
    _json(home, "templates", "add", "--customer", "acme", "--name", "order_update", "--language", "en_US",
          "--category", "utility", "--body", "Order {{1}} shipped", "--state", "approved", "--at", "2025-07-01")
    changed = _json(home, "templates", "set", "--customer", "acme", "--name", "order_update", "--category",
                    "marketing", "--at", "2025-08-01")
    assert [c["category"] for c in changed["history"]] == ["utility", None, "marketing"]
    listed = _json(home, "channels", "list", "--customer", "acme")
    assert [c["channel_id"] for c in listed] == [channel["channel_id"]]
    on = _json(home, "channels", "ai", channel["channel_id"], "--model", "smollm2")
    assert on["ai_model"] == "smollm2"
    report = _json(home, "messages", "report", "--period", "2025-07")
    assert report == {"period": "2025-07", "lines": [], "totals": [], "conversations": []}


def test_bad_input_is_refused_with_a_clear_message(tmp_path) -> None:
    home = tmp_path / "home"
    missing = revstream("channels", "add", "--customer", "acme", "--kind", "whatsapp", home=home, check=False)
    assert missing.returncode == 2 and "--phone-number-id" in missing.stderr
    card = tmp_path / "card.csv"
    card.write_text("market,category,currency,price,effective_from\nIN,utility,USD,-1,2025-07-01\n")
    bad = revstream("ratecards", "import", str(card), home=home, check=False)
    assert bad.returncode == 2 and "line 2" in bad.stderr
