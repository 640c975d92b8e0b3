"""Witnesses cosign the host's checkpoints (issue 17: c2sp.org/tlog-witness, tlog-cosignature).

Every worker runs `Witnessing.run`. Whenever the log has a checkpoint newer than the one a
configured witness last cosigned, a worker that holds that witness's lease (see
`revstream.store._witnessing`) sends it the checkpoint with a consistency proof from that
size (`WitnessClient.cosign`, which follows one 409) and stores the cosignature line it
returns. The request waits on the network, so it runs outside every transaction and never
under the log's append lock: metering and appending go on whatever a witness does. A
witness that is down or refuses is logged, its failure counted, and retried after a
back-off that doubles from `WITNESS_RETRY_S_MIN` to `WITNESS_RETRY_S_MAX`; each request
waits at most `transparency.witness_timeout_s`.

`/transparency/checkpoint` publishes `published_checkpoint`: the newest checkpoint that
`witness_quorum` configured witnesses cosigned, with their cosignature lines appended. Until
one has the quorum (a log just started, witnesses unreachable since), it serves the newest
signed checkpoint with whatever cosignatures it has, possibly none, so that a verifier that
asks for a quorum refuses it rather than trusting it. Without witnesses configured it serves
the newest signed checkpoint, as before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from ..config import TransparencyConfig, WitnessEndpointConfig
from ..store import (
    LogIntegrityError,
    StoreError,
    StoredCheckpoint,
    UsageWriterClosed,
    claim_witness,
    consistency_hashes,
    ensure_witnesses,
    latest_checkpoint,
    record_cosignature,
    record_witness_failure,
    release_witness,
    witness_statuses,
    witness_work,
    witnessed_checkpoint,
)
from ..transparency import FormatError, ProofError, append_signatures, parse_cosigner_key, verify_cosignatures
from ..witness import ClientError, WitnessClient

log = logging.getLogger("revstream.witnessing")

WITNESS_RETRY_S_MIN = 1.0
"""Back-off after a witness's first failure; it doubles with each failure in a row..."""
WITNESS_RETRY_S_MAX = 300.0
"""... up to this."""
WITNESS_LEASE_MARGIN_S = 5.0
"""A lease covers the requests of one cosignature (two after a 409, each may reconnect once) and this margin."""


def _now_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True, slots=True)
class Published:
    """The checkpoint /transparency/checkpoint serves: the note with its cosignature lines."""

    checkpoint: StoredCheckpoint
    note: str
    cosignatures: int
    quorum_met: bool


def published_checkpoint(engine, settings: TransparencyConfig) -> Published | None:
    """What the host publishes as its checkpoint (see the module docstring); None before the first."""
    vkeys = [witness.vkey for witness in settings.witnesses]
    witnessed = witnessed_checkpoint(engine, vkeys, settings.quorum) if vkeys else None
    if witnessed is not None:
        stored, lines = witnessed
        return Published(stored, append_signatures(stored.note, "".join(lines)), len(lines), True)
    latest = latest_checkpoint(engine)
    if latest is None:
        return None
    if not vkeys:
        return Published(latest, latest.note, 0, True)
    partial = witnessed_checkpoint(engine, vkeys, 1)  # whatever the newest has so far
    if partial is not None and partial[0].size == latest.size:
        return Published(latest, append_signatures(latest.note, "".join(partial[1])), len(partial[1]), False)
    return Published(latest, latest.note, 0, False)


def backoff_s(failures: int) -> float:
    """Seconds to wait after the ``failures``-th failure in a row (1, 2, 4, ... up to the max)."""
    return min(WITNESS_RETRY_S_MAX, WITNESS_RETRY_S_MIN * 2 ** min(max(failures - 1, 0), 32))


