"""Largest-remainder allocation of an integer total in proportion to weights."""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

from revstream.settlement._errors import SettlementError


def allocate_largest_remainder(total: int, weights: Sequence[int | Fraction]) -> tuple[int, ...]:
    """Split the int ``total`` into ints proportional to non-negative ``weights``, summing exactly.

    Each part gets the floor of its exact quota; the units left over go one each to the
    parts with the largest fractional remainders, ties to the earlier part, so the result
    is deterministic. Negative totals are split as the negation of the positive split.
    """
    if any(weight < 0 for weight in weights):
        raise SettlementError("allocation weights must be non-negative")
    if total < 0:
        return tuple(-part for part in allocate_largest_remainder(-total, weights))
    weight_sum = sum(weights, Fraction(0))
    if weight_sum == 0:
        if total == 0:
            return tuple(0 for _ in weights)
        raise SettlementError(f"cannot allocate {total} over zero weights")
    quotas = [Fraction(total) * weight / weight_sum for weight in weights]
    parts = [quota.numerator // quota.denominator for quota in quotas]
    leftover = total - sum(parts)
    order = sorted(range(len(quotas)), key=lambda index: (parts[index] - quotas[index], index))
    for index in order[:leftover]:
        parts[index] += 1
    return tuple(parts)
