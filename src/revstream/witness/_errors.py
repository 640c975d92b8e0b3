"""Errors of the witness package.

One hierarchy, rooted at :class:`WitnessError`::

    WitnessError                      base of everything raised here
    ├── Refusal                       the witness refuses an add-checkpoint request; carries
    │   │                             the HTTP status c2sp.org/tlog-witness prescribes
    │   ├── BadRequest        400     malformed body, or old size above the checkpoint's size
    │   ├── Forbidden         403     no valid signature from the log's trusted key(s)
    │   ├── UnknownLog        404     the checkpoint's origin is not a configured log
    │   ├── Conflict          409     old size is not the size the witness last cosigned
    │   │                             (``known_size``; body ``<size>\\n``, text/x.tlog.size)
    │   └── Unprocessable     422     bad consistency proof, a split view (same size, other
    │                                 root), a non-empty proof from size 0, a bad empty root
    ├── ConfigError (ValueError)      the witness configuration or a key is malformed
    ├── StateError                    the state directory cannot be used (locked by another
    │                                 witness, unreadable, a corrupt state file)
    └── ClientError                   the host side (:func:`request_cosignature`) failed
        ├── WitnessUnreachable        no HTTP answer (connection, timeout)
        └── WitnessRefused            the witness answered with an error status (``status``,
                                      ``known_size`` for a 409) or an invalid cosignature
"""

from __future__ import annotations

__all__ = (
    "BadRequest",
    "ClientError",
    "ConfigError",
    "Conflict",
    "Forbidden",
    "Refusal",
    "StateError",
    "UnknownLog",
    "Unprocessable",
    "WitnessError",
    "WitnessRefused",
    "WitnessUnreachable",
)


class WitnessError(Exception):
    """Base class of every error raised by revstream.witness."""


class Refusal(WitnessError):
    """An add-checkpoint request the witness does not cosign; ``status`` is its HTTP status."""

    status = 500

    def body(self) -> str:
        """The response body (text/plain unless a subclass says otherwise)."""
        return f"{self}\n"

    content_type = "text/plain; charset=utf-8"


class BadRequest(Refusal):
    status = 400


class Forbidden(Refusal):
    status = 403


class UnknownLog(Refusal):
    status = 404


class Conflict(Refusal):
    """The old size is not the witness's latest cosigned size for the log (``known_size``)."""

    status = 409
    content_type = "text/x.tlog.size"

    def __init__(self, known_size: int) -> None:
        super().__init__(f"the witness's latest cosigned size is {known_size}")
        self.known_size = known_size

    def body(self) -> str:
        return f"{self.known_size}\n"


class Unprocessable(Refusal):
    status = 422


class ConfigError(WitnessError, ValueError):
    """The witness configuration (logs and their keys) or a key file is malformed."""


class StateError(WitnessError):
    """The witness state directory cannot be used."""


class ClientError(WitnessError):
    """Requesting a cosignature failed."""


class WitnessUnreachable(ClientError):
    """The witness gave no HTTP answer."""


class WitnessRefused(ClientError):
    """The witness answered ``status`` (``known_size`` set for a 409), or an unusable cosignature."""

    def __init__(self, message: str, status: int, known_size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.known_size = known_size
