"""Monthly active users of one host (or a group of affiliates) in one calendar month.

End users are never kept: only `end_user_hash`, a 64-bit keyed BLAKE2b (RFC 7693 keyed mode, a
pseudorandom function like HMAC, at half HMAC-SHA256's cost on the request path) under the
host's secret, of an id scoped by customer (`end_user_id`). The counter is exact up to
`exact_users_max` distinct hashes (a set) and a HyperLogLog sketch above it (see `_hll`).

`MauCounter` is the one mutable value in this package: an accumulator updated per request,
where copying a 16 KiB sketch or a 100,000-entry set per update would be absurd. Everything it
reports (`snapshot`, `serialize`) is immutable. The canonical serialization (for the store and
for the digest in the `licence` leaf):

    b"RSMAU" | version 0x01 | method (0x00 exact, 0x01 hll) | month "YYYY-MM" (7 ASCII bytes) |
    exact: the hashes, 8 bytes big-endian each, strictly increasing
    hll:   precision (1 byte, 14) | 2^14 register bytes
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ._errors import SketchError
from ._hll import HLL_ERROR_PPM, HLL_PRECISION, HLL_REGISTERS, RANK_MAX, add_hash, estimate, registers_of, union

EXACT, HLL = "exact", "hll"
_MAGIC = b"RSMAU\x01"
_HEADER_BYTES = len(_MAGIC) + 1 + 7
_MONTH = re.compile(rb"\d{4}-(0[1-9]|1[0-2])")
USER_ID_SEPARATOR = _SEPARATOR = "\x1f"
HOST_SECRET_BYTES_MIN = 16


def end_user_id(customer: str, user: str | None, key_id: str) -> str:
    """Who the end user is: the OpenAI `user` field or the documented end-user header (the
    gateway picks), scoped by the customer who sent it; else the API key itself."""
    if user:
        return f"u{_SEPARATOR}{customer}{_SEPARATOR}{user}"
    return f"k{_SEPARATOR}{key_id}"


def end_user_hash(secret: bytes, user_id: str) -> int:
    """The keyed pseudonym of an end user: BLAKE2b-64 of the id keyed with the host's secret
    (at most 64 bytes; the store makes 32)."""
    return int.from_bytes(hashlib.blake2b(user_id.encode("utf-8"), key=secret, digest_size=8).digest(), "big")


@dataclass(frozen=True, slots=True)
class MauSnapshot:
    month: str
    users: int
    method: str
    error_ppm: int
    sketch_sha256: str


class MauCounter:
    """Distinct end users in `month` ("YYYY-MM"), exact up to `exact_users_max`."""

    __slots__ = ("month", "exact_users_max", "_exact", "_registers")

    def __init__(self, month: str, exact_users_max: int = 100_000) -> None:
        if not _MONTH.fullmatch(month.encode("ascii", "replace")):
            raise SketchError(f"month must be YYYY-MM, got {month!r}")
        if exact_users_max <= 0:
            raise SketchError("exact_users_max must be positive")
        self.month = month
        self.exact_users_max = exact_users_max
        self._exact: set[int] | None = set()
        self._registers: bytearray | None = None

    @property
    def method(self) -> str:
        return EXACT if self._exact is not None else HLL

    def add(self, user_hash: int) -> None:
        exact = self._exact
        if exact is not None:
            exact.add(user_hash)
            if len(exact) > self.exact_users_max:
                self._registers, self._exact = registers_of(exact), None
        else:
            add_hash(self._registers, user_hash)

    def count(self) -> int:
        return len(self._exact) if self._exact is not None else estimate(self._registers)

    def merged(self, other: "MauCounter") -> "MauCounter":
        """A new counter of the union (affiliates grouped). Hashes must come from the same
        secret to be recognised as the same user; different secrets overcount, never under."""
        if other.month != self.month:
            raise SketchError(f"cannot merge {self.month} with {other.month}")
        result = MauCounter(self.month, min(self.exact_users_max, other.exact_users_max))
        if self._exact is not None and other._exact is not None:
            for user_hash in self._exact | other._exact:
                result.add(user_hash)
            return result
        result._exact, result._registers = None, union(self._sketch(), other._sketch())
        return result

    def parts(self) -> tuple[tuple[int, ...] | None, bytes | None]:
        """What the counter holds: (the hashes, None) while exact, (None, the registers) after."""
        if self._exact is not None:
            return tuple(sorted(self._exact)), None
        return None, bytes(self._registers)

    def _sketch(self) -> bytes:
        return registers_of(self._exact) if self._exact is not None else bytes(self._registers)

    def serialize(self) -> bytes:
        head = _MAGIC + (b"\x00" if self._exact is not None else b"\x01") + self.month.encode("ascii")
        if self._exact is not None:
            return head + b"".join(h.to_bytes(8, "big") for h in sorted(self._exact))
        return head + bytes([HLL_PRECISION]) + bytes(self._registers)

    @classmethod
    def deserialize(cls, data: bytes, exact_users_max: int = 100_000) -> "MauCounter":
        if len(data) < _HEADER_BYTES or not data.startswith(_MAGIC) or data[6] not in (0, 1):
            raise SketchError("not a revstream MAU state (bad header)")
        month = data[7:_HEADER_BYTES]
        if not _MONTH.fullmatch(month):
            raise SketchError("not a revstream MAU state (bad month)")
        counter, body = cls(month.decode("ascii"), exact_users_max), data[_HEADER_BYTES:]
        if data[6] == 0:
            if len(body) % 8:
                raise SketchError("exact state: length is not a multiple of 8")
            hashes = [int.from_bytes(body[i:i + 8], "big") for i in range(0, len(body), 8)]
            if any(a >= b for a, b in zip(hashes, hashes[1:])):
                raise SketchError("exact state: hashes are not strictly increasing")
            for user_hash in hashes:
                counter.add(user_hash)
            return counter
        if len(body) != 1 + HLL_REGISTERS or body[0] != HLL_PRECISION or max(body[1:]) > RANK_MAX:
            raise SketchError(f"hll state: expected precision {HLL_PRECISION} and {HLL_REGISTERS} registers")
        counter._exact, counter._registers = None, bytearray(body[1:])
        return counter

    def snapshot(self) -> MauSnapshot:
        """The month's figures for the `licence` leaf: count, method, error, state digest."""
        return MauSnapshot(self.month, self.count(), self.method, 0 if self._exact is not None else HLL_ERROR_PPM,
                           hashlib.sha256(self.serialize()).hexdigest())
