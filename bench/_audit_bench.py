"""The auditor's side of bench/transparency.py: stored proofs at scale, verifying a
statement of N entries, and the rate at which a real host serves entries over HTTP."""

from __future__ import annotations

import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
from sqlalchemy import select, update

from _common import percentile, scratch_store
from revstream.audit import verify_statement
from revstream.audit._client import ENTRIES_PAGE_MAX
from revstream.audit._recompute import Tally, expected_statement, statement_facts
from revstream.settlement import statement_bytes, statement_note_text
from revstream.store import consistency_hashes, inclusion_hashes, make_engine, upgrade
from revstream.store._schema import log_state
from revstream.store._sql import bulk_insert
from revstream.transparency import (
    MerkleTree,
    compact_range,
    format_checkpoint,
    generate_key,
    sign_note,
)

PERIOD_START_US = 1_790_812_800_000_000  # 2026-10-01T00:00:00Z
PERIOD_SPAN_US = 31 * 86_400_000_000
ORIGIN = "bench.example/log"
SUBTREE_INSERT_BATCH = 20_000
PROGRESS_EVERY = 1_000_000


def _leaf(index: int) -> bytes:
    """A leaf shaped exactly like the log's: the canonical JSON of a record's projection."""
    return orjson.dumps({
        "charge_nanos": index * 7, "currency": "USD", "customer": f"{index % 97:064x}", "endpoint": "chat",
        "late_period": None, "model": "llama-x", "request_id": f"req_{index:024x}", "status": "ok",
        "time_us": PERIOD_START_US + index * (PERIOD_SPAN_US // 20_000_000), "tokens_completion": 211,
        "tokens_prompt": index % 4096, "usage_source": "backend",
    }, option=orjson.OPT_SORT_KEYS)


def _leaves(count: int, label: str) -> Iterator[bytes]:
    for index in range(count):
        if index and index % PROGRESS_EVERY == 0:
            print(f"  {label}: {index:,}", file=sys.stderr, flush=True)
        yield _leaf(index)


# --- stored proofs at scale -----------------------------------------------------------------

def _store_subtrees(engine, tree: MerkleTree) -> None:
    """Every complete subtree hash of ``tree``, as the appender stores them, and the head."""
    size = tree.size
    with engine.begin() as connection:
        level = 0
        while (1 << level) <= size:
            count = size >> level
            for begin in range(0, count, SUBTREE_INSERT_BATCH):
                rows = [(level, index, tree.subtree_hash(level, index))
                        for index in range(begin, min(count, begin + SUBTREE_INSERT_BATCH))]
                bulk_insert(connection, "log_subtrees", ("level", "subtree_index", "hash"),
                            ("int", "bigint", "bytea"), rows)
            print(f"  stored level {level} ({count:,} hashes)", file=sys.stderr, flush=True)
            level += 1
        connection.execute(update(log_state).where(log_state.c.log_id == 1).values(size=size, updated_us=0))


def stored_proofs(store: str, leaves: int, proofs: int, postgres_url: str) -> dict:
    """Proof latency from the stored subtree hashes of a log of ``leaves`` leaves, against
    the in-memory tree's (the baseline, same run)."""
    print(f"building a {leaves:,}-leaf tree in memory", file=sys.stderr)
    tree = MerkleTree()
    tree.extend(_leaves(leaves, "hashed"))
    rng = random.Random(9162)
    pairs = [(rng.randrange(leaves), rng.randrange(1, leaves + 1)) for _ in range(proofs)]
    memory = {"inclusion": [], "consistency": []}
    for index, old in pairs:
        begin = time.perf_counter()
        tree.inclusion_proof(index, leaves)
        memory["inclusion"].append(time.perf_counter() - begin)
        begin = time.perf_counter()
        tree.consistency_proof(old, leaves)
        memory["consistency"].append(time.perf_counter() - begin)
    with scratch_store(store, postgres_url) as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            print(f"storing ~{2 * leaves:,} subtree hashes ({store})", file=sys.stderr)
            _store_subtrees(engine, tree)
            stored = {"inclusion": [], "consistency": []}
            for index, old in pairs:
                begin = time.perf_counter()
                got = inclusion_hashes(engine, index, leaves)
                stored["inclusion"].append(time.perf_counter() - begin)
                if got != tree.inclusion_proof(index, leaves):
                    raise RuntimeError("stored inclusion proof differs from the in-memory one")
                begin = time.perf_counter()
                consistency_hashes(engine, old, leaves)
                stored["consistency"].append(time.perf_counter() - begin)
        finally:
            engine.dispose()
    figures = {"store": store, "leaves": leaves, "proofs": proofs}
    for kind in ("inclusion", "consistency"):
        for name, samples in (("stored", stored[kind]), ("memory", memory[kind])):
            for label, fraction in (("p50", 0.5), ("p99", 0.99)):
                figures[f"{kind}_{name}_ms_{label}"] = percentile(samples, fraction) * 1000
    return figures


# --- verifying a statement of N entries ---------------------------------------------------

class LocalLog:
    """The transparency client's interface over an in-memory log: the verifier's own work
    is measured without the network (the HTTP figure is measured separately)."""

    def __init__(self, tree: MerkleTree, note: str) -> None:
        self._tree, self._note = tree, note

    def checkpoint(self) -> str:
        return self._note

    def consistency(self, old: int, new: int):
        return self._tree.consistency_proof(old, new)

    def inclusion(self, index: int, size: int):
        return self._tree.inclusion_proof(index, size)

    def prefix(self, start: int):
        return tuple(self._tree.subtree_hash(p.level, p.index) for p in compact_range(start))

    def entries(self, start: int, end: int):
        for first in range(start, end, ENTRIES_PAGE_MAX):
            yield first, [_leaf(index) for index in range(first, min(end, first + ENTRIES_PAGE_MAX))]


def _statement_skeleton(size: int, checkpoint_note: str) -> dict:
    terms = {"agreement": "agr_bench", "licensor": "Bench Labs", "models": ["llama-x"], "currency": "USD",
             "effective_from": "2026-01-01", "effective_to": None, "share_bps": 1500, "tiers": [],
             "royalty_nanos_per_mtok": None, "minimum_nanos": None, "cap_nanos": None, "stream_share_bps": {}}
    return {"statement": "stm_bench_202610", "period": "2026-10", "terms": terms, "carry_in_residue_nanos": 0,
            "prices": [{"model": "llama-x", "currency": "USD", "effective_from_us": 1_767_225_600_000_000,
                        "input_nanos_per_mtok": 200_000_000, "output_nanos_per_mtok": 600_000_000}],
            "log": {"origin": ORIGIN, "checkpoint": checkpoint_note, "size": size, "previous_size": 0, "start": 0},
            "adjustment_basis": []}


def verify_entries(entries: int) -> dict:
    """Time ``revstream verify``'s work for a statement of ``entries`` entries (no network),
    against hashing the same leaf data alone (the baseline, same run)."""
    print(f"baseline: sha256 over {entries:,} leaves", file=sys.stderr)
    import hashlib
    begin = time.perf_counter()
    for data in _leaves(entries, "baseline"):
        hashlib.sha256(b"\x00" + data).digest()
    baseline_s = time.perf_counter() - begin
    print("building the host's log and its honest statement", file=sys.stderr)
    tree = MerkleTree()
    tree.extend(_leaves(entries, "host appended"))
    skey, vkey = generate_key(ORIGIN)
    note = sign_note(format_checkpoint(ORIGIN, entries, tree.root()), skey)
    value = _statement_skeleton(entries, note)
    facts = statement_facts(value)
    tally = Tally(facts)
    for index, data in enumerate(_leaves(entries, "host settled")):
        tally.add(index, data)
    body = expected_statement(facts, tally, value)
    signed = sign_note(statement_note_text(body), skey)
    if statement_bytes(orjson.loads(body)) != body:
        raise RuntimeError("the bench statement is not canonical")
    print("verifying it", file=sys.stderr)
    with tempfile.TemporaryDirectory() as state:
        begin = time.perf_counter()
        report = verify_statement(signed, vkey, LocalLog(tree, note), Path(state))
        verify_s = time.perf_counter() - begin
    if not report.ok:
        raise RuntimeError(f"the honest statement failed: {report.reason}")
    return {"entries": entries, "verify_s": verify_s, "entries_per_s": entries / verify_s,
            "baseline_sha256_s": baseline_s, "verify_vs_baseline_ratio": baseline_s / verify_s}


# --- a real statement verified over HTTP from a real host -------------------------------

def _signed_statement(engine, records: int, insert_records) -> tuple[str, str, str]:
    """A host store with ``records`` usage records in one month, its log, and that month
    settled: returns (verifier key, licensor token, signed statement)."""
    from datetime import date

    from revstream.pricing import ModelPrice, parse_price
    from revstream.settlement import draft_agreement, period_of_us
    from revstream.store import (
        CheckpointPolicy, add_agreement, add_licensor, append_log, create_licensor_token, init_log_key,
        set_model_licensor, set_price, settle,
    )
    from revstream.store._schema import usage_records

    now_us = int(time.time() * 1e6)
    vkey = init_log_key(engine, ORIGIN, now_us)
    print(f"writing and appending {records:,} usage records", file=sys.stderr)
    insert_records(engine, records)
    while append_log(engine, CheckpointPolicy(3_600_000_000, records), now_us).appended:
        pass
    with engine.connect() as connection:
        model, first_us = connection.execute(
            select(usage_records.c.model, usage_records.c.time_us).limit(1)).one()
    set_price(engine, ModelPrice(model, "USD", parse_price("0.20"), parse_price("0.60"), date(2020, 1, 1)), now_us)
    add_licensor(engine, "Bench Labs", now_us)
    set_model_licensor(engine, model, "Bench Labs", now_us)
    add_agreement(engine, draft_agreement(licensor="Bench Labs", models=(model,), currency="USD",
                                          effective_from=date(2020, 1, 1), share_bps=1500), now_us)
    print("settling the month (the close signs a checkpoint, then the statement)", file=sys.stderr)
    [statement] = settle(engine, period_of_us(first_us), now_us)
    return vkey, create_licensor_token(engine, "Bench Labs", now_us)[0], statement.signed_note


def http_verify(records: int, insert_records, workdir: Path) -> dict:
    """`revstream verify`'s whole run, over HTTP, for a statement of ``records`` entries
    from a real `revstream serve` (SQLite): what a licensor waits for."""
    from _common import Children, fake_model_config, start_fake_upstream, start_gateway
    from revstream.audit import TransparencyClient

    home = workdir / "host"
    home.mkdir(parents=True)
    engine = make_engine(f"sqlite:///{home / 'revstream.db'}")
    upgrade(engine)
    vkey, token, note = _signed_statement(engine, records, insert_records)
    engine.dispose()
    with Children() as children:
        upstream, _ = start_fake_upstream(children, workdir)
        base, _, _ = start_gateway(children, home, fake_model_config(upstream))
        client = TransparencyClient(base, token)
        print("verifying it over HTTP", file=sys.stderr)
        begin = time.perf_counter()
        report = verify_statement(note, vkey, client, workdir / "verifier")
        seconds = time.perf_counter() - begin
        client.close()
    if not report.ok:
        raise RuntimeError(f"the host's honest statement failed: {report.reason}")
    return {"http_entries": report.entries_checked, "http_verify_s": seconds,
            "http_entries_per_s": report.entries_checked / seconds}
