"""The host side of c2sp.org/tlog-witness: ask a witness to cosign a checkpoint.

Standard library HTTP (``http.client``), one keep-alive connection per :class:`WitnessClient`
(the spec asks clients to keep connections alive), so the host needs no extra dependency.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from ..transparency import (
    FormatError,
    ProofError,
    append_signatures,
    select_signatures,
    verify_cosignatures,
)
from ._core import format_add_checkpoint
from ._errors import WitnessRefused, WitnessUnreachable

__all__ = ("COSIGNATURE_REQUEST_TIMEOUT_S", "COSIGNATURE_RESPONSE_BYTES_MAX", "WitnessClient", "request_cosignature")

COSIGNATURE_REQUEST_TIMEOUT_S = 10.0
"""Seconds to wait for a witness's answer."""
COSIGNATURE_RESPONSE_BYTES_MAX = 64 * 1024
"""Largest answer read from a witness."""


class WitnessClient:
    """Talks to one witness at its submission prefix (e.g. ``https://witness.example/``)."""

    def __init__(self, witness_url: str, *, timeout_s: float = COSIGNATURE_REQUEST_TIMEOUT_S) -> None:
        parts = urlsplit(witness_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FormatError(f"witness URL must be http(s)://host[:port][/prefix], got {witness_url!r}")
        self._parts = parts
        self._target = parts.path.rstrip("/") + "/add-checkpoint"
        self._timeout_s = timeout_s
        self._connection: http.client.HTTPConnection | None = None

    def __enter__(self) -> WitnessClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            parts = self._parts
            if parts.scheme == "https":
                self._connection = http.client.HTTPSConnection(
                    parts.hostname, parts.port, timeout=self._timeout_s, context=ssl.create_default_context())
            else:
                self._connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self._timeout_s)
        return self._connection

    def _post(self, body: bytes) -> tuple[int, str, bytes]:
        failure: Exception | None = None
        for _attempt in (1, 2):  # a keep-alive connection the witness closed is reopened once
            try:
                connection = self._connect()
                connection.request("POST", self._target, body=body,
                                   headers={"Content-Type": "text/plain; charset=utf-8"})
                response = connection.getresponse()
                answer = response.read(COSIGNATURE_RESPONSE_BYTES_MAX + 1)
                if len(answer) > COSIGNATURE_RESPONSE_BYTES_MAX or response.will_close:
                    self.close()
                return response.status, response.getheader("Content-Type", ""), answer
            except (OSError, http.client.HTTPException) as error:
                self.close()
                failure = error
        raise WitnessUnreachable(f"cannot reach the witness at {self._parts.geturl()}: {failure}")

    def add_checkpoint(self, old_size: int, consistency_proof: Sequence[bytes], checkpoint_note: str,
                       *, witness_vkey: str | None = None) -> str:
        """Submit; return the cosignature line(s), only those by ``witness_vkey`` (verified) if given.

        Raises :class:`WitnessRefused` (``status``; ``known_size`` on a 409) or
        :class:`WitnessUnreachable`.
        """
        status, content_type, answer = self._post(format_add_checkpoint(old_size, consistency_proof, checkpoint_note))
        if len(answer) > COSIGNATURE_RESPONSE_BYTES_MAX:
            raise WitnessRefused(f"the witness answered more than {COSIGNATURE_RESPONSE_BYTES_MAX} bytes", status)
        text = answer.decode("utf-8", errors="replace")
        if status == 409:
            size_text = text[:-1] if text.endswith("\n") else ""
            known_size = int(size_text) if size_text.isdigit() and content_type.startswith("text/x.tlog.size") else None
            raise WitnessRefused(f"the witness holds size {known_size}, not {old_size}", 409, known_size)
        if status != 200:
            raise WitnessRefused(f"the witness refused the checkpoint ({status}): {text.strip()[:300]}", status)
        return _cosignature_lines(checkpoint_note, text, witness_vkey)

    def cosign(self, checkpoint_note: str, consistency_proof_from: Callable[[int], Sequence[bytes]],
               old_size: int = 0, *, witness_vkey: str | None = None) -> str:
        """:meth:`add_checkpoint` with the proof from ``old_size``; on a 409 (the witness holds
        another size) once more from the size it holds. ``consistency_proof_from(size)`` gives
        the proof from ``size`` to the checkpoint's size (() from 0)."""
        try:
            return self.add_checkpoint(old_size, consistency_proof_from(old_size), checkpoint_note,
                                       witness_vkey=witness_vkey)
        except WitnessRefused as refusal:
            if refusal.known_size is None or refusal.known_size == old_size:
                raise
            known = refusal.known_size
        return self.add_checkpoint(known, consistency_proof_from(known), checkpoint_note, witness_vkey=witness_vkey)


def _cosignature_lines(checkpoint_note: str, answer: str, witness_vkey: str | None) -> str:
    text = checkpoint_note[: checkpoint_note.rfind("\n\n") + 1]
    try:
        append_signatures(checkpoint_note, answer)  # well-formed lines, within the signature bound
        if witness_vkey is None:
            return answer
        if not verify_cosignatures(text + "\n" + answer, [witness_vkey]):
            raise WitnessRefused("the witness answered no cosignature by its key", 200)
        return "".join(select_signatures(text + "\n" + answer, [witness_vkey]))
    except (ProofError, FormatError) as error:
        raise WitnessRefused(f"the witness's answer is not a valid cosignature: {error}", 200) from None


def request_cosignature(witness_url: str, old_size: int, consistency_proof: Sequence[bytes],
                        checkpoint_note: str, *, witness_vkey: str | None = None,
                        timeout_s: float = COSIGNATURE_REQUEST_TIMEOUT_S) -> str:
    """One add-checkpoint request to the witness at ``witness_url``; return its cosignature line(s).

    With ``witness_vkey`` (its 0x04 cosigner key) the answer is verified and only its lines
    are returned. Append them to the note with
    :func:`revstream.transparency.append_signatures`.
    """
    with WitnessClient(witness_url, timeout_s=timeout_s) as client:
        return client.add_checkpoint(old_size, consistency_proof, checkpoint_note, witness_vkey=witness_vkey)
