"""`revstream licensor sync`: fetch each registered host's new statements and verify each
with the verifier `revstream verify` runs, keeping the evidence and recording the outcome.

Per host, in order: read `GET /transparency/statements` with the host's licensor token (from
the environment variable the host was registered with); pick the statements not verified or
failed before (``--recheck``: the failed ones too), of ``--period`` if given; for each, in
period order (a statement's continuity is checked against the one before it), download its
signed note and run `verify_statement` against the host's log (its JSON endpoints, or its
tlog-tiles endpoint when registered with one) and witnesses. Each host has its own verifier
state directory under ``HOME/licensor/``, where failures keep their evidence. A statement
that cannot be checked yet (the host unreachable, not witnessed yet, not signed) is
recorded ``unchecked`` and tried again by the next sync. A host that cannot be reached ends
that host's sync, never the others'.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from ..audit import (
    FAILED,
    UNCHECKED,
    VERIFIED,
    AuditError,
    ConsoleHost,
    HostError,
    StatementOutcome,
    SyncRecord,
    TileClient,
    TransparencyClient,
    WitnessPending,
    statement_figures,
    verify_statement,
)
from ..store import AuditedStatement, list_outcomes, record_audit, record_outcome, record_sync

STATEMENTS_PER_SYNC_MAX = 10_000
"""Most statements one sync verifies per host (the rest wait for the next sync)."""


def _now_us() -> int:
    return time.time_ns() // 1000


def state_directory(root: Path, host: str) -> Path:
    """The verifier state directory of ``host`` under the console's ``root``."""
    return root / re.sub(r"[^A-Za-z0-9._-]+", "_", host)


@dataclass
class _HostSync:
    host: ConsoleHost
    engine: Engine
    state_dir: Path
    clock_us: Callable[[], int]
    verified: int = 0
    failed: int = 0
    unchecked: int = 0

    def keep(self, outcome: StatementOutcome) -> StatementOutcome:
        record_outcome(self.engine, outcome)
        if outcome.state == VERIFIED:
            self.verified += 1
        elif outcome.state == FAILED:
            self.failed += 1
        else:
            self.unchecked += 1
        return outcome

    def outcome(self, summary: dict, state: str, reason: str | None, note: str | None = None,
                evidence: str | None = None) -> StatementOutcome:
        return StatementOutcome(self.host.name, str(summary["statement"]), str(summary["period"]), state, reason,
                                statement_figures(note), note, evidence, self.clock_us())

    def verify(self, client: TransparencyClient, log_client, summary: dict) -> StatementOutcome:
        """Verify one listed statement; HostError (other than WitnessPending) propagates."""
        if not summary.get("signed", True):
            return self.outcome(summary, UNCHECKED, "the host did not sign this statement (closed before its log "
                                                    "had a key): it cannot be verified")
        try:
            note = client.statement_note(str(summary["statement"]))
        except AuditError as error:
            return self.outcome(summary, UNCHECKED, f"cannot download the signed statement: {error}")
        witnesses = self.host.witnesses
        try:
            report = verify_statement(note, self.host.vkey, log_client, self.state_dir, witnesses=witnesses,
                                      quorum=self.host.quorum if witnesses else None)
        except WitnessPending as pending:
            return self.outcome(summary, UNCHECKED, f"not checked yet: {pending}", note)
        if report.statement_id and report.origin:
            record_audit(self.engine, AuditedStatement(
                report.origin, report.statement_id, self.host.url, report.licensor or "", report.agreement or "",
                report.period or "", report.currency or "", report.share_total_minor or 0, note,
                VERIFIED if report.ok else FAILED, report.reason, self.clock_us()))
        return self.outcome(summary, VERIFIED if report.ok else FAILED, report.reason, note, report.evidence)


def _todo(engine: Engine, host: str, listed: list[dict], period: str | None, recheck: bool) -> list[dict]:
    done = {VERIFIED, FAILED} - ({FAILED} if recheck else set())
    known = {outcome.statement_id: outcome.state for outcome in list_outcomes(engine, host)}
    todo = [item for item in listed if isinstance(item.get("statement"), str) and isinstance(item.get("period"), str)
            and (period is None or item["period"] == period) and known.get(item["statement"]) not in done]
    return sorted(todo, key=lambda item: (item["period"], item["statement"]))[:STATEMENTS_PER_SYNC_MAX]


def sync_host(engine: Engine, host: ConsoleHost, state_root: Path, period: str | None = None,
              environ: Mapping[str, str] | None = None, recheck: bool = False,
              clock_us: Callable[[], int] = _now_us) -> SyncRecord:
    """Sync one host (see the module docstring); the record is also stored."""
    environ = os.environ if environ is None else environ
    started, listed, error = clock_us(), 0, None
    run = _HostSync(host, engine, state_directory(state_root, host.name), clock_us)
    token = environ.get(host.token_env)
    if not token:
        error = f"the licensor token variable ${host.token_env} is not set"
    else:
        client = TransparencyClient(host.url, token)
        log_client = TileClient(host.tiles_url, token) if host.tiles_url else client
        try:
            statements = client.statements()
            listed = len(statements)
            for summary in _todo(engine, host.name, statements, period, recheck):
                try:
                    run.keep(run.verify(client, log_client, summary))
                except HostError as unreachable:
                    run.keep(run.outcome(summary, UNCHECKED, f"not checked: {unreachable}"))
                    error = str(unreachable)
                    break
        except (HostError, AuditError) as failure:
            error = str(failure)
        finally:
            client.close()
            log_client.close()
    record = SyncRecord(host.name, started, clock_us(), listed, run.verified, run.failed, run.unchecked, error)
    record_sync(engine, record, period)
    return record
