"""The console's tables on SQLite and PostgreSQL: hosts, outcomes with amounts beyond 64 bits
of nanos (unit/nanos pairs), syncs; an outcome replaced when a statement is checked again."""

from __future__ import annotations

import pytest

from revstream.audit import FAILED, VERIFIED, ConsoleHost, StatementFigures, StatementOutcome, SyncRecord
from revstream.store import (
    Conflict,
    NotFound,
    add_licensor_host,
    get_licensor_host,
    last_syncs,
    list_licensor_hosts,
    list_outcomes,
    make_engine,
    record_outcome,
    record_sync,
    upgrade,
)

HUGE = 10**27 + 123_456_789  # a billion billion units and change: beyond 2^63 nanos


def test_hosts_outcomes_and_syncs_round_trip(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    host = ConsoleHost("Cloud A", "https://a.example", "a.example/log+01020304+AQ", "A_TOKEN",
                       ("w.example/1+01020304+BA",), 1, "https://cdn.example/a", 42)
    add_licensor_host(engine, host)
    with pytest.raises(Conflict):
        add_licensor_host(engine, host)
    assert list_licensor_hosts(engine) == [host] and get_licensor_host(engine, "Cloud A") == host
    with pytest.raises(NotFound):
        get_licensor_host(engine, "Cloud Z")
    figures = StatementFigures("agr_1", "Llama Labs", "a.example/log", "USD", "2026-01-01", None, HUGE, HUGE // 5,
                               0, -HUGE // 7, HUGE // 5 // 10**7)
    failed = StatementOutcome("Cloud A", "stm_1", "2026-03", FAILED, "log entries: changed", figures, "note", "/ev", 7)
    record_outcome(engine, failed)
    assert list_outcomes(engine, with_notes=True) == [failed]
    verified = StatementOutcome("Cloud A", "stm_1", "2026-03", VERIFIED, None, figures, "note", None, 8)
    record_outcome(engine, verified)  # checked again: replaced
    [read] = list_outcomes(engine, "Cloud A")
    assert read.state == VERIFIED and read.note is None and read.figures == figures
    record_sync(engine, SyncRecord("Cloud A", 1, 2, 1, 0, 1, 0, None), "2026-03")
    record_sync(engine, SyncRecord("Cloud A", 3, 4, 1, 1, 0, 0, "host down"), None)
    assert last_syncs(engine) == {"Cloud A": SyncRecord("Cloud A", 3, 4, 1, 1, 0, 0, "host down")}
    engine.dispose()
