"""The auditor's side: verify a host's signed statement against its transparency log.

``verify_statement`` runs every check ``revstream verify`` reports (see ``_verify``);
``TransparencyClient`` reads a host's ``/transparency`` endpoints, ``TileClient`` a C2SP
tlog-tiles endpoint (the host's, a CDN's, a static file server's); the recomputation of a
statement from log entries is pure (``_recompute``), and so is the licensor console's
report across hosts (``_console``). Errors: ``AuditError`` (a check failed), ``HostError``
(the host could not be asked) and its kind ``WitnessPending`` (the statement is newer than
the host's witnessed checkpoint).
"""

from ._client import TransparencyClient
from ._console import (
    FAILED,
    UNCHECKED,
    VERIFIED,
    ConsoleHost,
    ConsoleReport,
    CurrencyTotal,
    HostPeriod,
    Missing,
    StatementFigures,
    StatementOutcome,
    SyncRecord,
    console_report,
    host_json,
    outcome_json,
    periods_of,
    report_json,
    statement_figures,
)
from ._errors import AuditError, HostError, WitnessPending
from ._tiles import TileClient
from ._verify import Check, Report, verify_statement

__all__ = (
    "FAILED",
    "UNCHECKED",
    "VERIFIED",
    "AuditError",
    "Check",
    "ConsoleHost",
    "ConsoleReport",
    "CurrencyTotal",
    "HostError",
    "HostPeriod",
    "Missing",
    "Report",
    "StatementFigures",
    "StatementOutcome",
    "SyncRecord",
    "TileClient",
    "TransparencyClient",
    "WitnessPending",
    "console_report",
    "host_json",
    "outcome_json",
    "periods_of",
    "report_json",
    "statement_figures",
    "verify_statement",
)
