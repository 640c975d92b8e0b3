"""A C2SP transparency-log witness (c2sp.org/tlog-witness, tlog-cosignature) and its client.

A witness follows configured logs (origin + verifier keys). For each it remembers the
latest checkpoint it cosigned; it cosigns a new checkpoint only if the log signed it and a
consistency proof links it to that one, so a host that shows two audiences two different
trees of one size is refused (a split view), and a verifier that requires a quorum of
witnesses' cosignatures catches it even on first contact.

* Pure core: :func:`parse_add_checkpoint`, :func:`add_checkpoint` (the decision, raising a
  :class:`Refusal` with the spec's HTTP status), :class:`WitnessState` and its JSON form,
  :func:`parse_witness_config`.
* Edges: :class:`StateDirectory` (key, state file written atomically, a lock),
  :func:`create_witness_app` (Starlette, ``POST /add-checkpoint``), and the host's
  :func:`request_cosignature` / :class:`WitnessClient`.

Errors form one hierarchy under :class:`WitnessError` (see ``_errors``).
"""

from ._app import create_witness_app
from ._client import COSIGNATURE_REQUEST_TIMEOUT_S, COSIGNATURE_RESPONSE_BYTES_MAX, WitnessClient, request_cosignature
from ._config import LOG_VKEYS_MAX, WITNESS_LOGS_MAX, LogConfig, WitnessConfig, parse_witness_config, witness_config
from ._core import (
    ADD_CHECKPOINT_BODY_BYTES_MAX,
    CONSISTENCY_PROOF_LINES_MAX,
    AddCheckpoint,
    Cosigned,
    add_checkpoint,
    format_add_checkpoint,
    parse_add_checkpoint,
)
from ._errors import (
    BadRequest,
    ClientError,
    ConfigError,
    Conflict,
    Forbidden,
    Refusal,
    StateError,
    UnknownLog,
    Unprocessable,
    WitnessError,
    WitnessRefused,
    WitnessUnreachable,
)
from ._state import LogState, WitnessState, state_from_json, state_to_json
from ._store import StateDirectory, init_witness_key

__all__ = (
    "ADD_CHECKPOINT_BODY_BYTES_MAX",
    "CONSISTENCY_PROOF_LINES_MAX",
    "COSIGNATURE_REQUEST_TIMEOUT_S",
    "COSIGNATURE_RESPONSE_BYTES_MAX",
    "LOG_VKEYS_MAX",
    "WITNESS_LOGS_MAX",
    "AddCheckpoint",
    "BadRequest",
    "ClientError",
    "ConfigError",
    "Conflict",
    "Cosigned",
    "Forbidden",
    "LogConfig",
    "LogState",
    "Refusal",
    "StateDirectory",
    "StateError",
    "UnknownLog",
    "Unprocessable",
    "WitnessClient",
    "WitnessConfig",
    "WitnessError",
    "WitnessRefused",
    "WitnessState",
    "WitnessUnreachable",
    "add_checkpoint",
    "create_witness_app",
    "format_add_checkpoint",
    "init_witness_key",
    "parse_add_checkpoint",
    "parse_witness_config",
    "request_cosignature",
    "state_from_json",
    "state_to_json",
    "witness_config",
)
