"""The host's witnessing state in the store, on SQLite and PostgreSQL: one worker at a time per
witness (a lease), the back-off after a failure, and the checkpoint published: the newest one
the quorum cosigned, with their lines; before any, the newest signed with what it has."""

from __future__ import annotations

import json
from datetime import date

from revstream.config import TransparencyConfig, WitnessEndpointConfig
from revstream.gateway._witnessing import backoff_s, published_checkpoint, witnessing_health
from revstream.pricing import ModelPrice, parse_price
from revstream.store import (
    CheckpointPolicy,
    append_log,
    claim_witness,
    ensure_witnesses,
    import_usage,
    init_log_key,
    make_engine,
    record_cosignature,
    record_witness_failure,
    set_price,
    upgrade,
    witness_work,
    witnessed_checkpoint,
)
from revstream.transparency import (
    cosign_checkpoint,
    generate_cosigner_key,
    verify_cosignatures,
    verify_cosigned_checkpoint,
)

W1_SKEY, W1 = generate_cosigner_key("witness.test/w1", seed=b"1" * 32)
W2_SKEY, W2 = generate_cosigner_key("witness.test/w2", seed=b"2" * 32)
SIGN_EVERY_RECORD = CheckpointPolicy(interval_us=0, records=1)
SECOND = 1_000_000


def _grow(engine, prefix: str, count: int, now_us: int):
    lines = [json.dumps({"request_id": f"{prefix}{n}", "time": "2026-03-02T10:00:00Z", "customer": "c", "model": "m",
                         "tokens_prompt": 10 + n, "tokens_completion": 5, "status": "ok"}).encode() + b"\n"
             for n in range(count)]
    import_usage(engine, lambda: iter(lines), now_us)
    return append_log(engine, SIGN_EVERY_RECORD, now_us).signed


def _cosign(checkpoint, skey: str, timestamp_s: int) -> tuple[str, int]:
    text = checkpoint.note[: checkpoint.note.rfind("\n\n") + 1]
    return cosign_checkpoint(text, skey, timestamp_s), timestamp_s


def test_leases_back_off_and_publication(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    now = 1_780_000_000 * SECOND
    set_price(engine, ModelPrice("m", "USD", parse_price("1"), parse_price("1"), date(2026, 1, 1)), now)
    log_vkey = init_log_key(engine, "host.test/log", now)
    settings = TransparencyConfig(origin="host.test/log", witnesses=(
        WitnessEndpointConfig("http://w1.test", W1), WitnessEndpointConfig("http://w2.test", W2)), witness_quorum=2)
    assert published_checkpoint(engine, settings) is None
    first = _grow(engine, "a", 3, now)
    ensure_witnesses(engine, [W1, W2])
    ensure_witnesses(engine, [W1, W2])  # idempotent

    # One worker at a time per witness.
    work = witness_work(engine, W1, now)
    assert (work.checkpoint.size, work.cosigned_size) == (3, 0)
    assert claim_witness(engine, W1, "worker-1", now, 10 * SECOND) == 0
    assert claim_witness(engine, W1, "worker-2", now + SECOND, 10 * SECOND) is None
    # A failure releases the lease and backs off.
    record_witness_failure(engine, W1, "worker-1", "cannot reach the witness", now, now + 4 * SECOND)
    assert witness_work(engine, W1, now + SECOND) is None and claim_witness(engine, W1, "worker-2", now + SECOND,
                                                                             10 * SECOND) is None
    assert claim_witness(engine, W1, "worker-2", now + 5 * SECOND, 10 * SECOND) == 1  # one failure so far
    record_cosignature(engine, W1, "worker-2", first.size, *_cosign(first, W1_SKEY, 1_780_000_005), now + 5 * SECOND)
    assert witness_work(engine, W1, now + 6 * SECOND) is None  # nothing newer to cosign

    # One of two: published as signed, with the one cosignature, not as witnessed.
    published = published_checkpoint(engine, settings)
    assert (published.checkpoint.size, published.cosignatures, published.quorum_met) == (3, 1, False)
    assert [c.name for c in verify_cosignatures(published.note, [W1, W2])] == ["witness.test/w1"]
    assert claim_witness(engine, W2, "worker-1", now, 10 * SECOND) == 0
    record_cosignature(engine, W2, "worker-1", first.size, *_cosign(first, W2_SKEY, 1_780_000_006), now + 6 * SECOND)
    published = published_checkpoint(engine, settings)
    assert published.quorum_met and verify_cosigned_checkpoint(published.note, log_vkey, [W1, W2], 2).size == 3

    # A newer checkpoint that only one witness cosigned: the witnessed one stays published.
    second = _grow(engine, "b", 2, now + 10 * SECOND)
    assert witness_work(engine, W2, now + 10 * SECOND).cosigned_size == 3
    assert claim_witness(engine, W1, "worker-1", now + 10 * SECOND, 10 * SECOND) == 0
    record_cosignature(engine, W1, "worker-1", second.size, *_cosign(second, W1_SKEY, 1_780_000_010),
                       now + 10 * SECOND)
    assert published_checkpoint(engine, settings).checkpoint.size == 3
    assert witnessed_checkpoint(engine, [W1, W2], 1)[0].size == 5
    health = witnessing_health(engine, settings)
    assert (health["published_size"], health["newest_size"], health["quorum"]) == (3, 5, 2)
    assert "5 awaits cosignatures" in health["detail"]
    assert [w["cosigned_size"] for w in health["witnesses"]] == [5, 3]
    # Without witnesses configured, the newest signed checkpoint is published as before.
    plain = published_checkpoint(engine, TransparencyConfig(origin="host.test/log"))
    assert plain.checkpoint.size == 5 and plain.note == second.note
    engine.dispose()


def test_back_off_doubles_up_to_its_bound():
    assert [backoff_s(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff_s(100) == 300.0
