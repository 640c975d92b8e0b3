"""Settlement in the store, on SQLite and the real PostgreSQL: agreements, import, settle,
late usage, carried residues and the ledger, each figure checked against a hand computation.

Prices (nanos per token = price per Mtok / 1e6):
  m1 0.20 in / 0.60 out from 2026-01-01, then 0.30 / 0.90 from 2026-01-15T12:00Z
  m2 1.000001 / 2.000003 (fractional nanos per token)
  m3 0.10 / 0.10
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import orjson
import pytest
from sqlalchemy import insert, select

from revstream.pricing import ModelPrice, parse_price
from revstream.settlement import Agreement, PeriodError, parse_tiers
from revstream.store import (
    ImportRejected,
    add_agreement,
    add_licensor,
    balances_of,
    check_ledger,
    import_usage,
    list_licensors,
    list_statements,
    make_engine,
    set_model_licensor,
    set_price,
    settle,
    upgrade,
)
from revstream.store._schema import ledger_entries, usage_records
from revstream.transparency import canonical_json

NOW_US = 1_790_000_000_000_000  # 2026-09: January and February 2026 have ended
CENT_NANOS = 10_000_000


def _line(request_id, time, model, tokens_prompt, tokens_completion, customer="acme", status="ok") -> bytes:
    return orjson.dumps({"request_id": request_id, "time": time, "customer": customer, "model": model,
                         "tokens_prompt": tokens_prompt, "tokens_completion": tokens_completion, "status": status})


def _import(engine, lines, **kwargs):
    return import_usage(engine, lambda: list(lines), NOW_US, **kwargs)


def _agreement(licensor, models, **terms) -> Agreement:
    return Agreement(licensor, "draft", models, "USD", date(2026, 1, 1), **terms)


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    for model, start, price_in, price_out in (
        ("m1", datetime(2026, 1, 1, tzinfo=timezone.utc), "0.20", "0.60"),
        ("m1", datetime(2026, 1, 15, 12, tzinfo=timezone.utc), "0.30", "0.90"),
        ("m2", datetime(2026, 1, 1, tzinfo=timezone.utc), "1.000001", "2.000003"),
        ("m3", datetime(2026, 1, 1, tzinfo=timezone.utc), "0.10", "0.10"),
    ):
        set_price(engine, ModelPrice(model, "USD", parse_price(price_in), parse_price(price_out), start), NOW_US)
    yield engine
    engine.dispose()


def _setup_agreements(engine) -> dict[str, str]:
    ids = {}
    for licensor, model in (("L1", "m1"), ("L2", "m2"), ("L3", "m3")):
        add_licensor(engine, licensor, NOW_US)
        set_model_licensor(engine, model, licensor, NOW_US)
    ids["bps"] = add_agreement(engine, _agreement("L1", ("m1",), share_bps=1500), NOW_US).agreement.agreement_id
    ids["tiers"] = add_agreement(engine, _agreement(
        "L2", ("m2",), tiers=parse_tiers("0:1000,0.01:2000", "USD"), cap_nanos=100_000), NOW_US).agreement.agreement_id
    ids["royalty"] = add_agreement(engine, _agreement(
        "L3", ("m3",), royalty_nanos_per_mtok=50_000_000, minimum_nanos=CENT_NANOS), NOW_US).agreement.agreement_id
    return ids


JANUARY = [
    _line("r1", "2026-01-10T00:00:00Z", "m1", 1_000_000, 333_333),       # 200_000_000 + 199_999_800
    _line("r2", "2026-01-20T00:00:00+01:00", "m1", 777_777, 1, status="error"),  # 233_333_100 + 900
    _line("r3", "2026-01-15T12:00:00Z", "m1", 1, 1, customer="bob"),     # new price from this instant: 1_200
    _line("r4", "2026-01-05T00:00:00Z", "m2", 5_000, 2_500),             # 5_000_005 + 5_000_007.5
    _line("r5", "2026-01-06T00:00:00Z", "m2", 3, 0, status="aborted"),   # 3_000.003
    _line("r6", "2026-01-07T00:00:00Z", "m3", 100, 23),                  # 12_300; royalty 123 * 50
    _line("f1", "2026-02-03T00:00:00Z", "m1", 10, 10),                   # February: 3_000 + 9_000
]


def _by_agreement(stored) -> dict[str, dict]:
    return {s.agreement_id: s.json() for s in stored}


def test_settle_two_months_with_late_usage_and_carried_residue(engine):
    ids = _setup_agreements(engine)
    assert _import(engine, JANUARY).imported == 7
    # A request still pending at the close (the live gateway): excluded, then late.
    with engine.begin() as connection:
        connection.execute(insert(usage_records).values(
            request_id="pending1", time_us=1_769_903_999_000_000, customer_id="cus_x", key_id="key_x", model="m1",
            backend="fake", endpoint="chat", status="pending", tokens_prompt=0, tokens_completion=0,
            usage_source="none", worker_id="w"))  # 2026-01-31T23:59:59Z

    january = _by_agreement(settle(engine, "2026-01", NOW_US))

    bps = january[ids["bps"]]
    assert bps["lines"] == [{"model": "m1", "stream": "api", "requests": 3, "tokens_prompt": 1_777_778,
                             "tokens_completion": 333_335, "gross_nanos": 633_335_000, "net_nanos": 633_335_000,
                             "rate": "1500bps", "share_nanos": 95_000_250}]
    # 95_000_250 nanos = 9.5000250 cents -> 10 cents, residue -4_999_750 carried.
    assert (bps["share_total_minor"], bps["residue_nanos"]) == (10, -4_999_750)
    assert bps["usage"] == {"time_from": "2026-01-01T00:00:00.000000Z", "time_before": "2026-02-01T00:00:00.000000Z",
                            "records": 3, "late_records": 0}

    tiers = january[ids["tiers"]]
    # gross 10_003_012.503 -> 10_003_013; 10% of 10_000_000 + 20% of 3_013 = 1_000_602.6 -> 1_000_603; cap 100_000.
    assert tiers["lines"][0]["gross_nanos"] == 10_003_013 and tiers["lines"][0]["share_nanos"] == 1_000_603
    assert [(b["net_nanos"], b["share_nanos"]) for b in tiers["bracket_lines"]] == [(10_000_000, 1_000_000), (3_013, 603)]
    assert tiers["cap"]["share_nanos"] == -900_603 and tiers["share_total_nanos"] == 100_000
    assert (tiers["share_total_minor"], tiers["residue_nanos"]) == (0, 100_000)

    royalty = january[ids["royalty"]]
    assert royalty["lines"][0]["share_nanos"] == 6_150 and royalty["lines"][0]["rate"] == "0.05/Mtok"
    assert royalty["minimum"]["share_nanos"] == CENT_NANOS - 6_150
    assert (royalty["share_total_nanos"], royalty["share_total_minor"], royalty["residue_nanos"]) == (CENT_NANOS, 1, 0)

    # Settling again: the same bytes, nothing posted.
    with engine.connect() as connection:
        entries = connection.execute(select(ledger_entries.c.entry_id)).scalars().all()
    again = settle(engine, "2026-01", NOW_US + 1)
    assert [s.body for s in again] == [s.body for s in list_statements(engine, "2026-01")]
    with engine.connect() as connection:
        assert sorted(connection.execute(select(ledger_entries.c.entry_id)).scalars().all()) == sorted(entries)

    # The pending record finishes; a January record arrives by import after the close.
    with engine.begin() as connection:
        connection.execute(usage_records.update().where(usage_records.c.request_id == "pending1")
                           .values(status="ok", tokens_prompt=2, tokens_completion=2, finalized_us=NOW_US))
    report = _import(engine, [_line("late1", "2026-01-25T00:00:00Z", "m1", 1_000_000, 0)])
    assert (report.imported, report.late) == (1, 1)

    february = _by_agreement(settle(engine, "2026-02", NOW_US))
    bps = february[ids["bps"]]
    assert bps["lines"][0]["gross_nanos"] == 12_000 and bps["lines"][0]["share_nanos"] == 1_800
    # Late: 300_000_000 + 2*300 + 2*900 = 300_002_400 gross, 15% = 45_000_360.
    assert [(a["description"], a["requests"], a["gross_nanos"], a["share_nanos"]) for a in bps["adjustment_lines"]] == [
        ("adjustment for 2026-01", 2, 300_002_400, 45_000_360)]
    assert bps["carry_in_residue_nanos"] == -4_999_750
    # 1_800 + 45_000_360 - 4_999_750 = 40_002_410 -> 4 cents, residue 2_410.
    assert (bps["share_total_nanos"], bps["share_total_minor"], bps["residue_nanos"]) == (45_002_160, 4, 2_410)
    assert bps["usage"]["late_records"] == 2
    # Over the two periods the licensor is owed exactly the sum of its shares, less the carried residue.
    shares = 95_000_250 + 45_002_160
    assert (10 + 4) * CENT_NANOS + 2_410 == shares
    assert february[ids["royalty"]]["share_total_minor"] == 1  # the minimum, with no usage
    assert february[ids["tiers"]]["carry_in_residue_nanos"] == 100_000

    check = check_ledger(engine)
    assert check.ok, check
    lic1 = _licensor_id(engine, "L1")
    # The payable holds exactly the statements' minor amounts; the rounding account the
    # residues still carried (L1: 2_410, L2: 100_000), as a credit.
    assert balances_of(engine, [lic1])[(lic1, "licensor_payable", "USD")] == -(10 + 4) * CENT_NANOS
    assert balances_of(engine, ["host"])[("host", "rounding", "USD")] == -(2_410 + 100_000)
    # Nothing settled twice: settling February again changes nothing.
    assert [s.body for s in settle(engine, "2026-02", NOW_US)] == [s.body for s in list_statements(engine, "2026-02")]


def _licensor_id(engine, name):
    return next(row.licensor_id for row in list_licensors(engine) if row.name == name)


def test_periods_close_in_order_and_only_once_ended(engine):
    _setup_agreements(engine)
    _import(engine, JANUARY)
    with pytest.raises(PeriodError, match="has not ended"):
        settle(engine, "2026-01", 1_769_000_000_000_000)
    with pytest.raises(PeriodError, match="settle 2026-01 first"):
        settle(engine, "2026-02", NOW_US)
    settle(engine, "2026-01", NOW_US)
    with pytest.raises(PeriodError, match="settle 2026-02 first"):
        settle(engine, "2026-03", NOW_US)


def test_import_rejects_a_malformed_file_whole(engine):
    lines = [
        _line("a1", "2026-01-10T00:00:00Z", "m1", 1, 1),
        b"{not json",
        _line("a3", "2026-01-10T00:00:00", "m1", 1, 1),
        _line("a4", "2026-01-10T00:00:00Z", "unpriced", 1, 1),
        _line("a5", "2026-01-10T00:00:00Z", "m1", -1, 1),
        _line("a6", "2026-01-10T00:00:00Z", "m1", 1, 1, status="pending"),
        b"",
        _line("a8", "2026-01-10T00:00:00Z", "m1", 2, 2),
    ]
    with pytest.raises(ImportRejected) as raised:
        _import(engine, lines)
    assert [number for number, _ in raised.value.errors] == [2, 3, 4, 5, 6]
    assert "no UTC offset" in dict(raised.value.errors)[3] and "no price" in dict(raised.value.errors)[4]
    with engine.connect() as connection:
        assert connection.execute(select(usage_records.c.request_id)).all() == []
    report = _import(engine, lines, skip_invalid=True)
    assert (report.imported, report.invalid, report.lines) == (2, 5, 7)
    assert _import(engine, lines, skip_invalid=True).duplicates == 2
    assert check_ledger(engine).ok


def test_statement_bytes_are_canonical(engine):
    _setup_agreements(engine)
    _import(engine, JANUARY)
    for stored in settle(engine, "2026-01", NOW_US):
        assert canonical_json(orjson.loads(stored.body)) == stored.body
