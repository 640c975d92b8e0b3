"""Witnesses in real subprocesses: a log cosigned through them, a split view refused and caught,
state kept across a restart, and the spec's answers to malformed or dishonest requests."""

from __future__ import annotations

import base64
import hashlib
import threading

import httpx
import pytest

from revstream.transparency import (
    ProofError,
    append_signatures,
    format_checkpoint,
    generate_key,
    select_signatures,
    sign_note,
    verify_cosigned_checkpoint,
)
from revstream.witness import (
    WitnessClient,
    WitnessRefused,
    WitnessUnreachable,
    format_add_checkpoint,
    request_cosignature,
)

from .conftest import Log, cli, free_port


def _cosign(witness, log: Log, old_size: int, note: str) -> str:
    size = int(note.split("\n")[1])
    return request_cosignature(witness.url, old_size, log.proof_from(size)(old_size), note, witness_vkey=witness.vkey)


def test_a_log_is_cosigned_as_it_grows(witnesses, log: Log) -> None:
    witness = witnesses()
    previous = 0
    for size in (5, 12, 12, 300, 1000):
        log.grow_to(size)
        note = log.checkpoint(size)
        cosigned = append_signatures(note, _cosign(witness, log, previous, note))
        checkpoint = verify_cosigned_checkpoint(cosigned, log.vkey, [witness.vkey], 1)
        assert (checkpoint.size, checkpoint.root) == (size, log.tree.root(size))
        previous = size
    origin_hash = hashlib.sha256(log.origin.encode()).hexdigest()
    monitored = httpx.get(f"{witness.url}/{origin_hash}/checkpoint")
    assert monitored.status_code == 200 and monitored.headers["content-type"].startswith("text/plain")
    assert verify_cosigned_checkpoint(monitored.text, log.vkey, [witness.vkey], 1).size == 1000


def test_a_split_view_is_refused_and_a_stateless_verifier_rejects_it(witnesses, log: Log) -> None:
    first, second = witnesses("witness.test/w1"), witnesses("witness.test/w2")
    trusted, quorum = [first.vkey, second.vkey], 2
    log.grow_to(8)
    note = log.checkpoint()
    for witness in (first, second):
        note = append_signatures(note, _cosign(witness, log, 0, note))
    assert verify_cosigned_checkpoint(note, log.vkey, trusted, quorum).size == 8

    # The host signs two trees of 16 leaves: one for licensor A, a different one for licensor B.
    tree_a = log.tree
    log.grow_to(16, b"shown to A")
    note_a = log.checkpoint()
    for witness in (first, second):
        note_a = append_signatures(note_a, _cosign(witness, log, 8, note_a))
    fork = Log(log.origin, log.skey, log.vkey)
    fork.grow_to(8)
    fork.grow_to(16, b"shown to B")
    assert fork.tree.root(8) == tree_a.root(8) and fork.tree.root() != tree_a.root()
    note_b = fork.checkpoint()
    for witness in (first, second):
        with pytest.raises(WitnessRefused) as stale:  # the host's old size is 8; the witness has 16
            request_cosignature(witness.url, 8, fork.tree.consistency_proof(8, 16), note_b)
        assert (stale.value.status, stale.value.known_size) == (409, 16)
        with pytest.raises(WitnessRefused) as split:  # from 16 to another tree of 16: a split view
            request_cosignature(witness.url, 16, (), note_b)
        assert split.value.status == 422
        kept = [path.read_text() for path in (witness.state / "evidence").iterdir()]
        assert any(note_b in request for request in kept)  # the log-signed fork, kept as evidence

    # Licensor A, with no state of its own, accepts A; licensor B, with none either, rejects B
    # as the host shows it, and rejects it too with A's cosignatures pasted on.
    assert verify_cosigned_checkpoint(note_a, log.vkey, trusted, quorum).root == tree_a.root()
    with pytest.raises(ProofError, match="quorum is 2"):
        verify_cosigned_checkpoint(note_b, log.vkey, trusted, quorum)
    pasted = append_signatures(note_b, "".join(select_signatures(note_a, trusted)))
    with pytest.raises(ProofError, match="invalid cosignature"):
        verify_cosigned_checkpoint(pasted, log.vkey, trusted, quorum)


def test_a_restart_keeps_the_witnessed_size(witnesses, log: Log) -> None:
    witness = witnesses()
    log.grow_to(10)
    _cosign(witness, log, 0, log.checkpoint())
    witness.stop()
    witness.start()
    with pytest.raises(WitnessRefused) as refused:
        request_cosignature(witness.url, 0, (), log.checkpoint())
    assert refused.value.known_size == 10
    fork = Log(log.origin, log.skey, log.vkey)
    fork.grow_to(10, b"rewritten after the restart")
    with pytest.raises(WitnessRefused) as split:
        request_cosignature(witness.url, 10, (), fork.checkpoint())
    assert split.value.status == 422
    log.grow_to(20)
    with WitnessClient(witness.url) as client:  # a host that lost track starts from 0 and follows the 409
        line = client.cosign(log.checkpoint(), log.proof_from(20), 0, witness_vkey=witness.vkey)
    assert verify_cosigned_checkpoint(append_signatures(log.checkpoint(), line), log.vkey, [witness.vkey], 1)


