"""Errors of the settlement core.

Hierarchy::

    SettlementError                 base of every settlement failure
    ├── AgreementError              invalid agreement terms
    │   └── TierParseError          a tier list ("0:1000,100000:1500") that does not parse
    ├── PeriodError                 a period that is not "YYYY-MM", or not covered, or not earlier
    ├── UsageLineError              a usage line with bad counts, an unknown model, a duplicate
    └── StatementError              a statement whose lines do not add up to its totals
                                    (returned by ``validate_statement``, raised by
                                    ``compute_statement`` if its own output is inconsistent)
"""

from __future__ import annotations


class SettlementError(Exception):
    """Base of every failure in the settlement core."""


class AgreementError(SettlementError, ValueError):
    """Agreement terms that are missing, contradictory or out of range."""


class TierParseError(AgreementError):
    """A tier specification that is not "threshold:bps,..." with increasing thresholds from 0."""


class PeriodError(SettlementError, ValueError):
    """A period that is malformed, outside the agreement, or not before the statement's."""


class UsageLineError(SettlementError, ValueError):
    """A usage line that cannot be settled under the agreement."""


class StatementError(SettlementError):
    """A statement that breaks an invariant (its lines do not add up to its totals)."""

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, StatementError) and other.args == self.args

    def __hash__(self) -> int:
        return hash((type(self), self.args))
