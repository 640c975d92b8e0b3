"""The stored transparency log: the outbox appender, the stored tree, checkpoints, proofs."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import func, insert, select, update

from revstream.store import (
    CheckpointPolicy,
    Conflict,
    append_log,
    check_log,
    consistency_hashes,
    inclusion_hashes,
    init_log_key,
    latest_checkpoint,
    log_entries,
    log_size,
    log_verifier_key,
    make_engine,
    pseudonym,
    pseudonym_secret,
    upgrade,
)
from revstream.leaves import usage_leaf
from revstream.store._log_sources import USAGE_COLUMNS, usage_fields
from revstream.store._schema import log_leaves, log_subtrees, usage_records
from revstream.transparency import (
    canonical_json,
    leaf_hash,
    parse_checkpoint,
    root_hash,
    verify_consistency,
    verify_inclusion,
    verify_note,
)

ALWAYS = CheckpointPolicy(interval_us=0, records=1)
NOW_US = 1_780_000_000_000_000


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _add_records(engine, count: int, start: int = 0, status: str = "ok") -> None:
    rows = [dict(
        request_id=f"req_{start + n:06d}", time_us=NOW_US + n, finalized_us=NOW_US + (start + n) * 10,
        customer_id=f"cus_{n % 3}", key_id="key_x", model="m1", backend="fake", endpoint="chat", status=status,
        tokens_prompt=10 + n, tokens_completion=n, usage_source="backend", worker_id="w",
        charge_nanos=None if status == "pending" else 1_000 * n, currency="USD",
    ) for n in range(count)]
    with engine.begin() as connection:
        connection.execute(insert(usage_records), rows)


def _leaves(engine) -> list[bytes]:
    """The stored leaves, each checked to be its record's projection (version 2)."""
    secret = pseudonym_secret(engine)
    with engine.connect() as connection:
        rows = connection.execute(
            select(usage_records.c.log_index, *USAGE_COLUMNS).where(usage_records.c.log_index.is_not(None))
            .order_by(usage_records.c.log_index)
        ).all()
    assert [row.log_index for row in rows] == list(range(len(rows)))
    stored = log_entries(engine, 0, len(rows))
    assert stored == [usage_leaf(usage_fields(row, secret)) for row in rows]
    return stored


def test_a_leaf_is_the_canonical_json_of_the_record_projection(engine) -> None:
    _add_records(engine, 3)
    append_log(engine, ALWAYS, NOW_US)
    secret = pseudonym_secret(engine)
    values = [json.loads(data) for data in _leaves(engine)]
    assert [canonical_json(value) for value in values] == _leaves(engine)
    assert set(values[0]) == {"request_id", "time_us", "customer", "model", "endpoint", "status", "tokens_prompt",
                              "tokens_completion", "usage_source", "charge_nanos", "currency", "late_period", "stream",
                              "plan", "tokens_included", "kind", "version"}
    assert (values[0]["kind"], values[0]["version"]) == ("usage", 2)
    assert [value["customer"] for value in values] == [pseudonym(f"cus_{n}", secret) for n in range(3)]
    assert values[2]["late_period"] is None and values[2]["tokens_completion"] == 2


def test_final_records_are_appended_once_in_finalization_order(engine):
    _add_records(engine, 5, status="pending")
    _add_records(engine, 7, start=100)
    first = append_log(engine, ALWAYS, NOW_US, batch_max=4)
    assert (first.appended, first.size) == (4, 4)
    assert append_log(engine, ALWAYS, NOW_US).size == 7
    assert append_log(engine, ALWAYS, NOW_US).appended == 0
    with engine.connect() as connection:
        logged = connection.execute(
            select(usage_records.c.request_id).where(usage_records.c.log_index.is_not(None))
            .order_by(usage_records.c.log_index)
        ).scalars().all()
    assert logged == [f"req_{n:06d}" for n in range(100, 107)]  # pending records wait
    leaves = _leaves(engine)
    assert check_log(engine).ok and check_log(engine).root == root_hash(leaves)


def test_concurrent_appenders_append_every_record_exactly_once(engine):
    _add_records(engine, 300)
    errors = []

    def run() -> None:
        try:
            for _ in range(10):
                append_log(engine, ALWAYS, NOW_US, batch_max=17)
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    _add_records(engine, 50, start=1000)
    for thread in threads:
        thread.join()
    append_log(engine, ALWAYS, NOW_US)
    assert not errors
    assert log_size(engine) == 350
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).where(usage_records.c.log_index.is_not(None))).scalar() == 350
        assert connection.execute(select(func.count()).select_from(log_subtrees)
                                  .where(log_subtrees.c.level == 0)).scalar() == 350
    assert check_log(engine).root == root_hash(_leaves(engine))


