"""The licensor console in the dashboard (issue 17): on a licensor's own install, the admin
token also sees every host the console follows, per period: each statement's gross, share,
minimum top-up, cap reduction and payable amount as the statement declares it, whether this
install verified it (or why not), the statements missing, and totals per currency of the
verified ones; and an overview across periods. The figures are those `revstream licensor
report` prints, from the same pure report (`revstream.audit.console_report`), formatted by
the server (`money_json`): the page computes no money.

`GET /dashboard/api/console?period=YYYY-MM` (admin token; default: the newest period).
"""

from __future__ import annotations

import asyncio

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..audit import ConsoleReport, CurrencyTotal, StatementOutcome, console_report, periods_of
from ..metering import rfc3339
from ..money import MoneyError, json_safe, validate_currency
from ..periods import Period
from ..store import last_syncs, list_licensor_hosts, list_outcomes
from ._errors import BadRequest
from ._viewer import HOST, require, resolve_viewer, token_of
from ._views import minor_money_json, money_json

CONSOLE_PERIODS_MAX = 36
"""Periods the overview shows, newest first."""


def has_console(engine) -> bool:
    """Whether this install follows hosts as a licensor (then the admin token sees the console)."""
    return bool(list_licensor_hosts(engine))


def _money(nanos: int | None, currency: str | None) -> dict | None:
    if nanos is None or currency is None:
        return None
    try:
        validate_currency(currency)
    except MoneyError:
        return None
    return money_json(nanos, currency)


def _statement(outcome: StatementOutcome) -> dict:
    figures, currency = outcome.figures, outcome.figures.currency
    payable = figures.share_total_minor
    return {
        "host": outcome.host, "statement": outcome.statement_id, "period": outcome.period,
        "agreement": figures.agreement_id, "currency": currency, "state": outcome.state, "reason": outcome.reason,
        "gross": _money(figures.gross_total_nanos, currency), "share": _money(figures.share_total_nanos, currency),
        "minimum_top_up": _money(figures.minimum_top_up_nanos, currency),
        "cap_reduction": _money(figures.cap_reduction_nanos, currency),
        "payable": None if payable is None or _money(0, currency) is None else minor_money_json(payable, currency),
        "checked": rfc3339(outcome.checked_us),
    }


def _total(total: CurrencyTotal) -> dict:
    currency = total.currency
    return {
        "currency": currency, "verified": total.statements_verified, "failed": total.statements_failed,
        "unchecked": total.statements_unchecked, "missing": total.statements_missing,
        "gross": _money(total.gross_total_nanos, currency),
        "share": _money(total.share_total_nanos, currency),
        "minimum_top_up": _money(total.minimum_top_up_nanos, currency),
        "cap_reduction": _money(total.cap_reduction_nanos, currency),
        "payable": None if _money(0, currency) is None else minor_money_json(total.share_total_minor, currency),
        "unverified_claims": _money(total.claimed_unverified_share_nanos, currency),
    }


def console_json(report: ConsoleReport, periods: tuple[str, ...], overview: list[ConsoleReport]) -> dict:
    return {
        "period": report.period, "periods": list(periods),
        "hosts": [{
            "host": entry.host.name, "url": entry.host.url,
            "witnesses": len(entry.host.witnesses), "quorum": entry.host.quorum,
            "last_sync": None if entry.last_sync is None else {
                "finished": rfc3339(entry.last_sync.finished_us), "error": entry.last_sync.error},
            "statements": [_statement(outcome) for outcome in entry.statements],
            "missing": [{"agreement": m.agreement_id, "currency": m.currency, "reason": m.reason}
                        for m in entry.missing],
        } for entry in report.hosts],
        "totals": [_total(total) for total in report.totals],
        "overview": [_overview(earlier) for earlier in overview],
    }


def _overview(report: ConsoleReport) -> dict:
    """One period across hosts: counts of every state, and the verified share per currency."""
    totals = report.totals
    return {"period": report.period, "verified": sum(t.statements_verified for t in totals),
            "failed": sum(t.statements_failed for t in totals), "unchecked": sum(t.statements_unchecked for t in totals),
            "missing": len(report.missing),
            "share": [_money(t.share_total_nanos, t.currency) for t in totals if _money(0, t.currency) is not None]}


def _console(engine, period: str | None) -> dict:
    hosts, outcomes, syncs = list_licensor_hosts(engine), list_outcomes(engine), last_syncs(engine)
    periods = periods_of(outcomes)[:CONSOLE_PERIODS_MAX]
    chosen = period or (periods[0] if periods else str(Period.of_us(0)))
    overview = [console_report(each, hosts, outcomes, syncs) for each in periods]
    return console_json(console_report(chosen, hosts, outcomes, syncs), periods, overview)


async def console(request: Request) -> Response:
    engine = request.app.state.revstream.engine
    viewer = await asyncio.to_thread(resolve_viewer, engine, token_of(request.headers))
    require(viewer, HOST)
    period = request.query_params.get("period") or None
    if period is not None:
        try:
            Period.parse(period)
        except ValueError:
            raise BadRequest(f"'period' must be a month YYYY-MM, got {period!r}", "period") from None
    value = await asyncio.to_thread(_console, engine, period)
    return Response(orjson.dumps(json_safe(value)), media_type="application/json", headers={"cache-control": "no-store"})
