"""Errors of the auditor's verifier.

* ``AuditError``: the statement, the log or the host's answers do not check out: a
  verification *failure*, reported with its evidence.
* ``HostError``: the host could not be asked (unreachable, refused the token, answered
  something that is not the transparency API): verification could not run.
  * ``WitnessPending``: the statement is newer than the host's witnessed checkpoint: it
    cannot be checked before the witnesses cosign a checkpoint that covers it.
"""

from __future__ import annotations


class AuditError(Exception):
    """Verification failed: the message says which check and why."""


class HostError(Exception):
    """The host could not be queried; nothing was concluded about the statement."""


class WitnessPending(HostError):
    """The statement's checkpoint is newer than the host's witnessed one: check it later."""
