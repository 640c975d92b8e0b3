"""Monthly active users: exact on small sets, HyperLogLog within its stated error, mergeable,
serializable, and alerts fired once per crossing."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from revstream.licence import (
    HLL_ERROR_PPM,
    MauCounter,
    SketchError,
    alert_crossings,
    end_user_hash,
    end_user_id,
)

SECRET = b"host secret for tests, 32 bytes!"
hashes = st.integers(min_value=0, max_value=2**64 - 1)


def counter_of(users, month="2025-03", exact_users_max=100_000, secret=SECRET) -> MauCounter:
    counter = MauCounter(month, exact_users_max)
    for user in users:
        counter.add(end_user_hash(secret, user))
    return counter


def test_exact_counts_distinct_users():
    counter = counter_of(["alice", "bob", "alice", "carol", "bob"])
    assert counter.count() == 3 and counter.method == "exact"
    snapshot = counter.snapshot()
    assert (snapshot.users, snapshot.error_ppm) == (3, 0)


def test_the_same_user_under_another_secret_is_another_hash():
    assert end_user_hash(SECRET, "alice") != end_user_hash(b"another secret of 32 bytes long!", "alice")


def test_end_users_are_scoped_by_customer_and_fall_back_to_the_key():
    assert end_user_id("acme", "u1", "key1") != end_user_id("globex", "u1", "key1")
    assert end_user_id("acme", None, "key1") == end_user_id("globex", "", "key1")
    assert end_user_id("acme", None, "key1") != end_user_id("acme", None, "key2")


@given(st.lists(hashes, max_size=300))
def test_exact_count_is_the_number_of_distinct_hashes(values):
    counter = MauCounter("2025-03")
    for value in values:
        counter.add(value)
    assert counter.count() == len(set(values))


def test_above_the_bound_the_counter_becomes_a_sketch():
    counter = counter_of([f"u{n}" for n in range(1000)], exact_users_max=1000)
    assert counter.method == "exact"
    counter.add(end_user_hash(SECRET, "one more"))
    assert counter.method == "hll" and counter.snapshot().error_ppm == HLL_ERROR_PPM == 8125
    assert abs(counter.count() - 1001) <= 1001 * 3 * HLL_ERROR_PPM / 1e6


def test_hyperloglog_is_within_three_standard_errors_on_a_million_users():
    counter = MauCounter("2025-03", exact_users_max=1000)
    for n in range(1_000_000):
        counter.add(end_user_hash(SECRET, f"user-{n}"))
    error = abs(counter.count() - 1_000_000) / 1_000_000
    assert error <= 3 * HLL_ERROR_PPM / 1e6, error  # the stated standard error is 0.8125 %
    for n in range(0, 1_000_000, 7):  # returning users change nothing
        counter.add(end_user_hash(SECRET, f"user-{n}"))
    assert abs(counter.count() - 1_000_000) / 1_000_000 == error


def test_hyperloglog_relative_error_over_many_sketches_matches_the_stated_one():
    errors = []
    for trial in range(20):
        counter = MauCounter("2025-03", exact_users_max=1)
        for n in range(10_000):
            counter.add(end_user_hash(SECRET, f"t{trial}-{n}"))
        errors.append((counter.count() - 10_000) / 10_000)
    rms = math.sqrt(sum(e * e for e in errors) / len(errors))
    assert rms < 2 * HLL_ERROR_PPM / 1e6, rms


@given(st.lists(hashes, max_size=200), st.lists(hashes, max_size=200))
def test_merging_exact_counters_counts_the_union(left, right):
    a, b = MauCounter("2025-03"), MauCounter("2025-03")
    for value in left:
        a.add(value)
    for value in right:
        b.add(value)
    merged = a.merged(b)
    assert merged.count() == len(set(left) | set(right)) and merged.method == "exact"


def test_affiliates_merge_into_a_sketch_of_the_union():
    a = counter_of([f"u{n}" for n in range(30_000)], exact_users_max=10_000)
    b = counter_of([f"u{n}" for n in range(20_000, 50_000)], exact_users_max=100_000)
    assert (a.method, b.method) == ("hll", "exact")
    merged = a.merged(b)
    assert merged.method == "hll"
    assert abs(merged.count() - 50_000) <= 50_000 * 3 * HLL_ERROR_PPM / 1e6
    assert merged.serialize() == b.merged(a).serialize()


def test_merging_across_months_is_refused():
    with pytest.raises(SketchError, match="2025-04"):
        MauCounter("2025-03").merged(MauCounter("2025-04"))


@pytest.mark.parametrize("bound", [100, 100_000])
def test_the_state_round_trips_and_its_digest_is_canonical(bound):
    users = [f"u{n}" for n in range(500)]
    counter = counter_of(users, exact_users_max=bound)
    again = MauCounter.deserialize(counter.serialize(), bound)
    assert again.serialize() == counter.serialize() and again.count() == counter.count()
    assert counter_of(reversed(users), exact_users_max=bound).snapshot() == counter.snapshot()
    assert counter_of(users[1:], exact_users_max=bound).snapshot().sketch_sha256 != counter.snapshot().sketch_sha256


@pytest.mark.parametrize("data", [b"", b"RSMAU\x01\x00", b"RSMAU\x01\x002025-13", b"RSMAU\x01\x002025-03abc",
                                  b"RSMAU\x01\x002025-03" + (2).to_bytes(8, "big") + (1).to_bytes(8, "big"),
                                  b"RSMAU\x01\x012025-03\x0e" + bytes(10), b"XXXXX\x01\x002025-03"])
def test_a_damaged_state_is_refused(data):
    with pytest.raises(SketchError):
        MauCounter.deserialize(data)


def test_a_bad_month_is_refused():
    with pytest.raises(SketchError, match="YYYY-MM"):
        MauCounter("March")


THRESHOLD = 700_000_000


def test_alerts_fire_at_each_level_crossed():
    assert alert_crossings(0, 349_999_999, THRESHOLD, (50, 80, 100)) == ()
    (half,) = alert_crossings(349_999_999, 350_000_000, THRESHOLD, (50, 80, 100))
    assert half.percent == 50 and half.users_at_alert == 350_000_000 and "50%" in half.message()
    assert [a.percent for a in alert_crossings(100, 800_000_000, THRESHOLD, (100, 50, 80))] == [50, 80, 100]
    assert alert_crossings(350_000_000, 400_000_000, THRESHOLD, (50, 80, 100)) == ()


@given(st.lists(st.integers(min_value=0, max_value=2 * THRESHOLD), max_size=30))
def test_a_rising_count_fires_each_alert_once(steps):
    counts = sorted(steps)
    fired, previous = [], 0
    for count in counts:
        fired += [alert.percent for alert in alert_crossings(previous, count, THRESHOLD, (50, 80, 100))]
        previous = count
    final = counts[-1] if counts else 0
    assert fired == [p for p in (50, 80, 100) if final * 100 >= p * THRESHOLD]


@settings(max_examples=50)
@given(st.lists(st.integers(min_value=0, max_value=2 * THRESHOLD), min_size=1, max_size=30))
def test_any_sequence_fires_once_per_upward_crossing(counts):
    previous, fired = 0, 0
    crossings = 0
    for count in counts:
        fired += len(alert_crossings(previous, count, THRESHOLD, (80,)))
        crossings += previous * 100 < 80 * THRESHOLD <= count * 100
        previous = count
    assert fired == crossings
