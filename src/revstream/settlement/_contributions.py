"""Other streams' contributions to a statement: revenue and reported counts proven by log
leaves of kinds other than ``usage`` and ``fee`` (ad impressions and clicks, business
messages, monthly active users, recitation events). Pure.

A statement of period P settles, of each such kind, exactly the leaves appended since the
previous close's checkpoint and below its own: ``[previous_size, size)`` (every leaf lands
in exactly one close, whatever the time it records). The host's close marks the rows behind
those leaves with the period; the verifier reads the same leaves from the log. A registered
*contributor* turns them into what the statement carries:

* ``groups``: revenue by model and stream, as rating groups of no usage whose ``fee_exact``
  is the exact gross (the ``ads`` stream's impressions and clicks, the ``messaging``
  stream's message fees), settled at the agreement's share for that stream;
* ``sections``: named JSON values the statement reports and the verifier recomputes (the
  month's active users against the licence threshold, recitation counts per work).

Feature packages register their contributor once, in `revstream.features`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from revstream.leaves import LeafKind
from revstream.settlement._errors import UsageLineError
from revstream.settlement._rate import UsageGroup
from revstream.settlement._terms import Agreement


@dataclass(frozen=True, slots=True)
class Contribution:
    """What the leaves of one kind add to one agreement's statement."""

    groups: tuple[UsageGroup, ...] = ()
    sections: tuple[tuple[str, object], ...] = ()


Contributor = Callable[[Agreement, str, Sequence[dict]], Contribution]
"""(agreement, period, the decoded leaves of its kind that the statement settles) → contribution."""

_CONTRIBUTORS: dict[LeafKind, Contributor] = {}


def register_contributor(kind: LeafKind, contributor: Contributor) -> None:
    """Declare how leaves of ``kind`` contribute to statements (once per kind)."""
    if _CONTRIBUTORS.get(kind, contributor) is not contributor:
        raise ValueError(f"a contributor for {kind} leaves is registered already")
    _CONTRIBUTORS[kind] = contributor


def contributing_kinds() -> frozenset[LeafKind]:
    return frozenset(_CONTRIBUTORS)


def contribute(agreement: Agreement, period: str, leaves: Mapping[LeafKind, Sequence[dict]]) -> Contribution:
    """Every registered kind's contribution for ``agreement``, merged (sections by name,
    which must not repeat across kinds)."""
    groups: list[UsageGroup] = []
    sections: dict[str, object] = {}
    for kind in sorted(_CONTRIBUTORS):
        contribution = _CONTRIBUTORS[kind](agreement, period, tuple(leaves.get(kind, ())))
        groups.extend(contribution.groups)
        for name, value in contribution.sections:
            if name in sections:
                raise UsageLineError(f"two contributions name the statement section {name!r}")
            sections[name] = value
    return Contribution(tuple(groups), tuple(sorted(sections.items())))
