"""The licensor console's core: hosts, the outcome of verifying each of their statements,
and the report of a period across hosts. Pure: values in, values out, no I/O, no clock.

A licensor registers the hosts it works with (`ConsoleHost`); a sync fetches each host's
statements and verifies each with `verify_statement`, and keeps one `StatementOutcome` per
statement: ``verified``, ``failed`` (with the reason and the evidence folder) or
``unchecked`` (could not be checked yet: host unreachable, not witnessed yet, not signed).
The figures of an outcome are those the statement itself declares (its signed JSON), so a
failed statement still shows what the host claimed.

`console_report` answers, for one period, per host and in total: gross, share, minimum
top-up and cap reduction applied, the payable share in minor units, the state of each
statement with its reason, and the statements missing. Totals are per currency, never
summed across currencies, and count verified statements only; what unverified statements
claim is shown beside them (`claimed_unverified_share_nanos`).

A statement is *missing* for a period when an agreement the licensor saw from that host (in
any statement) covers the period by its effective dates and the host listed no statement of
it; a host from which no agreement is known yet misses one (``agreement_id`` None) when it
listed nothing for the period.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import orjson

from ..money import MoneyError
from ..periods import Period
from ..settlement import SettlementError, statement_body_of_note_text, statement_from_json

VERIFIED, FAILED, UNCHECKED = "verified", "failed", "unchecked"
OUTCOME_STATES = (VERIFIED, FAILED, UNCHECKED)


@dataclass(frozen=True, slots=True)
class ConsoleHost:
    """A host the licensor works with: where its log is, how to check it, how to read it."""

    name: str
    url: str
    vkey: str
    token_env: str
    witnesses: tuple[str, ...] = ()
    quorum: int = 0
    tiles_url: str | None = None
    created_us: int = 0


@dataclass(frozen=True, slots=True)
class StatementFigures:
    """What a statement declares (read from its signed JSON, verified or not)."""

    agreement_id: str | None = None
    licensor: str | None = None
    origin: str | None = None
    currency: str | None = None
    effective_from: str | None = None
    effective_to: str | None = None
    gross_total_nanos: int | None = None
    share_total_nanos: int | None = None
    minimum_top_up_nanos: int | None = None
    cap_reduction_nanos: int | None = None
    share_total_minor: int | None = None


@dataclass(frozen=True, slots=True)
class StatementOutcome:
    """One statement of one host, as the last sync found it."""

    host: str
    statement_id: str
    period: str
    state: str
    reason: str | None
    figures: StatementFigures
    note: str | None = None
    evidence: str | None = None
    checked_us: int = 0

    def __post_init__(self) -> None:
        if self.state not in OUTCOME_STATES:
            raise ValueError(f"outcome state must be one of {OUTCOME_STATES}, got {self.state!r}")


@dataclass(frozen=True, slots=True)
class SyncRecord:
    """The last sync of a host: when, what it found, and why it stopped if it did."""

    host: str
    started_us: int
    finished_us: int
    listed: int
    verified: int
    failed: int
    unchecked: int
    error: str | None


@dataclass(frozen=True, slots=True)
class Missing:
    """A statement a host should have issued for the period (see the module docstring); the
    currency is its agreement's, as its earlier statements declared it (None if unknown)."""

    host: str
    agreement_id: str | None
    reason: str
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class CurrencyTotal:
    """Totals of one currency: amounts of verified statements; counts of every state."""

    currency: str
    statements_verified: int = 0
    statements_failed: int = 0
    statements_unchecked: int = 0
    statements_missing: int = 0
    gross_total_nanos: int = 0
    share_total_nanos: int = 0
    minimum_top_up_nanos: int = 0
    cap_reduction_nanos: int = 0
    share_total_minor: int = 0
    claimed_unverified_share_nanos: int = 0


@dataclass(frozen=True, slots=True)
class HostPeriod:
    host: ConsoleHost
    statements: tuple[StatementOutcome, ...]
    missing: tuple[Missing, ...]
    totals: tuple[CurrencyTotal, ...]
    last_sync: SyncRecord | None


@dataclass(frozen=True, slots=True)
class ConsoleReport:
    period: str
    hosts: tuple[HostPeriod, ...]
    totals: tuple[CurrencyTotal, ...]
    missing: tuple[Missing, ...]


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def statement_figures(note_text: str | None) -> StatementFigures:
    """The figures a signed statement declares, unverified; empty figures if it does not parse."""
    if not note_text or "\n\n" not in note_text:
        return StatementFigures()
    try:
        value = orjson.loads(statement_body_of_note_text(note_text[: note_text.rfind("\n\n") + 1]))
        statement = statement_from_json(value)
    except (ValueError, TypeError, KeyError, SettlementError, MoneyError):  # JSONDecodeError is a ValueError
        return StatementFigures()
    terms = value.get("terms") if isinstance(value.get("terms"), dict) else {}
    log = value.get("log") if isinstance(value.get("log"), dict) else {}
    return StatementFigures(
        statement.agreement_id, statement.licensor, _str_or_none(log.get("origin")), statement.currency,
        _str_or_none(terms.get("effective_from")), _str_or_none(terms.get("effective_to")),
        statement.gross_total_nanos, statement.share_total_nanos, statement.minimum_top_up_nanos,
        statement.cap_reduction_nanos, statement.share_total_minor)


def _covers(figures: StatementFigures, period: str) -> bool:
    """Whether the agreement's effective dates (inclusive ``effective_to``) overlap ``period``."""
    if figures.effective_from is None:
        return False
    first_day, last_day = f"{period}-01", f"{period}-31"  # ISO dates compare as text
    return figures.effective_from <= last_day and (figures.effective_to is None or figures.effective_to >= first_day)


