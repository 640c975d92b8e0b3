"""Licence compliance, stored (issue 15): monthly active users merged from every worker and
replica, acceptable-use counters, alerts fired once, and the `licence` leaf a close freezes.

Each gateway worker counts the end users it sees in memory (`revstream.gateway._licence`) and
merges them here every `mau_flush_interval_s`, in one write transaction per month that holds
the month's row (SELECT ... FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite):

* while the month is **exact**, the new hashes go into `licence_mau_users` (the primary key
  drops repeats) and the count is their number;
* once it holds more than `exact_users_max` distinct hashes it becomes a **HyperLogLog**
  sketch (`revstream.licence`, 16 KiB of registers): built from every stored hash, which are
  then deleted; later merges take the register-wise maximum.

Either way the month's state depends only on the set of hashes merged, never on their order
or on which worker merged them, so its SHA-256 (`sketch_sha256` of the leaf) is reproducible.

A period's close calls `freeze_licence_months` (the licence source's `prepare`, see
`_log_sources`) before it appends and signs: every month up to the period that has figures and
no leaf yet gets its `licence_leaves` row, which the close then appends below its checkpoint
and settles. Figures merged into a month after it was frozen stay in `licence_mau` (shown by
`licence status` as the live count) but never change the leaf.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from sqlalchemy import Connection, Engine, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..licence import (
    HAZARD_CODES,
    AffiliateMonth,
    HLL_ERROR_PPM,
    AcceptableUseCounts,
    LicenceLeaf,
    MauAlert,
    MauCounter,
    licence_entry,
)
from ..licence._hll import HLL_PRECISION, add_hash, estimate, registers_of, union
from ._keys import MAU_SECRET
from ._host_secrets import host_secret
from ._engine import writing
from ._schema import meta
from ._licence_schema import licence_leaves, licence_mau, licence_mau_alerts, licence_mau_users, licence_use_counts
from ._sql import insert_ignore

HASH_INSERT_BATCH_MAX = 5_000
"""Hashes one INSERT statement carries."""
MONTHS_SHOWN_MAX = 36
"""Months `licence_status` reports, newest first."""
COUNTERS = ("classified", "flagged", "refused", "unavailable")
"""The acceptable-use counters beside the hazard categories S1..S14."""
EXACT, HLL = "exact", "hll"
_SIGN = 1 << 63
_STATE_HEADER = b"RSMAU\x01"


def licence_secret(engine: Engine) -> bytes:
    """The host's key for end-user hashes: generated once, a key file like the log's secrets
    (see `_keys`), the same for every worker and replica (so they recognise the same user)."""
    return host_secret(engine, MAU_SECRET)


@dataclass(frozen=True, slots=True)
class MauMerge:
    """A month's figures after a merge: every worker's and replica's users so far."""

    month: str
    users: int
    method: str
    # The sketch when the month is counted by HyperLogLog (a worker then keeps its own copy).
    registers: bytes | None


def _insert(connection: Connection, table):
    return (postgresql if connection.dialect.name == "postgresql" else sqlite).insert(table)


def _locked_month(connection: Connection, month: str, now_us: int):
    insert_ignore(connection, licence_mau, [{"month": month, "method": EXACT, "users": 0, "updated_us": now_us}],
                  ("month",))
    return connection.execute(select(licence_mau).where(licence_mau.c.month == month).with_for_update()).one()


def _stored_hashes(connection: Connection, month: str) -> list[int]:
    return [value + _SIGN for value in connection.execute(
        select(licence_mau_users.c.user_hash).where(licence_mau_users.c.month == month)
        .order_by(licence_mau_users.c.user_hash)).scalars()]


def merge_mau(engine: Engine, month: str, hashes: Iterable[int], registers: bytes | None, exact_users_max: int,
              threshold: tuple[int, str] | None, now_us: int) -> MauMerge:
    """Merge a worker's new end-user hashes (and its sketch, once it keeps one) into `month`;
    returns the month's figures over every worker. `threshold` is (users, licence id) of the
    threshold in force, recorded for the month's leaf."""
    with writing(engine) as connection:
        return _merge(connection, month, list(hashes), registers, exact_users_max, threshold, now_us)