def _post(witness, body: bytes) -> httpx.Response:
    return httpx.post(f"{witness.url}/add-checkpoint", content=body, timeout=10)


def test_malformed_and_dishonest_requests_get_the_specs_answers(witnesses, log: Log) -> None:
    witness = witnesses()
    log.grow_to(10)
    assert _post(witness, format_add_checkpoint(0, (), log.checkpoint())).status_code == 200
    log.grow_to(20)
    proof = log.tree.consistency_proof(10, 20)
    stranger_skey, _ = generate_key(log.origin, seed=b"S" * 32)
    unknown_skey, _ = generate_key("unknown.test/log", seed=b"U" * 32)
    cases = [
        (b"hello", 400),
        (b"old 10\n\n", 400),
        (b"old 1O\n\n" + log.checkpoint().encode(), 400),
        (b"old 10\n" + base64.b64encode(bytes(31)) + b"\n\n" + log.checkpoint().encode(), 400),
        (format_add_checkpoint(30, (), log.checkpoint()), 400),                                   # old > size
        (format_add_checkpoint(10, proof, sign_note(format_checkpoint("unknown.test/log", 20, log.tree.root()),
                                                    unknown_skey)), 404),
        (format_add_checkpoint(10, proof, sign_note(format_checkpoint(log.origin, 20, log.tree.root()),
                                                    stranger_skey)), 403),
        (format_add_checkpoint(10, proof[:-1], log.checkpoint()), 422),
        (format_add_checkpoint(10, proof, sign_note(format_checkpoint(log.origin, 20, bytes(32)), log.skey)), 422),
        (b"x" * (16 * 1024 + 1), 413),
    ]
    for body, status in cases:
        response = _post(witness, body)
        assert response.status_code == status, (body[:40], response.status_code, response.text)
        assert not response.text.startswith("—")
    stale = _post(witness, format_add_checkpoint(5, (), log.checkpoint()))
    assert (stale.status_code, stale.text, stale.headers["content-type"]) == (409, "10\n", "text/x.tlog.size")
    assert httpx.get(f"{witness.url}/add-checkpoint").status_code == 405
    assert httpx.get(f"{witness.url}/{hashlib.sha256(b'unknown.test/log').hexdigest()}/checkpoint").status_code == 404
    good = _post(witness, format_add_checkpoint(10, proof, log.checkpoint()))
    assert good.status_code == 200 and good.text.startswith("— witness.test/w1 ") and good.text.endswith("\n")


def test_racing_requests_cannot_roll_the_log_back(witnesses, log: Log) -> None:
    witness = witnesses()
    log.grow_to(100)
    _cosign(witness, log, 0, log.checkpoint(10))
    statuses: dict[int, int] = {}

    def submit(size: int) -> None:
        body = format_add_checkpoint(10, log.tree.consistency_proof(10, size), log.checkpoint(size))
        statuses[size] = _post(witness, body).status_code

    threads = [threading.Thread(target=submit, args=(size,)) for size in range(11, 31)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [size for size, status in statuses.items() if status == 200]
    assert len(winners) == 1 and sorted(set(statuses.values())) == [200, 409]
    with pytest.raises(WitnessRefused) as refused:
        request_cosignature(witness.url, 10, (), log.checkpoint(10))
    assert refused.value.known_size == winners[0]


def test_client_errors(witnesses, log: Log) -> None:
    witness = witnesses()
    log.grow_to(3)
    other_vkey = witnesses("witness.test/w2").vkey
    with pytest.raises(WitnessRefused, match="no cosignature by its key"):
        request_cosignature(witness.url, 0, (), log.checkpoint(), witness_vkey=other_vkey)
    with pytest.raises(WitnessUnreachable):
        request_cosignature(f"http://127.0.0.1:{free_port()}", 0, (), log.checkpoint(), timeout_s=2)


def test_the_cli_refuses_a_second_witness_and_bad_input(witnesses, tmp_path) -> None:
    witness = witnesses()
    assert cli("witness", "vkey", "--state", str(witness.state)).stdout.strip() == witness.vkey
    again = cli("witness", "init", "--state", str(witness.state), check=False)
    assert again.returncode == 1 and "keeps its key" in again.stderr
    second = cli("witness", "serve", "--config", str(witness.config), "--state", str(witness.state),
                 "--port", str(free_port()), check=False)
    assert second.returncode == 1 and "another witness" in second.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[[log]]\norigin = "x"\nvkeys = ["nope"]\n')
    refused = cli("witness", "serve", "--config", str(bad), "--state", str(witness.state), check=False)
    assert refused.returncode == 2 and "witness configuration" in refused.stderr
    missing = cli("witness", "serve", "--config", str(witness.config), "--state", str(tmp_path / "none"),
                  check=False)
    assert missing.returncode == 1 and "witness init" in missing.stderr