def missing_statements(host: str, period: str, outcomes: Iterable[StatementOutcome]) -> tuple[Missing, ...]:
    """The statements of ``period`` that ``host`` should have issued and did not list (see the module docstring)."""
    Period.parse(period)
    known: dict[str, StatementFigures] = {}
    listed: set[str | None] = set()
    for outcome in sorted(outcomes, key=lambda o: (o.period, o.statement_id)):
        if outcome.figures.agreement_id is not None:
            known[outcome.figures.agreement_id] = outcome.figures  # the latest terms seen
        if outcome.period == period:
            listed.add(outcome.figures.agreement_id)
    if not known:
        return () if listed else (Missing(host, None, f"the host listed no statement for {period}"),)
    return tuple(Missing(host, agreement, f"agreement {agreement} covers {period} but the host listed no statement "
                                          f"of it for {period}", figures.currency)
                 for agreement, figures in sorted(known.items())
                 if agreement not in listed and _covers(figures, period))


def _totals(outcomes: Iterable[StatementOutcome], missing: Iterable[Missing] = ()) -> tuple[CurrencyTotal, ...]:
    sums: dict[str, dict[str, int]] = {}
    for gap in missing:
        if gap.currency is not None:
            sums.setdefault(gap.currency, dict.fromkeys(CurrencyTotal.__slots__[1:], 0))["statements_missing"] += 1
    for outcome in outcomes:
        figures = outcome.figures
        currency = figures.currency or "???"
        row = sums.setdefault(currency, dict.fromkeys(CurrencyTotal.__slots__[1:], 0))
        row[f"statements_{outcome.state}"] += 1
        if outcome.state == VERIFIED:
            for name in ("gross_total_nanos", "share_total_nanos", "minimum_top_up_nanos", "cap_reduction_nanos",
                         "share_total_minor"):
                row[name] += getattr(figures, name) or 0
        else:
            row["claimed_unverified_share_nanos"] += figures.share_total_nanos or 0
    return tuple(CurrencyTotal(currency, **row) for currency, row in sorted(sums.items()))


def _merge(totals: Iterable[CurrencyTotal]) -> tuple[CurrencyTotal, ...]:
    sums: dict[str, dict[str, int]] = {}
    for total in totals:
        row = sums.setdefault(total.currency, dict.fromkeys(CurrencyTotal.__slots__[1:], 0))
        for name in row:
            row[name] += getattr(total, name)
    return tuple(CurrencyTotal(currency, **row) for currency, row in sorted(sums.items()))


def console_report(period: str, hosts: Sequence[ConsoleHost], outcomes: Iterable[StatementOutcome],
                   syncs: Mapping[str, SyncRecord] | None = None) -> ConsoleReport:
    """The report of ``period`` across ``hosts`` from every known outcome (of any period:
    earlier ones tell which agreements a host has)."""
    Period.parse(period)
    by_host: dict[str, list[StatementOutcome]] = {host.name: [] for host in hosts}
    for outcome in outcomes:
        if outcome.host in by_host:
            by_host[outcome.host].append(outcome)
    entries = []
    for host in sorted(hosts, key=lambda h: h.name):
        own = tuple(sorted((o for o in by_host[host.name] if o.period == period), key=lambda o: o.statement_id))
        missing = missing_statements(host.name, period, by_host[host.name])
        entries.append(HostPeriod(host, own, missing, _totals(own, missing), (syncs or {}).get(host.name)))
    return ConsoleReport(period, tuple(entries), _merge(t for entry in entries for t in entry.totals),
                         tuple(m for entry in entries for m in entry.missing))


def periods_of(outcomes: Iterable[StatementOutcome]) -> tuple[str, ...]:
    """Every period some host has a statement of, newest first."""
    return tuple(sorted({outcome.period for outcome in outcomes}, reverse=True))


def _total_json(total: CurrencyTotal) -> dict:
    return {name: getattr(total, name) for name in CurrencyTotal.__slots__}


def outcome_json(outcome: StatementOutcome) -> dict:
    figures = outcome.figures
    return {"host": outcome.host, "statement": outcome.statement_id, "period": outcome.period,
            "state": outcome.state, "reason": outcome.reason, "evidence": outcome.evidence,
            "checked_us": outcome.checked_us,
            **{name: getattr(figures, name) for name in StatementFigures.__slots__}}


def host_json(host: ConsoleHost) -> dict:
    return {"name": host.name, "url": host.url, "vkey": host.vkey, "token_env": host.token_env,
            "witnesses": list(host.witnesses), "quorum": host.quorum, "tiles_url": host.tiles_url,
            "created_us": host.created_us}


def report_json(report: ConsoleReport) -> dict:
    """The report as JSON values (amounts in integer nanos; `json_safe` them for the wire)."""
    return {
        "period": report.period,
        "hosts": [{
            "host": entry.host.name, "url": entry.host.url,
            "statements": [outcome_json(outcome) for outcome in entry.statements],
            "missing": [{"agreement": m.agreement_id, "currency": m.currency, "reason": m.reason}
                        for m in entry.missing],
            "totals": [_total_json(total) for total in entry.totals],
            "last_sync": None if entry.last_sync is None else {
                name: getattr(entry.last_sync, name) for name in SyncRecord.__slots__ if name != "host"},
        } for entry in report.hosts],
        "totals": [_total_json(total) for total in report.totals],
        "missing": [{"host": m.host, "agreement": m.agreement_id, "currency": m.currency, "reason": m.reason}
                    for m in report.missing],
    }
