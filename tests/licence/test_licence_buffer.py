"""A worker's buffer of end users: what it sends to the store, and what it keeps when a merge
fails."""

from __future__ import annotations

from revstream.licence import MauBuffer, end_user_hash, end_user_id
from revstream.periods import parse_time_us

SECRET = b"s" * 32
OCTOBER = parse_time_us("2026-10-31T23:59:59Z")
NOVEMBER = parse_time_us("2026-11-01T00:00:00Z")


def test_new_users_are_sent_once_per_month():
    buffer = MauBuffer(SECRET, exact_users_max=100)
    for user in ("a", "b", "a"):
        buffer.observe("cus", user, "key", OCTOBER)
    [batch] = buffer.take()
    assert batch.month == "2026-10" and sorted(batch.hashes) == sorted(
        end_user_hash(SECRET, end_user_id("cus", u, "key")) for u in ("a", "b"))
    buffer.observe("cus", "a", "key", OCTOBER)  # merged already
    assert buffer.take() == ()
    buffer.observe("cus", "a", "key", NOVEMBER)  # a new month counts the user again
    [november] = buffer.take()
    assert november.month == "2026-11" and len(november.hashes) == 1


def test_a_failed_merge_is_restored():
    buffer = MauBuffer(SECRET, exact_users_max=100)
    buffer.observe("cus", None, "key_1", OCTOBER)
    [batch] = buffer.take()
    buffer.restore(batch)
    assert buffer.take() == (batch,)


def test_past_the_bound_a_month_is_kept_as_a_sketch():
    buffer = MauBuffer(SECRET, exact_users_max=10)
    for n in range(25):
        buffer.observe("cus", f"user-{n}", "key", OCTOBER)
    [batch] = buffer.take()
    assert batch.hashes == () and len(batch.registers) == 16384
    assert buffer.take() == ()  # nothing new since
    buffer.observe("cus", "user-99", "key", OCTOBER)
    [again] = buffer.take()
    assert again.registers is not None
    buffer.restore(again)
    assert buffer.take()[0].registers == again.registers


def test_the_store_saying_sketch_makes_the_buffer_one():
    buffer = MauBuffer(SECRET, exact_users_max=1000)
    buffer.observe("cus", "x", "key", OCTOBER)
    [batch] = buffer.take()
    buffer.observe("cus", "y", "key", OCTOBER)
    buffer.merged_as_sketch("2026-10", bytes(16384))
    [sketch] = buffer.take()
    assert sketch.hashes == () and sum(1 for value in sketch.registers if value) == 1
