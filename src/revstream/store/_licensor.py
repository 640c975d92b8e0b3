"""The licensor console's store (issue 17): the hosts a licensor follows, every statement a
sync fetched with its verification outcome, and one row per sync of a host.

This is the licensor's side of an install, like `_audits`; the values are the pure
console's (`revstream.audit`), which decides the report from them. Amounts are stored as
unit/nanos pairs (`_amounts`); the payable share in minor units as exact text.
"""

from __future__ import annotations

import orjson
from sqlalchemy import Engine, delete, func, insert, select

from ..audit import ConsoleHost, StatementFigures, StatementOutcome, SyncRecord
from ..keys import new_id
from ._amounts import amount_values, read_amount
from ._engine import writing
from ._errors import Conflict, NotFound
from ._schema import licensor_hosts, licensor_statements, licensor_syncs

_AMOUNTS = ("gross_total", "share_total", "minimum_top_up", "cap_reduction")


def add_licensor_host(engine: Engine, host: ConsoleHost) -> ConsoleHost:
    """Register ``host``; Conflict if a host of that name exists."""
    with writing(engine) as connection:
        if connection.execute(select(licensor_hosts.c.name).where(licensor_hosts.c.name == host.name)).first():
            raise Conflict(f"a host named {host.name!r} is registered already (`revstream licensor hosts list`)")
        connection.execute(insert(licensor_hosts).values(
            name=host.name, url=host.url, vkey=host.vkey, token_env=host.token_env,
            witnesses=orjson.dumps(list(host.witnesses)).decode(), quorum=host.quorum, tiles_url=host.tiles_url,
            created_us=host.created_us))
    return host


def _host(row) -> ConsoleHost:
    return ConsoleHost(row.name, row.url, row.vkey, row.token_env, tuple(orjson.loads(row.witnesses)), row.quorum,
                       row.tiles_url, row.created_us)


def list_licensor_hosts(engine: Engine) -> list[ConsoleHost]:
    with engine.connect() as connection:
        return [_host(row) for row in connection.execute(select(licensor_hosts).order_by(licensor_hosts.c.name))]


def get_licensor_host(engine: Engine, name: str) -> ConsoleHost:
    with engine.connect() as connection:
        row = connection.execute(select(licensor_hosts).where(licensor_hosts.c.name == name)).first()
    if row is None:
        raise NotFound(f"no host named {name!r} (`revstream licensor hosts list`)")
    return _host(row)


def record_outcome(engine: Engine, outcome: StatementOutcome) -> None:
    """Keep the latest outcome of one statement of one host (replacing the previous one)."""
    figures = outcome.figures
    values = {
        "host": outcome.host, "statement_id": outcome.statement_id, "period": outcome.period,
        "agreement_id": figures.agreement_id, "licensor": figures.licensor, "origin": figures.origin,
        "currency": figures.currency, "effective_from": figures.effective_from, "effective_to": figures.effective_to,
        "share_total_minor": figures.share_total_minor, "state": outcome.state, "reason": outcome.reason,
        "note": outcome.note, "evidence": outcome.evidence, "checked_us": outcome.checked_us,
    }
    for name in _AMOUNTS:
        values.update(amount_values(name, getattr(figures, f"{name}_nanos")))
    with writing(engine) as connection:
        connection.execute(delete(licensor_statements).where(
            licensor_statements.c.host == outcome.host, licensor_statements.c.statement_id == outcome.statement_id))
        connection.execute(insert(licensor_statements).values(**values))


def _outcome(row) -> StatementOutcome:
    figures = StatementFigures(
        row.agreement_id, row.licensor, row.origin, row.currency, row.effective_from, row.effective_to,
        *(read_amount(row, name) for name in _AMOUNTS), row.share_total_minor)
    return StatementOutcome(row.host, row.statement_id, row.period, row.state, row.reason, figures,
                            row._mapping.get("note"), row.evidence, row.checked_us)


def list_outcomes(engine: Engine, host: str | None = None, with_notes: bool = False) -> list[StatementOutcome]:
    """Every statement outcome (of one host, or all), by host, period and id; the signed
    notes only when asked for (they are the bulk of a row)."""
    columns = [column for column in licensor_statements.c if with_notes or column.name != "note"]
    query = select(*columns).order_by(licensor_statements.c.host, licensor_statements.c.period,
                                      licensor_statements.c.statement_id)
    if host is not None:
        query = query.where(licensor_statements.c.host == host)
    with engine.connect() as connection:
        return [_outcome(row) for row in connection.execute(query)]


def record_sync(engine: Engine, record: SyncRecord, period: str | None) -> None:
    with writing(engine) as connection:
        connection.execute(insert(licensor_syncs).values(
            sync_id=new_id("syn"), host=record.host, period=period, started_us=record.started_us,
            finished_us=record.finished_us, listed=record.listed, verified=record.verified, failed=record.failed,
            unchecked=record.unchecked, error=record.error))


def last_syncs(engine: Engine) -> dict[str, SyncRecord]:
    """The latest sync of each host."""
    latest = (select(licensor_syncs.c.host, func.max(licensor_syncs.c.started_us).label("started_us"))
              .group_by(licensor_syncs.c.host).subquery())
    query = select(licensor_syncs).join(latest, (licensor_syncs.c.host == latest.c.host)
                                        & (licensor_syncs.c.started_us == latest.c.started_us))
    with engine.connect() as connection:
        return {row.host: SyncRecord(row.host, row.started_us, row.finished_us, row.listed, row.verified, row.failed,
                                     row.unchecked, row.error) for row in connection.execute(query)}
