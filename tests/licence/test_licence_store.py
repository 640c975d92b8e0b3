"""Monthly active users and acceptable-use counts in the store, on SQLite and PostgreSQL: merges
from several workers give one count whatever their order; past the exact bound the month becomes
a sketch with the same digest as the pure counter's; alerts are recorded once; a close freezes
the month into a `licence` leaf, even without a log key."""

from __future__ import annotations

import json
import random
from datetime import date

import pytest

from revstream.licence import MauAlert, MauBuffer, MauCounter, parse_licence_leaf
from revstream.leaves import decode_leaf
from revstream.periods import parse_time_us
from revstream.settlement import draft_agreement
from revstream.store import (
    add_agreement,
    add_licensor,
    add_use_counts,
    licence_secret,
    licence_status,
    make_engine,
    merge_mau,
    month_state_sha256,
    record_mau_alerts,
    set_model_licensor,
    settle,
    upgrade,
)
from revstream.store._log_sources import LICENCE_SOURCE

from conftest import create_postgres_database, drop_postgres_database

NOW = parse_time_us("2026-11-20T00:00:00Z")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared(request, tmp_path_factory):
    """One store per kind for the tests below that use months of their own (migrations are
    the slow part of a fresh store)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}" if request.param == "sqlite" \
        else create_postgres_database()
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()
    if request.param == "postgres":
        drop_postgres_database(url)


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def hashes(count: int, seed: int) -> list[int]:
    generator = random.Random(seed)
    return [generator.getrandbits(64) for _ in range(count)]


def counter_of(month: str, values, bound: int) -> MauCounter:
    counter = MauCounter(month, bound)
    for value in values:
        counter.add(value)
    return counter


def test_workers_merge_into_one_exact_count(shared):
    engine, users = shared, hashes(300, 1)
    first = merge_mau(engine, "2025-01", users[:200], None, 1000, (700_000_000, "llama3.1"), NOW)
    second = merge_mau(engine, "2025-01", users[100:], None, 1000, None, NOW)
    again = merge_mau(engine, "2025-01", users[:50], None, 1000, None, NOW)
    assert (first.users, second.users, again.users) == (200, 300, 300)
    assert second.method == "exact" and second.registers is None
    assert month_state_sha256(engine, "2025-01") == counter_of("2025-01", users, 1000).snapshot().sketch_sha256
    [status] = [m for m in licence_status(engine) if m.month == "2025-01"]
    assert (status.threshold_users, status.threshold_licence) == (700_000_000, "llama3.1")


def test_past_the_bound_the_month_is_a_sketch_whatever_the_order_of_the_merges(shared):
    engine, users = shared, hashes(900, 2)
    pieces = [users[start:start + 150] for start in range(0, 900, 150)]
    for piece in pieces[::-1]:
        merged = merge_mau(engine, "2025-02", piece, None, 400, None, NOW)
    for piece in pieces:
        merged = merge_mau(engine, "2025-03", piece, None, 400, None, NOW)
    expected = counter_of("2025-02", users, 400)
    assert merged.method == "hll" and abs(merged.users - 900) <= 900 * 3 * 8125 // 1_000_000 + 1
    assert month_state_sha256(engine, "2025-02") == expected.snapshot().sketch_sha256
    assert bytes(expected._registers) == merged.registers  # the same sketch, order aside


def test_a_worker_that_went_to_a_sketch_merges_its_registers(shared):
    engine, buffer = shared, MauBuffer(b"k" * 32, exact_users_max=50)
    time_us = parse_time_us("2025-04-02T00:00:00Z")
    merge_mau(engine, "2025-04", hashes(30, 3), None, 50, None, NOW)
    for n in range(80):
        buffer.observe("cus_1", f"user-{n}", "key_1", time_us)
    [batch] = buffer.take()
    assert batch.registers is not None and batch.hashes == ()
    merged = merge_mau(engine, "2025-04", batch.hashes, batch.registers, 50, None, NOW)
    assert merged.method == "hll" and 100 <= merged.users <= 120


def test_alerts_are_recorded_once(shared):
    engine, alerts = shared, (MauAlert(50, 10, 6), MauAlert(80, 10, 8))
    assert record_mau_alerts(engine, "2025-05", alerts, NOW) == alerts
    assert record_mau_alerts(engine, "2025-05", alerts + (MauAlert(100, 10, 10),), NOW) == (MauAlert(100, 10, 10),)
    assert record_mau_alerts(engine, "2025-06", alerts[:1], NOW) == alerts[:1]


def test_acceptable_use_counts_add_up_and_only_known_counters(shared):
    engine = shared
    add_use_counts(engine, "2025-07", {"classified": 3, "refused": 1, "S9": 1})
    add_use_counts(engine, "2025-07", {"classified": 2, "flagged": 1, "S10": 1, "S9": 0})
    [status] = [m for m in licence_status(engine) if m.month == "2025-07"]
    assert {k: v for k, v in status.counts.items() if v} == {"classified": 5, "refused": 1, "flagged": 1, "S9": 1,
                                                             "S10": 1}
    with pytest.raises(ValueError, match="counter"):
        add_use_counts(engine, "2025-07", {"S15": 1})


def test_the_host_secret_is_made_once(shared):
    assert licence_secret(shared) == licence_secret(shared) and len(licence_secret(shared)) == 32


def test_a_close_without_a_log_freezes_the_month_into_its_statement(engine):
    now = NOW
    add_licensor(engine, "Llama Labs", now)
    set_model_licensor(engine, "llama-3.1-8b", "Llama Labs", now)
    add_agreement(engine, draft_agreement(licensor="Llama Labs", models=("llama-3.1-8b",), currency="USD",
                                          effective_from=date(2026, 1, 1), share_bps=1500), now)
    users = hashes(12, 4)
    merge_mau(engine, "2026-10", users, None, 1000, (700_000_000, "llama3.1"), now)
    add_use_counts(engine, "2026-10", {"classified": 12, "refused": 2, "S2": 2})
    [statement] = settle(engine, "2026-10", now)
    [section] = json.loads(statement.body)["sections"]["licence"]
    assert (section["users"], section["requests_refused"], section["acceptable_use"]["S2"]) == (12, 2, 2)
    assert section["sketch_sha256"] == counter_of("2026-10", users, 1000).snapshot().sketch_sha256
    merge_mau(engine, "2026-10", hashes(5, 5), None, 1000, None, now)  # late: the live count moves, not the leaf
    [october] = licence_status(engine)
    assert october.users == 17 and october.leaf.users == 12 and october.settled_period == "2026-10"
    with engine.connect() as connection:
        [row] = LICENCE_SOURCE.rows(connection, ["2026-10"]).values()
    kind, _, value = decode_leaf(LICENCE_SOURCE.leaf(row, b"").data)
    assert str(kind) == "licence" and parse_licence_leaf(value) == october.leaf
