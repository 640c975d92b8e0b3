"""The verifier's record: each statement `revstream verify` checked, with its outcome.

This is the licensor's side of an install: statements from any number of hosts, each
keyed by its log's origin and its id; checking one again replaces the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select

from ._engine import writing
from ._schema import audited_statements

AUDIT_STATES = ("verified", "failed")


@dataclass(frozen=True, slots=True)
class AuditedStatement:
    origin: str
    statement_id: str
    host: str
    licensor: str
    agreement_id: str
    period: str
    currency: str
    share_total_minor: int
    note: str
    state: str
    reason: str | None
    checked_us: int


def record_audit(engine: Engine, audited: AuditedStatement) -> None:
    """Keep the latest outcome of checking one statement."""
    if audited.state not in AUDIT_STATES:
        raise ValueError(f"audit state must be one of {AUDIT_STATES}, got {audited.state!r}")
    with writing(engine) as connection:
        connection.execute(delete(audited_statements).where(
            audited_statements.c.origin == audited.origin, audited_statements.c.statement_id == audited.statement_id))
        connection.execute(insert(audited_statements).values(**{
            name: getattr(audited, name) for name in AuditedStatement.__slots__}))


def list_audited_statements(engine: Engine, licensor: str | None = None) -> list[AuditedStatement]:
    """Every statement checked here (of one licensor, or all), by period then host."""
    query = select(audited_statements).order_by(audited_statements.c.period, audited_statements.c.origin,
                                                audited_statements.c.statement_id)
    if licensor is not None:
        query = query.where(audited_statements.c.licensor == licensor)
    with engine.connect() as connection:
        return [AuditedStatement(*(getattr(row, name) for name in AuditedStatement.__slots__))
                for row in connection.execute(query)]