class Witnessing:
    """This worker's side of witnessing: one keep-alive client per witness, a wake-up event
    the appender sets when it signs a checkpoint."""

    def __init__(self, state) -> None:
        self._state = state
        self._settings: TransparencyConfig = state.config.transparency
        self._wake = asyncio.Event()
        self._clients: dict[str, WitnessClient] = {}

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Ask for cosignatures whenever a checkpoint is new, until ``stop`` is set."""
        witnesses = self._settings.witnesses
        if not witnesses:
            return
        try:
            while not stop.is_set():
                try:
                    await self._state.writer.call(ensure_witnesses, self._state.engine, [w.vkey for w in witnesses])
                    break
                except UsageWriterClosed:
                    return
                except (StoreError, SQLAlchemyError) as error:
                    log.warning("witnessing cannot start yet: %s", type(error).__name__)
                    await _sleep(stop, self._settings.log_append_interval_s)
            while not stop.is_set():
                self._wake.clear()
                try:
                    await asyncio.gather(*(self._witness(witness) for witness in witnesses))
                except Exception as error:  # as the appender: a surprise must not end witnessing for good
                    log.warning("witnessing round failed: %s: %s", type(error).__name__, error)
                waiting = asyncio.ensure_future(self._wake.wait())
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait((waiting, stopping), timeout=self._settings.log_append_interval_s,
                                   return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                stopping.cancel()
        finally:
            for client in self._clients.values():
                client.close()

    async def _witness(self, witness: WitnessEndpointConfig) -> None:
        state, vkey = self._state, witness.vkey
        now_us = _now_us()
        try:
            work = await asyncio.to_thread(witness_work, state.engine, vkey, now_us)
            if work is None:
                return
            lease_us = int((4 * self._settings.witness_timeout_s + WITNESS_LEASE_MARGIN_S) * 1e6)
            failures = await state.writer.call(claim_witness, state.engine, vkey, state.worker_id, now_us, lease_us)
            if failures is None:
                return
            try:
                line, timestamp_s = await asyncio.to_thread(self._cosign, witness, work.checkpoint, work.cosigned_size)
            except (ClientError, ValueError, LogIntegrityError, ProofError, FormatError) as error:
                delay_s = backoff_s(failures + 1)
                log.warning("witness %s did not cosign checkpoint %d (failure %d in a row, retry in %.0f s): %s",
                            witness.url, work.checkpoint.size, failures + 1, delay_s, error)
                await state.writer.call(record_witness_failure, state.engine, vkey, state.worker_id, str(error),
                                        _now_us(), _now_us() + int(delay_s * 1e6))
                return
            if line is None:
                await state.writer.call(release_witness, state.engine, vkey, state.worker_id)
                return
            await state.writer.call(record_cosignature, state.engine, vkey, state.worker_id, work.checkpoint.size,
                                    line, timestamp_s, _now_us())
        except UsageWriterClosed:  # shutting down: the lease, if taken, expires by itself
            return
        except (StoreError, SQLAlchemyError) as error:
            # The lease, if taken, expires by itself; the next round tries again.
            log.warning("witnessing of %s paused by the store: %s", witness.url, type(error).__name__)

    def _cosign(self, witness: WitnessEndpointConfig, checkpoint: StoredCheckpoint,
                cosigned_size: int) -> tuple[str | None, int]:
        """One cosignature (in a worker thread): the witness's line by its key and its timestamp."""
        client = self._clients.get(witness.vkey)
        if client is None:
            client = self._clients[witness.vkey] = WitnessClient(witness.url, timeout_s=self._settings.witness_timeout_s)
        engine, size = self._state.engine, checkpoint.size

        def proof_from(old_size: int):
            return consistency_hashes(engine, old_size, size) if old_size else ()

        lines = client.cosign(checkpoint.note, proof_from, cosigned_size, witness_vkey=witness.vkey)
        text = checkpoint.note[: checkpoint.note.rfind("\n\n") + 1]
        first = lines.splitlines(keepends=True)[0] if lines else None
        if first is None:
            return None, 0
        [cosignature] = verify_cosignatures(text + "\n" + first, [witness.vkey])
        return first, cosignature.timestamp_s


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


def witnessing_health(engine, settings: TransparencyConfig) -> dict:
    """The witnessing section of /health (reads the store: run it in a thread)."""
    if not settings.witnesses:
        return {"configured": 0, "quorum": 0, "detail": "no witnesses configured: checkpoints are published as signed"}
    published = published_checkpoint(engine, settings)
    latest = published.checkpoint.size if published else None
    statuses = witness_statuses(engine, [witness.vkey for witness in settings.witnesses])
    witnesses = [{
        "name": parse_cosigner_key(witness.vkey)[0], "url": witness.url, "cosigned_size": status.cosigned_size,
        "failures": status.failures, "last_error": status.last_error,
        "last_cosigned_us": status.last_cosigned_us, "ready": status.failures == 0,
    } for witness, status in zip(settings.witnesses, statuses)]
    newest = latest_checkpoint(engine)
    if published is None:
        detail = "no checkpoint signed yet"
    elif not published.quorum_met:
        detail = (f"no checkpoint has the quorum of {settings.quorum} cosignatures yet: the newest "
                  f"({published.checkpoint.size}) is served with {published.cosignatures}")
    elif newest is not None and newest.size > published.checkpoint.size:
        detail = f"checkpoint {newest.size} awaits cosignatures; {published.checkpoint.size} is served, witnessed"
    else:
        detail = f"the newest checkpoint ({published.checkpoint.size}) is served, witnessed"
    return {"configured": len(settings.witnesses), "quorum": settings.quorum,
            "published_size": latest if published and published.quorum_met else None,
            "newest_size": newest.size if newest else None, "witnesses": witnesses, "detail": detail}
