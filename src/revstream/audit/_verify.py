"""``revstream verify``: check a signed statement against the host's transparency log.

The checks run in order; the first that fails ends the run with a report naming it,
and its evidence (the statement, every signed note involved, the failing proof or the
recomputed statement) is kept in the state directory:

1. the statement's signature (the host's log key) and its arithmetic;
2. the signature of the checkpoint the statement names;
3. with witnesses (``witnesses``, ``quorum``): the host's current checkpoint carries the
   cosignatures of ``quorum`` distinct trusted witnesses (c2sp.org/tlog-cosignature), so a
   host that shows this verifier a tree it showed no witness fails here, even on first
   contact; a statement newer than the host's witnessed checkpoint is not checked yet
   (`WitnessPending`);
   then consistency of the statement's checkpoint with the largest one this verifier
   accepted before, and with the host's current checkpoint (a rolled-back or forked log
   fails here);
4. the statement's log entries hash, with the host's prefix hashes, into the
   checkpoint's root (every entry is the log's, in its place, none missing); read from a
   tlog-tiles endpoint (`TileClient`), each page of entries is proven against the
   checkpoint by `revstream.transparency.verify_tiled_entries`;
5. every line and total recomputed from those entries, the agreement and the prices;
6. continuity with the statements verified before (carry-in residue, log ranges).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from ..settlement import (
    STATEMENT_NOTE_HEADER,
    SettlementError,
    statement_body_of_note_text,
    statement_bytes,
    statement_from_json,
    validate_statement,
)
from collections.abc import Sequence

from ..transparency import (
    Checkpoint,
    CompactRange,
    ProofError,
    TransparencyError,
    leaf_hash,
    parse_verifier_key,
    select_signatures,
    verify_checkpoint,
    verify_checkpoint_consistency,
    verify_cosignatures,
    verify_cosigned_checkpoint,
    verify_inclusion,
    verify_note,
)
from ._client import TransparencyClient
from ._errors import AuditError, WitnessPending
from ._tiles import TileClient
from ._recompute import StatementFacts, Tally, differences, expected_statement, statement_facts
from ._state import VerifierState, keep_evidence

INCLUSION_SAMPLES_MAX = 256
"""Entries whose hash is kept while streaming, to locate a bad entry with inclusion proofs."""

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    statement_id: str | None = None
    period: str | None = None
    agreement: str | None = None
    licensor: str | None = None
    origin: str | None = None
    currency: str | None = None
    share_total_minor: int | None = None
    entries_checked: int = 0
    checks: list[Check] = field(default_factory=list)
    evidence: str | None = None
    cosigners: list[str] = field(default_factory=list)  # the trusted witnesses that cosigned

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def reason(self) -> str | None:
        failed = [check for check in self.checks if not check.ok]
        return f"{failed[0].name}: {failed[0].detail}" if failed else None

    def json(self) -> dict:
        return {"verified": self.ok, "statement": self.statement_id, "period": self.period,
                "agreement": self.agreement, "licensor": self.licensor, "origin": self.origin,
                "currency": self.currency, "share_total_minor": self.share_total_minor,
                "entries_checked": self.entries_checked, "reason": self.reason, "evidence": self.evidence,
                "cosigners": self.cosigners,
                "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks]}


class _Run:
    """One verification: the report being built and the evidence gathered so far."""

    def __init__(self, note_text: str, vkey: str, client: TransparencyClient | TileClient, state_dir: Path,
                 full: bool, progress: Progress | None, witnesses: tuple[str, ...], quorum: int) -> None:
        self.note_text, self.vkey, self.client, self.state_dir = note_text, vkey, client, state_dir
        self.full, self.progress = full, progress
        self.witnesses, self.quorum = witnesses, quorum
        self.report = Report()
        self.evidence: dict[str, str | bytes] = {"statement.note": note_text}
        self.step = "statement signature"

    def passed(self, detail: str) -> None:
        self.report.checks.append(Check(self.step, True, detail))

    # --- 1, 2 ---------------------------------------------------------------------------

    def statement(self) -> tuple[dict, bytes]:
        try:
            text = verify_note(self.note_text, [self.vkey])
            body = statement_body_of_note_text(text)
        except (ProofError, ValueError) as error:
            raise AuditError(f"the statement is not a note signed by this verifier key: {error}") from None
        value = orjson.loads(body)
        if statement_bytes(value) != body:
            raise AuditError("the signed statement is not in canonical JSON form")
        arithmetic = validate_statement(statement_from_json(value))
        if arithmetic:
            raise AuditError(f"the statement's lines do not add up to its totals: {arithmetic}")
        report = self.report
        report.statement_id, report.period, report.agreement = value["statement"], value["period"], value["agreement"]
        report.licensor, report.currency = value["licensor"], value["currency"]
        report.share_total_minor = value["share_total_minor"]
        self.passed(f"'{STATEMENT_NOTE_HEADER}' signed by {parse_verifier_key(self.vkey).name}; lines add up")
        return value, body

    def checkpoint(self, facts: StatementFacts) -> Checkpoint:
        self.step = "checkpoint signature"
        self.report.origin = facts.log.origin
        self.evidence["checkpoint-statement.note"] = facts.log.checkpoint
        try:
            checkpoint = verify_checkpoint(facts.log.checkpoint, [self.vkey], facts.log.origin)
        except ProofError as error:
            raise AuditError(f"the statement's checkpoint: {error}") from None
        if checkpoint.size != facts.log.size:
            raise AuditError(f"the statement says its checkpoint has {facts.log.size} leaves, the checkpoint says "
                             f"{checkpoint.size}")
        self.passed(f"{checkpoint.origin} at size {checkpoint.size}, root {base64.b64encode(checkpoint.root).decode()}")
        return checkpoint

    # --- 3 --------------------------------------------------------------------------------

    def consistent(self, a: Checkpoint, b: Checkpoint, what: str) -> None:
        old, new = (a, b) if a.size <= b.size else (b, a)
        if old.size == new.size:
            if old.root != new.root:
                raise AuditError(f"{what}: two different trees of size {old.size} are signed with the same key: "
                                 "the log was forked or rewritten")
            return
        proof = self.client.consistency(old.size, new.size) if old.size else ()
        self.evidence[f"consistency-{old.size}-{new.size}.json"] = _proof_json(old.size, new.size, proof)
        try:
            verify_checkpoint_consistency(old, new, proof)
        except ProofError as error:
            raise AuditError(f"{what}: the tree of size {new.size} does not extend the tree of size {old.size} "
                             f"({error}): the log was rewritten or forked") from None

    def witnessed(self, checkpoint: Checkpoint, latest_note: str) -> Checkpoint:
        """The host's current checkpoint, with the quorum of trusted witnesses' cosignatures."""
        self.step = "checkpoint witnesses"
        try:
            latest = verify_cosigned_checkpoint(latest_note, self.vkey, self.witnesses, self.quorum,
                                                origin=checkpoint.origin)
            cosigners = verify_cosignatures(latest_note, self.witnesses)
        except ProofError as error:
            raise AuditError(f"the host's current checkpoint is not witnessed as required: {error}: a host that "
                             "shows this verifier a tree its witnesses did not see (a split view) fails here") from None
        names = sorted({c.name for c in cosigners})
        self.report.cosigners = names
        if latest.size < checkpoint.size:
            raise WitnessPending(f"the host's witnessed checkpoint has {latest.size} leaves, fewer than the "
                                 f"{checkpoint.size} of the statement's checkpoint: not witnessed yet, retry later")
        self.passed(f"the host's checkpoint at size {latest.size} is cosigned by {len({c.public_key for c in cosigners})} "
                    f"trusted witnesses ({', '.join(names)}); the quorum is {self.quorum}")
        return latest

    def history(self, state: VerifierState, checkpoint: Checkpoint, checkpoint_note: str) -> str:
        """Check the checkpoint against the accepted one and the host's current one; return
        the note of the largest of them, the next checkpoint to accept."""
        self.step = "checkpoint witnesses" if self.witnesses else "log consistency"
        latest_note = self.client.checkpoint()
        self.evidence["checkpoint-host-latest.note"] = latest_note
        witnessed = self.witnessed(checkpoint, latest_note) if self.witnesses else None
        self.step = "log consistency"
        accepted = None
        if state.accepted_checkpoint:
            self.evidence["checkpoint-accepted.note"] = state.accepted_checkpoint
            try:
                accepted = verify_checkpoint(state.accepted_checkpoint, [self.vkey], checkpoint.origin)
            except ProofError as error:
                raise AuditError(f"the checkpoint accepted before no longer verifies ({error}): the state "
                                 "directory was altered") from None
            self.consistent(accepted, checkpoint, "against the checkpoint accepted before")
        try:
            latest = witnessed or verify_checkpoint(latest_note, [self.vkey], checkpoint.origin)
        except ProofError as error:
            raise AuditError(f"the host's current checkpoint: {error}") from None
        if latest.size < checkpoint.size:
            if _signed_by_others(latest_note, self.vkey):
                # A host with witnesses publishes the newest checkpoint they cosigned, which lags
                # the one it just signed for a close: not a rollback, nothing to conclude yet.
                raise WitnessPending(f"the host publishes a witnessed checkpoint of {latest.size} leaves, older than "
                                     f"the statement's ({checkpoint.size}): not witnessed yet, retry later")
            raise AuditError(f"the host's log now has {latest.size} leaves, fewer than the {checkpoint.size} of the "
                             "statement's checkpoint: the log was truncated or rolled back")
        self.consistent(checkpoint, latest, "the host's current log against the statement's checkpoint")
        if accepted is not None:
            self.consistent(accepted, latest, "the host's current log against the checkpoint accepted before")
        known = [(checkpoint, checkpoint_note), (latest, latest_note)]
        if accepted is not None:
            known.append((accepted, state.accepted_checkpoint))
        newest_note = max(known, key=lambda pair: pair[0].size)[1]
        before = f"the accepted size {accepted.size}, " if accepted else ""
        self.passed(f"consistent with {before}the statement's size {checkpoint.size} and the host's size {latest.size}")
        return newest_note

    # --- 4, 5 -----------------------------------------------------------------------------

    def entries(self, facts: StatementFacts, state: VerifierState, checkpoint: Checkpoint) -> Tally:
        self.step = "log entries"
        start, end = (0 if self.full else facts.log.start), facts.log.size
        seen = state.first_index.get(facts.period)
        if seen is not None and start > seen:
            raise AuditError(f"the statement's entries start at index {start}, but this verifier saw usage of "
                             f"{facts.period} at index {seen}: run with --full")
        if isinstance(self.client, TileClient):
            return self._tiled_entries(facts, checkpoint, start, end)
        tally, compact = Tally(facts), CompactRange(start, self.client.prefix(start))
        step, samples = max(1, (end - start) // INCLUSION_SAMPLES_MAX), {}
        for first, leaves in self.client.entries(start, end):
            for offset, data in enumerate(leaves):
                index = first + offset
                hashed = leaf_hash(data)
                compact.append_hash(hashed)
                if (index - start) % step == 0:
                    samples[index] = (hashed, data)
                tally.add(index, data)
            self.report.entries_checked = compact.size - start
            if self.progress:
                self.progress(compact.size - start, end - start)
        if compact.root() != checkpoint.root:
            raise AuditError(self._locate(samples, checkpoint, start, end))
        self.passed(f"{end - start} entries [{start}, {end}) hash into the checkpoint's root")
        return tally

    def _tiled_entries(self, facts: StatementFacts, checkpoint: Checkpoint, start: int, end: int) -> Tally:
        """Entries from tiles: each page proven against the checkpoint before it is tallied."""
        tally = Tally(facts)
        for first, leaves in self.client.verified_pages(checkpoint, start, end):
            for offset, data in enumerate(leaves):
                tally.add(first + offset, data)
            self.report.entries_checked = first + len(leaves) - start
            if self.progress:
                self.progress(first + len(leaves) - start, end - start)
        self.passed(f"{end - start} entries [{start}, {end}) read from tiles at {self.client.url} are proven "
                    "against the checkpoint's root")
        return tally

    def _locate(self, samples: dict, checkpoint: Checkpoint, start: int, end: int) -> str:
        """Explain a root mismatch, keeping the first failing inclusion proof among the samples."""
        for index, (hashed, data) in sorted(samples.items()):
            proof = self.client.inclusion(index, checkpoint.size)
            try:
                verify_inclusion(hashed, index, checkpoint.size, proof, checkpoint.root)
            except ProofError as error:
                self.evidence["failing-inclusion-proof.json"] = orjson.dumps({
                    "index": index, "size": checkpoint.size, "leaf": base64.b64encode(data).decode(),
                    "hashes": [base64.b64encode(h).decode() for h in proof], "error": str(error)})
                return (f"entries [{start}, {end}) do not hash into the checkpoint's root: entry {index} fails its "
                        f"inclusion proof ({error}): records were changed, removed or reordered")
        return (f"entries [{start}, {end}) do not hash into the checkpoint's root (no sampled entry located the "
                "change): records were changed, removed or reordered")

    def totals(self, facts: StatementFacts, tally: Tally, value: dict, body: bytes) -> None:
        self.step = "statement totals"
        expected = expected_statement(facts, tally, value)
        if expected != body:
            self.evidence["statement-recomputed.json"] = expected
            found = differences(orjson.loads(expected), value)
            raise AuditError("recomputed from the log, the statement differs: " + "; ".join(found[:20])
                             + (f" (and {len(found) - 20} more)" if len(found) > 20 else ""))
        self.passed(f"every line and total recomputed from the log: share {value['share_total_minor']} "
                    f"minor units of {value['currency']}")

    # --- 6 --------------------------------------------------------------------------------

    def continuity(self, facts: StatementFacts, state: VerifierState, body: bytes) -> None:
        self.step = "continuity"
        digest = hashlib.sha256(body).hexdigest()
        known = state.statements.get(facts.statement_id)
        if known is not None and known["sha256"] != digest:
            raise AuditError(f"this verifier accepted a different statement {facts.statement_id} before: "
                             "the host issued two versions of it")
        previous = state.previous_statement(facts.agreement.agreement_id, facts.period)
        if previous is not None:
            if previous["residue_nanos"] != facts.carry_in_residue_nanos:
                raise AuditError(f"carry-in residue {facts.carry_in_residue_nanos} is not the residue "
                                 f"{previous['residue_nanos']} of {previous['statement']}")
            if previous["log_size"] > facts.log.previous_size:
                raise AuditError(f"the previous close's checkpoint ({facts.log.previous_size}) is below the one of "
                                 f"{previous['statement']} ({previous['log_size']})")
        self.passed("continues the statements verified before" if previous else "first statement of this agreement here")


def _signed_by_others(note: str, vkey: str) -> bool:
    """Whether ``note`` carries signature lines of keys other than ``vkey`` (cosignatures)."""
    try:
        own = len(select_signatures(note, [vkey]))
    except TransparencyError:
        return False
    lines = note[note.rfind("\n\n") + 2:].splitlines() if "\n\n" in note else []
    return sum(line.startswith("\u2014 ") for line in lines) > own


def _proof_json(old: int, new: int, proof) -> bytes:
    return orjson.dumps({"old": old, "new": new, "hashes": [base64.b64encode(h).decode() for h in proof]})


def verify_statement(note_text: str, vkey: str, client: TransparencyClient | TileClient, state_dir: Path,
                     full: bool = False, progress: Progress | None = None, *,
                     witnesses: Sequence[str] = (), quorum: int | None = None) -> Report:
    """Run every check (see the module docstring); the report says what passed and what failed.

    ``client`` reads the host's JSON endpoints (`TransparencyClient`) or a tlog-tiles endpoint
    (`TileClient`). With ``witnesses`` (cosigner verifier keys), the host's checkpoint must
    carry ``quorum`` of their cosignatures (default: all of them).

    Raises HostError when the host cannot be asked at all (nothing is concluded then), and its
    kind WitnessPending when the statement is newer than the host's witnessed checkpoint."""
    witnesses = tuple(witnesses)
    quorum = len(set(witnesses)) if quorum is None else quorum
    if witnesses and not 1 <= quorum <= len(set(witnesses)):
        raise ValueError(f"a quorum of {quorum} cannot be met by {len(set(witnesses))} witnesses")
    run = _Run(note_text, vkey, client, state_dir, full, progress, witnesses, quorum)
    state = None
    try:
        value, body = run.statement()
        run.step = "checkpoint signature"  # the statement's log binding is read with its checkpoint
        facts = statement_facts(value)
        checkpoint = run.checkpoint(facts)
        state = VerifierState.load(state_dir, facts.log.origin, vkey)
        newest_note = run.history(state, checkpoint, facts.log.checkpoint)
        tally = run.entries(facts, state, checkpoint)
        run.totals(facts, tally, value, body)
        run.continuity(facts, state, body)
    except (AuditError, TransparencyError, SettlementError, ValueError, KeyError, TypeError) as error:
        # Anything malformed in what the host signed or served is the host's failure, reported
        # like any other (AuditError carries the clearest message; the rest name their type).
        detail = str(error) if isinstance(error, AuditError) else f"malformed evidence: {type(error).__name__}: {error}"
        run.report.checks.append(Check(run.step, False, detail))
        run.evidence["report.json"] = orjson.dumps(run.report.json(), option=orjson.OPT_INDENT_2)
        run.report.evidence = str(keep_evidence(state_dir, run.report.statement_id or "statement", run.evidence))
        return run.report
    _remember(state, facts, value, body, newest_note, tally)
    return run.report


def _remember(state: VerifierState, facts: StatementFacts, value: dict, body: bytes, newest_note: str,
              tally: Tally) -> None:
    state.accepted_checkpoint = newest_note
    state.statements[facts.statement_id] = {
        "statement": facts.statement_id, "agreement": facts.agreement.agreement_id, "period": facts.period,
        "residue_nanos": value["residue_nanos"], "log_size": facts.log.size,
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    for period, index in tally.later_first_index.items():
        state.first_index[period] = min(index, state.first_index.get(period, index))
    state.save()