def test_leaf_is_reproducible_and_pseudonymous(engine):
    _add_records(engine, 2)
    append_log(engine, ALWAYS, NOW_US)
    secret = pseudonym_secret(engine)
    assert pseudonym_secret(engine) == secret and len(secret) == 32
    data = log_entries(engine, 0, 2)
    assert data == _leaves(engine)
    assert b"cus_" not in b"".join(data)
    assert pseudonym("cus_0", secret).encode() in data[0]
    assert data[0].startswith(b'{"charge_nanos":0,"currency":"USD","customer":"')


def test_signed_checkpoints_are_consistent_and_proofs_verify(engine):
    assert log_verifier_key(engine) is None
    _add_records(engine, 3)
    append_log(engine, ALWAYS, NOW_US)
    assert latest_checkpoint(engine) is None  # no key: appends, signs nothing
    vkey = init_log_key(engine, "example.com/log")
    with pytest.raises(Conflict):
        init_log_key(engine, "example.com/log")
    assert log_verifier_key(engine) == vkey
    policy = CheckpointPolicy(interval_us=60_000_000, records=5)
    first = append_log(engine, policy, NOW_US).signed
    assert first is not None and first.size == 3
    _add_records(engine, 4, start=10)
    assert append_log(engine, policy, NOW_US + 1).signed is None  # 4 records, 1 us: not due
    assert append_log(engine, policy, NOW_US + 60_000_000).signed.size == 7  # interval passed
    _add_records(engine, 9, start=20)
    last = append_log(engine, policy, NOW_US + 60_000_001).signed
    checkpoint = parse_checkpoint(verify_note(last.note, [vkey]))
    leaves = _leaves(engine)
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == ("example.com/log", 16, root_hash(leaves))
    for size in range(1, 17):
        root = root_hash(leaves[:size])
        for index in range(size):
            verify_inclusion(leaf_hash(leaves[index]), index, size, inclusion_hashes(engine, index, size), root)
        for old in range(1, size + 1):
            verify_consistency(old, size, consistency_hashes(engine, old, size), root_hash(leaves[:old]), root)


@pytest.mark.parametrize("bad", [(0, 0), (3, 3), (0, 4), (-1, 2)])
def test_bad_ranges_are_refused(engine, bad):
    _add_records(engine, 3)
    append_log(engine, ALWAYS, NOW_US)
    index, size = bad
    with pytest.raises(ValueError):
        inclusion_hashes(engine, index, size)
    with pytest.raises(ValueError):
        consistency_hashes(engine, 2, 4)
    with pytest.raises(ValueError):
        log_entries(engine, 2, 1)


def test_a_changed_record_no_longer_matches_its_leaf(engine):
    _add_records(engine, 4)
    append_log(engine, ALWAYS, NOW_US)
    before = check_log(engine)
    with engine.begin() as connection:
        connection.execute(update(usage_records).where(usage_records.c.log_index == 2).values(tokens_prompt=1))
    after = check_log(engine)
    assert before.ok and after.mismatched == (2,) and after.root == before.root
    # The leaf itself was stored when it was appended: the log still proves what was served.
    assert root_hash(log_entries(engine, 0, 4)) == after.root
    with engine.begin() as connection:
        connection.execute(update(log_leaves).where(log_leaves.c.leaf_index == 1).values(data=b'{"kind":"usage"}'))
    assert check_log(engine).mismatched == (1, 2)


def test_a_record_that_commits_late_with_an_old_finalization_time_is_still_appended(engine):
    """The appender looks from the newest finalization time it appended (past the dead
    index entries of a large catch-up); a slow writer's record finalized before that floor
    is appended by the full look that runs as soon as the floored one comes back short."""
    _add_records(engine, 6, start=100)
    assert append_log(engine, ALWAYS, NOW_US, batch_max=4).appended == 4
    assert append_log(engine, ALWAYS, NOW_US, batch_max=4, look_first=False).appended == 2
    _add_records(engine, 1, start=0)  # finalized_us far below the floor, committed now
    assert append_log(engine, ALWAYS, NOW_US).appended == 1
    assert check_log(engine).ok and log_size(engine) == 7