def _merge(connection: Connection, month: str, hashes: list[int], registers: bytes | None, exact_users_max: int,
           threshold: tuple[int, str] | None, now_us: int) -> MauMerge:
    row = _locked_month(connection, month, now_us)
    if row.method == EXACT and registers is None:
        for start in range(0, len(hashes), HASH_INSERT_BATCH_MAX):
            batch = [{"month": month, "user_hash": h - _SIGN} for h in hashes[start:start + HASH_INSERT_BATCH_MAX]]
            connection.execute(_insert(connection, licence_mau_users).on_conflict_do_nothing(), batch)
        users = connection.execute(select(func.count()).select_from(licence_mau_users)
                                   .where(licence_mau_users.c.month == month)).scalar_one()
        merged = None if users <= exact_users_max else registers_of(_stored_hashes(connection, month))
    else:
        merged = bytearray(row.registers) if row.method == HLL else registers_of(_stored_hashes(connection, month))
        if registers is not None:
            merged = union(merged, registers)
        for user_hash in hashes:
            add_hash(merged, user_hash)
    if merged is None:
        values = {"users": users}
    else:
        if row.method == EXACT:
            connection.execute(delete(licence_mau_users).where(licence_mau_users.c.month == month))
        users = estimate(merged)
        values = {"method": HLL, "users": users, "registers": bytes(merged)}
    if threshold is not None:
        values.update(threshold_users=threshold[0], threshold_licence=threshold[1])
    connection.execute(update(licence_mau).where(licence_mau.c.month == month).values(updated_us=now_us, **values))
    return MauMerge(month, users, EXACT if merged is None else HLL, None if merged is None else bytes(merged))


# --- affiliates grouped (see `revstream.licence._affiliates`) -------------------------------

_AFFILIATE_META = "licence_aff:"


@dataclass(frozen=True, slots=True)
class AffiliateImport:
    month: str
    affiliate: str
    users: int
    method: str
    same_key: bool
    state_sha256: str
    imported_us: int


class MonthClosed(ValueError):
    """The month's `licence` leaf is frozen: figures imported now would never reach it."""


def mau_month_state(engine: Engine, month: str) -> MauCounter:
    """The month's counter as stored: every worker, replica and imported affiliate so far."""
    with engine.connect() as connection:
        return _counter(connection, month)


def import_affiliate_month(engine: Engine, imported: AffiliateMonth, own_key_id: str, exact_users_max: int,
                           now_us: int) -> tuple[MauMerge, AffiliateImport]:
    """Merge an affiliate's exported month into this install's month (a union: importing the
    same file again changes nothing) and record the import; MonthClosed once the month's leaf
    is frozen."""
    counter = imported.counter
    hashes, registers = counter.parts()
    record = AffiliateImport(counter.month, imported.affiliate, counter.count(), counter.method,
                             imported.key_id == own_key_id, hashlib.sha256(counter.serialize()).hexdigest(), now_us)
    key = _AFFILIATE_META + counter.month + ":" + hashlib.sha256(imported.affiliate.encode("utf-8")).hexdigest()[:16]
    with writing(engine) as connection:
        if connection.execute(select(licence_leaves.c.month).where(licence_leaves.c.month == counter.month)).first():
            raise MonthClosed(f"{counter.month} is closed: its licence leaf is frozen, so an affiliate's users "
                              "imported now would never be counted in it; import before the period's close")
        merged = _merge(connection, counter.month, list(hashes or ()), registers, exact_users_max, None, now_us)
        connection.execute(delete(meta).where(meta.c.key == key))
        connection.execute(meta.insert().values(key=key, value=json.dumps({
            "month": record.month, "affiliate": record.affiliate, "users": record.users, "method": record.method,
            "same_key": record.same_key, "state_sha256": record.state_sha256, "imported_us": now_us}, sort_keys=True)))
    return merged, record


