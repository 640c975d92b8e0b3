"""The licence section of a licensor's statement, recomputed from `licence` leaves.

A period's close settles the `licence` leaves appended since the previous close (normally one:
the month just closed, frozen by the store's licence log source). Each becomes one line of the
statement section `licence`: the month's active users, how they were counted and with what
error, their share of the threshold in force, and the acceptable-use counts per category. The
host's settlement and the licensor's verifier both call `licence_contribution` (registered in
`revstream.features`), so `revstream verify` recomputes the section from the log. Pure.
"""

from __future__ import annotations

from typing import Sequence

from ..settlement import Agreement, Contribution, UsageLineError
from ._errors import LeafError
from ._leaf import STATEMENT_SECTION, licence_statement_line, parse_licence_leaf


def licence_contribution(agreement: Agreement, period: str, leaves: Sequence[dict]) -> Contribution:
    """The `licence` section (one line per month, by month) of every statement of the close;
    no section when the close settles no licence leaf. The same for every agreement: the
    monthly active users are the host's, whatever model served them."""
    try:
        lines = sorted((licence_statement_line(parse_licence_leaf(value)) for value in leaves),
                       key=lambda line: line["month"])
    except LeafError as error:
        raise UsageLineError(f"a licence leaf: {error}") from None
    months = [line["month"] for line in lines]
    if len(set(months)) != len(months):
        raise UsageLineError(f"two licence leaves for the same month in one close: {months}")
    return Contribution((), ((STATEMENT_SECTION, lines),)) if lines else Contribution()
