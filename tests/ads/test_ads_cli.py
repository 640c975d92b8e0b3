"""The ad stream's commands through the real CLI: advertisers, their token and credit,
campaigns added, listed, paused and resumed, the report and a key's age band; mistakes exit 2
with a message and write nothing."""

from __future__ import annotations

import json

import pytest

from conftest import revstream


@pytest.fixture
def cli(tmp_path):
    def run(*args: str, check: bool = True):
        return revstream(*args, home=tmp_path, check=check)

    def run_json(*args: str):
        return json.loads(run(*args, "--json").stdout)

    run.json = run_json
    return run


def test_an_advertiser_funds_a_campaign_pauses_and_resumes_it(cli):
    assert cli.json("advertisers", "add", "Trail Co", "--legal-name", "Trail Company GmbH")["legal_name"] == \
        "Trail Company GmbH"
    assert cli.json("advertisers", "token", "Trail Co")["token"].startswith("rsadv-")
    credit = cli.json("credit", "add", "--advertiser", "Trail Co", "--amount", "10.00")
    assert credit["available_nanos"] == 10_000_000_000 and credit["currency"] == "USD"
    added = cli.json("campaigns", "add", "--advertiser", "Trail Co", "--title", "Boots", "--text", "Waterproof.",
                     "--url", "https://trail.example", "--bid-cpc", "0.30", "--keywords", "hiking boots, tent",
                     "--daily-budget", "1.00", "--budget", "5.00", "--from", "2026-01-01", "--to", "2026-12-31",
                     "--countries", "de,fr", "--frequency-cap", "2")
    assert (added["bid_kind"], added["bid_nanos"], added["keywords"], added["countries"]) == \
        ("cpc", 300_000_000, ["hiking boots", "tent"], ["DE", "FR"])
    assert added["payer"] == "Trail Company GmbH" and added["advertiser"] == "Trail Co"
    campaign_id = added["campaign_id"]
    assert cli.json("campaigns", "pause", campaign_id)["active"] is False
    assert cli.json("campaigns", "resume", campaign_id)["active"] is True
    [listed] = cli.json("campaigns", "list", "--advertiser", "Trail Co")
    assert listed["campaign_id"] == campaign_id and listed["spent_nanos"] == 0 and listed["impressions"] == 0
    report = cli.json("ads", "report", "--period", "2026-11", "--advertiser", "Trail Co")
    assert report == {"period": "2026-11", "advertiser": "Trail Co", "rows": [], "totals": []}
    assert "campaign_id" in cli("campaigns", "list").stdout.lower()


@pytest.mark.parametrize("args, message", [
    (("campaigns", "add", "--advertiser", "Nobody", "--title", "T", "--text", "X", "--url", "https://x.example",
      "--bid-cpm", "1.00", "--keywords", "boots"), "no advertiser named 'Nobody'"),
    (("credit", "add", "--advertiser", "Nobody", "--amount", "1.00"), "no advertiser named 'Nobody'"),
    (("ads", "age-band", "--key", "key_missing", "--band", "under_13"), "no key 'key_missing'"),
])
def test_mistakes_are_refused_with_a_message(cli, args, message):
    result = cli(*args, check=False)
    assert result.returncode != 0 and message in result.stderr


def test_a_campaign_without_contextual_targeting_or_with_a_bad_url_is_refused(cli):
    cli("advertisers", "add", "Trail Co")
    base = ("campaigns", "add", "--advertiser", "Trail Co", "--title", "T", "--text", "X", "--bid-cpm", "1.00")
    untargeted = cli(*base, "--url", "https://x.example", check=False)
    assert untargeted.returncode == 2 and "at least one keyword or category" in untargeted.stderr
    bad_url = cli(*base, "--url", "ftp://x.example", "--keywords", "boots", check=False)
    assert bad_url.returncode == 2 and "absolute http(s) URL" in bad_url.stderr
    assert cli.json("campaigns", "list") == []
