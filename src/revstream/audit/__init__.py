"""The auditor's side: verify a host's signed statement against its transparency log.

``verify_statement`` runs every check ``revstream verify`` reports (see ``_verify``);
``TransparencyClient`` reads a host's ``/transparency`` endpoints; the recomputation of a
statement from log entries is pure (``_recompute``). Errors: ``AuditError`` (a check
failed) and ``HostError`` (the host could not be asked).
"""

from ._client import TransparencyClient
from ._errors import AuditError, HostError
from ._verify import Check, Report, verify_statement

__all__ = ("AuditError", "Check", "HostError", "Report", "TransparencyClient", "verify_statement")