def affiliate_imports(engine: Engine) -> dict[str, list[AffiliateImport]]:
    """The latest import of each affiliate, by month."""
    found: dict[str, list[AffiliateImport]] = {}
    with engine.connect() as connection:
        for value in connection.execute(select(meta.c.value).where(meta.c.key.startswith(_AFFILIATE_META))
                                        .order_by(meta.c.key)).scalars():
            item = json.loads(value)
            found.setdefault(item["month"], []).append(AffiliateImport(
                item["month"], item["affiliate"], item["users"], item["method"], item["same_key"],
                item["state_sha256"], item["imported_us"]))
    return found


def add_use_counts(engine: Engine, month: str, counts: Mapping[str, int]) -> None:
    """Add a worker's acceptable-use counters (S1..S14 and `COUNTERS`) to the month's."""
    rows = [{"month": month, "counter": name, "count": count} for name, count in sorted(counts.items()) if count]
    for row in rows:
        if row["counter"] not in HAZARD_CODES and row["counter"] not in COUNTERS:
            raise ValueError(f"unknown acceptable-use counter {row['counter']!r}")
    if not rows:
        return
    with writing(engine) as connection:
        statement = _insert(connection, licence_use_counts)
        connection.execute(statement.on_conflict_do_update(
            index_elements=["month", "counter"], set_={"count": licence_use_counts.c.count + statement.excluded.count}),
            rows)


def record_mau_alerts(engine: Engine, month: str, alerts: Sequence[MauAlert], now_us: int) -> tuple[MauAlert, ...]:
    """Record alerts as fired; returns those this call recorded (the others had fired already,
    by this worker, another one, or before a restart): only those are to be sent."""
    fired = []
    with writing(engine) as connection:
        for alert in alerts:
            row = {"month": month, "percent": alert.percent, "threshold_users": alert.threshold_users,
                   "users": alert.users, "fired_us": now_us}
            if insert_ignore(connection, licence_mau_alerts, [row], ("month", "percent")):
                fired.append(alert)
    return tuple(fired)


def set_alert_delivery(engine: Engine, month: str, percent: int, status: str) -> None:
    """What became of an alert's webhook: "sent 200", "failed: ...", ..."""
    with writing(engine) as connection:
        connection.execute(update(licence_mau_alerts)
                           .where(licence_mau_alerts.c.month == month, licence_mau_alerts.c.percent == percent)
                           .values(webhook_status=status[:64]))


# --- a month's state and its leaf ----------------------------------------------------------

def _counter(connection: Connection, month: str) -> MauCounter:
    """The month's counter as stored (empty when nothing was merged)."""
    row = connection.execute(select(licence_mau.c.method, licence_mau.c.registers)
                             .where(licence_mau.c.month == month)).first()
    if row is not None and row.method == HLL:
        return MauCounter.deserialize(_STATE_HEADER + b"\x01" + month.encode("ascii") + bytes([HLL_PRECISION])
                                      + bytes(row.registers))
    hashes = _stored_hashes(connection, month) if row is not None else []
    counter = MauCounter(month, max(1, len(hashes)))
    for user_hash in hashes:
        counter.add(user_hash)
    return counter


def _use_counts(connection: Connection, month: str) -> dict[str, int]:
    found = dict(connection.execute(select(licence_use_counts.c.counter, licence_use_counts.c.count)
                                    .where(licence_use_counts.c.month == month)).all())
    return {name: int(found.get(name, 0)) for name in (*COUNTERS, *HAZARD_CODES)}


def counts_value(counts: Mapping[str, int]) -> AcceptableUseCounts:
    return AcceptableUseCounts(counts["classified"], counts["refused"],
                               tuple((code, counts[code]) for code in HAZARD_CODES), counts["flagged"])


def leaf_entry(row) -> LicenceLeaf:
    """The `licence` leaf's value of a `licence_leaves` row."""
    counts = counts_value(json.loads(row.counts))
    return LicenceLeaf(row.month, row.users, row.method, row.error_ppm, row.sketch_sha256, counts,
                       row.threshold_users, row.threshold_licence)


