"""A worker's monthly-active-user buffer: the end users it saw since its last merge into the
store, per calendar month, as keyed hashes.

Like `MauCounter` this is an accumulator, updated once per request on the gateway's hot path:
`observe` costs one keyed BLAKE2b and a set insertion (no clock, no I/O: the caller passes the
request's time); it computes `end_user_hash(secret, end_user_id(...))` inline, a function call
less per request. `take` hands the new hashes to the store's merge and `restore` puts them back
when the merge failed, so a store outage loses no user.

Per month the buffer keeps the hashes not merged yet (`pending`) and those it merged already
(`seen`, so a returning user is not sent again; at most `seen_max`, then forgotten: merging a
hash twice changes nothing). Once a month has more than `exact_users_max` new users here, or
the store says the month is a sketch, the month keeps a HyperLogLog sketch instead (16 KiB),
merged register by register: the month is then past the exact bound for the whole host anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from hashlib import blake2b

from ..periods import period_bounds_us, period_of_us
from ._hll import add_hash, registers_of
from ._mau import USER_ID_SEPARATOR

_SEP = USER_ID_SEPARATOR
_from_bytes = int.from_bytes
SEEN_USERS_MAX = 200_000
"""Hashes a month remembers as merged (about 16 MB); past it, repeats are merged again."""


@dataclass(frozen=True, slots=True)
class MauBatch:
    """What one month's merge sends: the new hashes, or the month's sketch."""

    month: str
    hashes: tuple[int, ...]
    registers: bytes | None


class _Month:
    __slots__ = ("pending", "seen", "registers", "dirty")

    def __init__(self) -> None:
        self.pending: set[int] = set()
        self.seen: set[int] = set()
        self.registers: bytearray | None = None
        self.dirty = False


class MauBuffer:
    """The end users one worker saw, per month, not merged into the store yet."""

    __slots__ = ("_secret", "exact_users_max", "seen_max", "_months", "_month", "_start_us", "_end_us", "_current")

    def __init__(self, secret: bytes, exact_users_max: int, seen_max: int = SEEN_USERS_MAX) -> None:
        self._secret = secret
        self.exact_users_max = exact_users_max
        self.seen_max = seen_max
        self._months: dict[str, _Month] = {}
        self._month, self._start_us, self._end_us, self._current = "", 0, 0, _Month()

    def observe(self, customer_id: str, user: str | None, key_id: str, time_us: int) -> None:
        """One request of an end user (the `user` field or header, else the key) at `time_us`:
        `end_user_hash(secret, end_user_id(customer_id, user, key_id))`, recorded in its month."""
        if not self._start_us <= time_us < self._end_us:
            self._switch(time_us)
        text = f"u{_SEP}{customer_id}{_SEP}{user}" if user else f"k{_SEP}{key_id}"
        user_hash = _from_bytes(blake2b(text.encode("utf-8"), key=self._secret, digest_size=8).digest(), "big")
        month = self._current
        if month.registers is None and user_hash in month.seen:
            return
        self.add(user_hash, month)

    def month(self, time_us: int) -> str:
        """The calendar month ("YYYY-MM") of `time_us` (cached for the month last seen)."""
        if not self._start_us <= time_us < self._end_us:
            self._switch(time_us)
        return self._month

    def _switch(self, time_us: int) -> None:
        month = period_of_us(time_us)
        self._month, (self._start_us, self._end_us) = month, period_bounds_us(month)
        self._current = self._months.setdefault(month, _Month())

    def add(self, user_hash: int, month: _Month) -> None:
        registers = month.registers
        if registers is not None:
            add_hash(registers, user_hash)
            month.dirty = True
        elif user_hash not in month.seen:
            pending = month.pending
            pending.add(user_hash)
            if len(pending) > self.exact_users_max:
                month.registers, month.pending, month.seen, month.dirty = registers_of(pending), set(), set(), True

    def take(self) -> tuple[MauBatch, ...]:
        """Every month with something to merge; the buffer counts it as merged from now on.
        Months other than the latest one seen are forgotten once taken."""
        batches = []
        for name, month in list(self._months.items()):
            if month.registers is not None and month.dirty:
                batches.append(MauBatch(name, (), bytes(month.registers)))
                month.dirty = False
            elif month.pending:
                batches.append(MauBatch(name, tuple(month.pending), None))
                if len(month.seen) + len(month.pending) > self.seen_max:
                    month.seen = set()
                month.seen |= month.pending
                month.pending = set()
            if name != self._month:
                del self._months[name]
        return tuple(batches)

    def restore(self, batch: MauBatch) -> None:
        """Put back a batch whose merge failed, to be taken again."""
        month = self._months.setdefault(batch.month, _Month())
        if batch.registers is not None:
            if month.registers is None:
                month.registers, month.pending, month.seen = registers_of(month.pending), set(), set()
            month.registers = bytearray(max(a, b) for a, b in zip(month.registers, batch.registers))
            month.dirty = True
            return
        month.seen.difference_update(batch.hashes)
        for user_hash in batch.hashes:
            self.add(user_hash, month)

    def merged_as_sketch(self, month_name: str, registers: bytes) -> None:
        """The store keeps `month_name` as a sketch: keep one here too (merged register-wise)."""
        month = self._months.get(month_name)
        if month is None or month.registers is not None:
            return
        local = bytearray(registers)
        for user_hash in month.pending:
            add_hash(local, user_hash)
        month.registers, month.dirty, month.pending, month.seen = local, bool(month.pending), set(), set()
