"""Witnessed checkpoints, stored (issue 17): the cosignatures the host's witnesses returned
and each witness's work state.

The host signs checkpoints in `_log` (under the log lock, as before). Asking witnesses
happens elsewhere (`revstream.gateway._witnessing`), outside any transaction, because it
waits on the network. What it needs from the store:

* `witness_work`: the newest signed checkpoint and the size a witness last cosigned (the
  ``old`` size of the next add-checkpoint request), read without a lock;
* `claim_witness`: a lease on one witness, so that one worker at a time talks to it (a
  conditional UPDATE: works alike on SQLite and PostgreSQL), refused while it backs off;
* `record_cosignature` / `record_witness_failure`: the outcome, which releases the lease;
* `witnessed_checkpoint`: the newest checkpoint that `quorum` distinct configured witnesses
  cosigned, with their lines: what `/transparency/checkpoint` publishes.

A witness is known by its cosigner verifier key (what the host's config names); rows of
witnesses no longer configured stay and are simply not read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ._engine import writing
from ._log import StoredCheckpoint, _latest
from ._schema import log_checkpoints, log_cosignatures, log_witnesses

WITNESS_ERROR_CHARS_MAX = 500
"""Longest failure text kept per witness (the witness's answer can be anything)."""


@dataclass(frozen=True, slots=True)
class WitnessWork:
    """What a witness should cosign next: the newest checkpoint, from ``cosigned_size``."""

    checkpoint: StoredCheckpoint
    cosigned_size: int


@dataclass(frozen=True, slots=True)
class WitnessStatus:
    """A witness's state as /health shows it."""

    vkey: str
    cosigned_size: int | None
    failures: int
    last_error: str | None
    last_attempt_us: int | None
    last_cosigned_us: int | None
    next_attempt_us: int


def ensure_witnesses(engine: Engine, vkeys: Sequence[str]) -> None:
    """A work-state row for every configured witness (those present are left alone)."""
    with engine.connect() as connection:
        present = set(connection.execute(select(log_witnesses.c.witness_vkey)
                                         .where(log_witnesses.c.witness_vkey.in_(list(vkeys)))).scalars())
    for vkey in vkeys:
        if vkey in present:
            continue
        try:
            with writing(engine) as connection:
                connection.execute(insert(log_witnesses).values(witness_vkey=vkey))
        except IntegrityError:  # another worker inserted it meanwhile
            pass


def _cosigned_size(connection, vkey: str) -> int:
    return connection.execute(select(func.coalesce(func.max(log_cosignatures.c.size), 0))
                              .where(log_cosignatures.c.witness_vkey == vkey)).scalar_one()


def witness_work(engine: Engine, vkey: str, now_us: int) -> WitnessWork | None:
    """The checkpoint ``vkey`` should cosign now, or None: nothing newer than what it
    cosigned, or it backs off until later. Reads only (takes no lock)."""
    with engine.connect() as connection:
        latest = _latest(connection)
        if latest is None:
            return None
        cosigned = _cosigned_size(connection, vkey)
        due = connection.execute(select(log_witnesses.c.next_attempt_us)
                                 .where(log_witnesses.c.witness_vkey == vkey)).scalar()
    if cosigned >= latest.size or (due is not None and due > now_us):
        return None
    return WitnessWork(latest, cosigned)


def claim_witness(engine: Engine, vkey: str, owner: str, now_us: int, lease_us: int) -> int | None:
    """Take the lease on witness ``vkey`` until ``now_us + lease_us``; the failures it counts
    so far, or None when another worker holds the lease or the witness backs off."""
    free = and_(log_witnesses.c.witness_vkey == vkey, log_witnesses.c.lease_until_us <= now_us,
                log_witnesses.c.next_attempt_us <= now_us)
    with writing(engine) as connection:
        claimed = connection.execute(update(log_witnesses).where(free).values(
            lease_owner=owner, lease_until_us=now_us + lease_us, last_attempt_us=now_us)).rowcount
        if claimed != 1:
            return None
        return connection.execute(select(log_witnesses.c.failures)
                                  .where(log_witnesses.c.witness_vkey == vkey)).scalar_one()


def _release(owner: str, vkey: str):
    return and_(log_witnesses.c.witness_vkey == vkey,
                or_(log_witnesses.c.lease_owner == owner, log_witnesses.c.lease_owner.is_(None)))


def record_cosignature(engine: Engine, vkey: str, owner: str, size: int, line: str, timestamp_s: int,
                       now_us: int) -> None:
    """Keep witness ``vkey``'s cosignature line of the checkpoint of ``size``; release the lease."""
    with writing(engine) as connection:
        exists = connection.execute(select(log_cosignatures.c.size).where(
            log_cosignatures.c.size == size, log_cosignatures.c.witness_vkey == vkey)).first()
        if exists is None:
            connection.execute(insert(log_cosignatures).values(size=size, witness_vkey=vkey, line=line,
                                                               timestamp_s=timestamp_s, received_us=now_us))
        connection.execute(update(log_witnesses).where(_release(owner, vkey)).values(
            lease_owner=None, lease_until_us=0, failures=0, next_attempt_us=0, last_error=None,
            last_cosigned_us=now_us))


def record_witness_failure(engine: Engine, vkey: str, owner: str, error: str, now_us: int,
                           next_attempt_us: int) -> None:
    """Count a failure of witness ``vkey``, retry no sooner than ``next_attempt_us``; release the lease."""
    with writing(engine) as connection:
        connection.execute(update(log_witnesses).where(_release(owner, vkey)).values(
            lease_owner=None, lease_until_us=0, failures=log_witnesses.c.failures + 1,
            next_attempt_us=next_attempt_us, last_error=error[:WITNESS_ERROR_CHARS_MAX]))


def release_witness(engine: Engine, vkey: str, owner: str) -> None:
    """Give the lease back with nothing to record (there was nothing to cosign)."""
    with writing(engine) as connection:
        connection.execute(update(log_witnesses).where(_release(owner, vkey)).values(
            lease_owner=None, lease_until_us=0))


def witnessed_checkpoint(engine: Engine, vkeys: Sequence[str], quorum: int
                         ) -> tuple[StoredCheckpoint, tuple[str, ...]] | None:
    """The newest checkpoint cosigned by at least ``quorum`` of ``vkeys`` (distinct keys),
    with their cosignature lines in the order of ``vkeys``; None if there is none."""
    if quorum < 1 or not vkeys:
        return None
    wanted = log_cosignatures.c.witness_vkey.in_(list(vkeys))
    with engine.connect() as connection:
        # Each witness's largest cosigned size: the quorum-th largest bounds the answer
        # (a size that `quorum` witnesses cosigned is at most it), so the grouped scan
        # below starts there and reads the newest checkpoints only.
        tops = sorted(connection.execute(select(func.max(log_cosignatures.c.size)).where(wanted)
                                         .group_by(log_cosignatures.c.witness_vkey)).scalars(), reverse=True)
        if len(tops) < quorum:
            return None
        size = connection.execute(
            select(log_cosignatures.c.size).where(wanted, log_cosignatures.c.size <= tops[quorum - 1])
            .group_by(log_cosignatures.c.size).having(func.count() >= quorum)
            .order_by(log_cosignatures.c.size.desc()).limit(1)).scalar()
        if size is None:
            return None
        row = connection.execute(select(log_checkpoints).where(log_checkpoints.c.size == size)).first()
        lines = dict(connection.execute(select(log_cosignatures.c.witness_vkey, log_cosignatures.c.line)
                                        .where(wanted, log_cosignatures.c.size == size)).all())
    if row is None:
        return None
    stored = StoredCheckpoint(row.size, bytes(row.root), row.note, row.created_us)
    return stored, tuple(lines[vkey] for vkey in vkeys if vkey in lines)


def witness_statuses(engine: Engine, vkeys: Sequence[str]) -> list[WitnessStatus]:
    """The work state of each of ``vkeys`` (in that order); a witness never tried has no failures."""
    with engine.connect() as connection:
        rows = {row.witness_vkey: row for row in connection.execute(
            select(log_witnesses).where(log_witnesses.c.witness_vkey.in_(list(vkeys))))}
        sizes = dict(connection.execute(
            select(log_cosignatures.c.witness_vkey, func.max(log_cosignatures.c.size))
            .where(log_cosignatures.c.witness_vkey.in_(list(vkeys))).group_by(log_cosignatures.c.witness_vkey)).all())
    statuses = []
    for vkey in vkeys:
        row = rows.get(vkey)
        statuses.append(WitnessStatus(
            vkey, sizes.get(vkey), row.failures if row else 0, row.last_error if row else None,
            row.last_attempt_us if row else None, row.last_cosigned_us if row else None,
            row.next_attempt_us if row else 0))
    return statuses