def freeze_licence_months(connection: Connection, period: str, now_us: int) -> None:
    """In a close's first transaction, before it appends: a leaf row for every month up to
    `period` that has figures and none yet (normally just `period`)."""
    months = set(connection.execute(select(licence_mau.c.month).where(licence_mau.c.month <= period)).scalars())
    months |= set(connection.execute(select(licence_use_counts.c.month).where(licence_use_counts.c.month <= period)
                                     .distinct()).scalars())
    months -= set(connection.execute(select(licence_leaves.c.month).where(licence_leaves.c.month <= period)).scalars())
    for month in sorted(months):
        threshold = connection.execute(select(licence_mau.c.threshold_users, licence_mau.c.threshold_licence)
                                       .where(licence_mau.c.month == month)).first()
        counts = _use_counts(connection, month)
        entry = licence_entry(_counter(connection, month).snapshot(), counts_value(counts),
                              threshold.threshold_users if threshold else None,
                              threshold.threshold_licence if threshold else None)
        connection.execute(licence_leaves.insert().values(
            month=month, users=entry.users, method=entry.method, error_ppm=entry.error_ppm,
            sketch_sha256=entry.sketch_sha256, threshold_users=entry.threshold_users,
            threshold_licence=entry.threshold_licence, counts=json.dumps(counts, sort_keys=True), created_us=now_us,
        ))


# --- reading -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class MonthStatus:
    """One month as `licence status` shows it: the live count (every merge so far), the leaf a
    close froze (None while the month is open), the alerts fired and the counters."""

    month: str
    users: int
    method: str
    error_ppm: int
    threshold_users: int | None
    threshold_licence: str | None
    alerts_percent: tuple[int, ...]
    counts: dict[str, int]
    leaf: LicenceLeaf | None
    leaf_index: int | None
    settled_period: str | None
    affiliates: tuple = ()
    """The latest import of each affiliate whose users this month includes (`AffiliateImport`)."""


def licence_status(engine: Engine, months_max: int = MONTHS_SHOWN_MAX) -> list[MonthStatus]:
    """Every month with figures, newest first (at most `months_max`)."""
    with engine.connect() as connection:
        mau = {row.month: row for row in connection.execute(
            select(licence_mau.c.month, licence_mau.c.users, licence_mau.c.method, licence_mau.c.threshold_users,
                   licence_mau.c.threshold_licence))}
        leaves = {row.month: row for row in connection.execute(select(licence_leaves))}
        counted = set(connection.execute(select(licence_use_counts.c.month).distinct()).scalars())
        months = sorted(set(mau) | set(leaves) | counted, reverse=True)[:months_max]
        alerts: dict[str, list[int]] = {}
        for month, percent in connection.execute(select(licence_mau_alerts.c.month, licence_mau_alerts.c.percent)
                                                 .order_by(licence_mau_alerts.c.percent)):
            alerts.setdefault(month, []).append(percent)
        imported = affiliate_imports(engine)
        result = []
        for month in months:
            live, leaf = mau.get(month), leaves.get(month)
            method = live.method if live else (leaf.method if leaf else EXACT)
            result.append(MonthStatus(
                month, int(live.users) if live else (leaf.users if leaf else 0), method,
                0 if method == EXACT else HLL_ERROR_PPM,
                live.threshold_users if live else (leaf.threshold_users if leaf else None),
                live.threshold_licence if live else (leaf.threshold_licence if leaf else None),
                tuple(alerts.get(month, ())), _use_counts(connection, month),
                leaf_entry(leaf) if leaf else None, leaf.log_index if leaf else None,
                leaf.settled_period if leaf else None, tuple(imported.get(month, ())),
            ))
    return result


def month_state_sha256(engine: Engine, month: str) -> str:
    """The SHA-256 of the month's stored MAU state (the digest its leaf would carry now)."""
    with engine.connect() as connection:
        return hashlib.sha256(_counter(connection, month).serialize()).hexdigest()
