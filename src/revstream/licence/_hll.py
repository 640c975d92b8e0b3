"""HyperLogLog (Flajolet et al., 2007) over 64-bit keyed hashes, precision p = 14.

m = 2^14 = 16,384 one-byte registers (16 KiB). The relative standard error of the estimate is
1.04 / sqrt(m) = 0.8125 % (`HLL_ERROR_PPM`); about 99.7 % of estimates fall within three
standard errors (2.44 %). Small cardinalities use linear counting, as the paper prescribes; a
64-bit hash needs no large-range correction at any realistic count.
"""

from __future__ import annotations

import math

HLL_PRECISION = 14
HLL_REGISTERS = 1 << HLL_PRECISION
HLL_ERROR_PPM = 8125  # 1.04 / sqrt(2^14) = 0.008125 exactly
_SUFFIX_BITS = 64 - HLL_PRECISION
_SUFFIX_MASK = (1 << _SUFFIX_BITS) - 1
RANK_MAX = _SUFFIX_BITS + 1
_ALPHA = 0.7213 / (1 + 1.079 / HLL_REGISTERS)


def add_hash(registers: bytearray, user_hash: int) -> None:
    """Record one 64-bit hash: the first p bits pick the register, the rest give its rank."""
    rank = RANK_MAX - (user_hash & _SUFFIX_MASK).bit_length()
    index = user_hash >> _SUFFIX_BITS
    if rank > registers[index]:
        registers[index] = rank


def registers_of(hashes) -> bytearray:
    registers = bytearray(HLL_REGISTERS)
    for user_hash in hashes:
        add_hash(registers, user_hash)
    return registers


def union(left: bytes, right: bytes) -> bytearray:
    """The sketch of the union: register-wise maximum."""
    return bytearray(max(a, b) for a, b in zip(left, right))


def estimate(registers: bytes) -> int:
    """The estimated number of distinct hashes recorded, rounded to an integer."""
    histogram = [0] * (RANK_MAX + 1)
    for value in registers:
        histogram[value] += 1
    harmonic = sum(count * 2.0 ** -rank for rank, count in enumerate(histogram) if count)
    raw = _ALPHA * HLL_REGISTERS * HLL_REGISTERS / harmonic
    zeros = histogram[0]
    if raw <= 2.5 * HLL_REGISTERS and zeros:
        return round(HLL_REGISTERS * math.log(HLL_REGISTERS / zeros))
    return round(raw)
