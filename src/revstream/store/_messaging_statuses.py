"""Delivery statuses in batches (issue 14): see `_messaging_batch` for the whole treatment.

    apply_status_batch  each webhook event admitted once (one read of the seen keys, one
                        bulk insert), the messages read and locked at once, the core's
                        transition applied in order (a message may be sent, delivered and
                        read in one batch), then one settle/release entry per customer,
                        funding and currency, one platform-cost entry per currency, the
                        budget windows and tier counts moved, one bulk update of the messages
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Sequence

from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from ..keys import new_id
from ..ledger import Account, JournalEntry, Posting, release, settle_reservation, settle_usage
from ..messaging import ADMIT_NEW, StatusUpdate, TierKey, admit_event, apply_status
from ..money import Money
from ..periods import datetime_of_us
from ._engine import writing
from ._ledger import post_entries
from ._messaging_batch import bulk_insert_binary, bulk_update_binary
from ._messaging_schema import msg_messages, msg_tier_counts, msg_webhook_events
from ._messaging_send import COST_KIND, HOST_OWNER, PLATFORM_PAYABLE_KIND, record_of
from ._metering import _hold_windows, _move_windows

STATUS_BATCH_MAX = 1024
"""Delivery statuses one batch applies at most."""
_STATUS_COLUMNS = (
    ("status", "text"), ("seen", "text"), ("hold_nanos", "bigint"), ("charge_nanos", "bigint"),
    ("cost_nanos", "bigint"), ("ordinal", "int"), ("booked", "boolean"), ("final", "boolean"), ("sent_us", "bigint"),
    ("delivered_us", "bigint"), ("failed_us", "bigint"), ("mismatch", "text"),
)
_ADD_DELIVERED = (
    update(msg_tier_counts).where(
        msg_tier_counts.c.customer_id == bindparam("k_customer"), msg_tier_counts.c.channel == bindparam("k_channel"),
        msg_tier_counts.c.market == bindparam("k_market"), msg_tier_counts.c.category == bindparam("k_category"),
        msg_tier_counts.c.month == bindparam("k_month"))
    .values(delivered=msg_tier_counts.c.delivered + bindparam("k_added"))
)
_STATUS_NAMES = tuple(name for name, _ in _STATUS_COLUMNS)


class _StatusBatch:
    """The statuses of one batch applied in order to the messages' records held in memory;
    the money each moves is summed for `write`."""

    def __init__(self, connection: Connection, rows: Sequence) -> None:
        self.rows = {row.message_id: row for row in rows}
        self.records = {row.message_id: record_of(row) for row in rows}
        self.changed: set[str] = set()
        keys = sorted({r.quote.tier_key for r in self.records.values() if r.quote.billable})
        self.counts = _tier_counts_locked(connection, keys)
        self.added: dict[TierKey, int] = defaultdict(int)
        # Per (customer, funding, currency): [released, charged out of a hold, charged without one].
        self.money: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        self.costs: dict[str, int] = defaultdict(int)
        self.windows: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])

    def apply(self, message_id: str, status: StatusUpdate) -> dict:
        row, record = self.rows[message_id], self.records[message_id]
        key = record.quote.tier_key
        transition = apply_status(record, status, self.counts.get(key, 0) if record.quote.billable else 0)
        if transition.duplicate:
            return {"message": message_id, "status": status.status, "effect": "duplicate"}
        self.changed.add(message_id)
        if row.log_index is not None and (transition.charge_nanos or transition.cost_nanos):
            # A delivery reported after the message's failure was logged: the leaf (and the
            # statement that settles it) say failed, so the ledger must too. Kept for review.
            note = f"{status.status} reported after the failure was logged; not charged"
            self.records[message_id] = replace(record, seen=record.seen | {status.status},
                                               mismatch=record.mismatch or note)
            return {"message": message_id, "status": status.status, "effect": "after_log"}
        self.records[message_id] = transition.record
        money = self.money[(row.customer_id, row.funding_kind, row.currency)]
        money[0] += transition.release_nanos
        money[1 if transition.release_nanos else 2] += transition.charge_nanos
        self.costs[row.currency] += transition.cost_nanos
        if transition.release_nanos or transition.charge_nanos:
            for window in _hold_windows(row.budget_windows):
                self.windows[window][0] -= transition.release_nanos
                self.windows[window][1] += transition.charge_nanos
        if transition.counted:
            self.counts[key] = self.counts.get(key, 0) + 1
            self.added[key] += 1
        return {"message": message_id, "status": status.status, "effect": "applied",
                "charge_nanos": transition.charge_nanos, "released_nanos": transition.release_nanos}

    def _entries(self, now_us: int) -> list[JournalEntry]:
        moment = datetime_of_us(now_us)
        entries: list[JournalEntry] = []
        for (customer, funding, currency), (released, charged, charged_unheld) in sorted(self.money.items()):
            if released:
                entries.append(settle_reservation(
                    new_id("msb"), moment, customer=customer, host=HOST_OWNER, reserved=Money(released, currency),
                    charge=Money(charged, currency), funding=funding) if charged else
                    release(new_id("msr"), moment, customer=customer, amount=Money(released, currency), funding=funding))
            if charged_unheld:
                entries.append(settle_usage(new_id("msb"), moment, customer=customer, host=HOST_OWNER,
                                            charge=Money(charged_unheld, currency), source=funding))
        for currency, cost in sorted(self.costs.items()):
            if cost:
                entries.append(JournalEntry(new_id("msc"), moment, "platform cost of delivered messages", (
                    Posting(Account(HOST_OWNER, COST_KIND), cost, currency),
                    Posting(Account(HOST_OWNER, PLATFORM_PAYABLE_KIND), -cost, currency))))
        return entries

    def write(self, connection: Connection, now_us: int) -> None:
        post_entries(connection, self._entries(now_us))
        _move_windows(connection, {key: (r, s) for key, (r, s) in self.windows.items() if r or s})
        if self.added:
            connection.execute(_ADD_DELIVERED, [
                {"k_customer": k.business_id, "k_channel": k.channel, "k_market": k.market, "k_category": k.category,
                 "k_month": k.month, "k_added": added} for k, added in sorted(self.added.items())])
        rows = []
        for message_id in sorted(self.changed):
            record = self.records[message_id]
            values = {"status": record.status, "seen": ";".join(sorted(record.seen)), "final": record.final}
            values.update({name: getattr(record, name) for name in _STATUS_NAMES if name not in values})
            rows.append((*(values[name] for name in _STATUS_NAMES), message_id))
        bulk_update_binary(connection, "msg_messages", "message_id", _STATUS_COLUMNS, rows)


def _tier_counts_locked(connection: Connection, keys: Sequence[TierKey]) -> dict[TierKey, int]:
    """The tier counts of ``keys`` (rows created at 0 where missing), locked."""
    if not keys:
        return {}
    query = select(msg_tier_counts).where(
        msg_tier_counts.c.customer_id.in_(sorted({k.business_id for k in keys})),
        msg_tier_counts.c.month.in_(sorted({k.month for k in keys}))).with_for_update()
    found = {TierKey(r.customer_id, r.channel, r.market, r.category, r.month): r.delivered
             for r in connection.execute(query)}
    missing = [k for k in keys if k not in found]
    if missing:
        connection.execute(insert(msg_tier_counts), [
            {"customer_id": k.business_id, "channel": k.channel, "market": k.market, "category": k.category,
             "month": k.month, "delivered": 0} for k in missing])
    return {k: found.get(k, 0) for k in keys}


def _admit_events(connection: Connection, events: Sequence[tuple[str, str, int]], now_us: int) -> list[str]:
    """The admission verdict of each (channel, event key, event time); the new keys are
    remembered (a key twice in one batch: the second is a duplicate)."""
    seen = {(r.channel_id, r.event_key) for r in connection.execute(select(msg_webhook_events).where(
        msg_webhook_events.c.channel_id.in_(sorted({e[0] for e in events})),
        msg_webhook_events.c.event_key.in_(sorted({e[1] for e in events}))))}
    verdicts, new = [], []
    for channel_id, key, time_us in events:
        verdict = admit_event(key, time_us, now_us, {key} if (channel_id, key) in seen else set())
        if verdict == ADMIT_NEW:
            seen.add((channel_id, key))
            new.append((channel_id, key, now_us))
        verdicts.append(verdict)
    bulk_insert_binary(connection, "msg_webhook_events",
                       [("channel_id", "text"), ("event_key", "text"), ("received_us", "bigint")], new)
    return verdicts


def apply_status_batch(connection: Connection, statuses: Sequence[tuple[str, StatusUpdate]],
                       now_us: int) -> list[dict]:
    """Apply each (channel, delivery status) once, in order, in the caller's transaction; a
    status seen before, one too old to be told from a replay, or one of a message this host
    never sent changes nothing."""
    if len(statuses) > STATUS_BATCH_MAX:
        raise ValueError(f"a status batch holds at most {STATUS_BATCH_MAX} statuses")
    if not statuses:
        return []
    verdicts = _admit_events(connection, [(c, s.event_key, s.time_us) for c, s in statuses], now_us)
    admitted = [(c, s) for (c, s), verdict in zip(statuses, verdicts) if verdict == ADMIT_NEW]
    rows = connection.execute(select(msg_messages).where(
        msg_messages.c.channel_id.in_(sorted({c for c, _ in admitted})),
        msg_messages.c.platform_id.in_(sorted({s.platform_id for _, s in admitted})),
        msg_messages.c.direction == "out").order_by(msg_messages.c.message_id).with_for_update()).all() if admitted else []
    by_platform = {(row.channel_id, row.platform_id): row.message_id for row in rows}
    batch = _StatusBatch(connection, rows)
    results = []
    for (channel_id, status), verdict in zip(statuses, verdicts):
        message_id = by_platform.get((channel_id, status.platform_id))
        if verdict != ADMIT_NEW:
            results.append({"status": status.status, "effect": verdict})
        elif message_id is None:
            results.append({"status": status.status, "effect": "unknown_message"})
        else:
            results.append(batch.apply(message_id, status))
    batch.write(connection, now_us)
    return results


def apply_statuses(engine: Engine, channel_id: str, statuses: tuple[StatusUpdate, ...], now_us: int) -> list[dict]:
    """Apply each delivery status of one channel once (one transaction per
    ``STATUS_BATCH_MAX``)."""
    results: list[dict] = []
    for start in range(0, len(statuses), STATUS_BATCH_MAX):
        with writing(engine) as connection:
            results += apply_status_batch(
                connection, [(channel_id, s) for s in statuses[start:start + STATUS_BATCH_MAX]], now_us)
    return results


def fail_send(engine: Engine, message_id: str, now_us: int) -> None:
    """The channel refused the send: the message failed, its hold is released."""
    with writing(engine) as connection:
        row = connection.execute(select(msg_messages).where(msg_messages.c.message_id == message_id)
                                 .with_for_update()).one()
        batch = _StatusBatch(connection, [row])
        batch.apply(message_id, StatusUpdate(row.platform_id or message_id, row.channel_id, "failed", now_us))
        batch.write(connection, now_us)
