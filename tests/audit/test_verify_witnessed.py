"""Witnessed logs end to end (issue 17): real witness processes (`revstream witness serve`),
real hosts (`revstream serve`) that ask them for cosignatures, and the real `revstream verify`.

A dishonest host runs two copies of one install (one log key, one origin) and shows two
licensors two different trees of the same size. The witnesses cosign the first and refuse
the second (422, evidence kept); a licensor that requires the witnesses' quorum rejects the
second view on its very first contact, while one that does not would have accepted it.
A witness that is down delays publication, never the log: the statement waits, then verifies.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from conftest import revstream
from console.processes import Host, make_witness, prepare_host, usage
from revstream.cli._verify import quorum_of, witness_keys
from revstream.transparency import verify_cosignatures, verify_cosigned_checkpoint
from revstream.witness import WitnessClient, WitnessRefused

ORIGIN = "host.test/log"
MODEL = "llama-x"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("witnessed")
    witnesses = (make_witness(tmp, "witness.test/w1"), make_witness(tmp, "witness.test/w2"))
    honest = prepare_host(tmp / "honest", ORIGIN, MODEL, "USD", input_price="0.20", output_price="0.60",
                          witnesses=witnesses, quorum=2, share_bps=1500)
    # The same install copied before its first checkpoint: the host's second face.
    fork_home = tmp / "fork"
    fork_home.mkdir()
    for path in honest.home.glob("revstream.db*"):
        shutil.copy(path, fork_home / path.name)
    shutil.copytree(honest.home / "keys", fork_home / "keys")  # the same signing key: one host, two faces
    fork = Host(fork_home, ORIGIN, honest.vkey, honest.token, honest.config)
    try:
        for witness in witnesses:
            witness.follow((ORIGIN, honest.vkey))
            witness.start()
        honest.start()
        yield {"tmp": tmp, "witnesses": witnesses, "honest": honest, "fork": fork}
    finally:
        for process in (honest, fork, *witnesses):
            process.stop()


def verify(world, host: Host, statement: dict, state: str, *flags: str) -> tuple[int, dict | str]:
    note = host.statement_note(statement["statement"], world["tmp"] / f"{state}-{time.monotonic_ns()}.note")
    result = revstream("verify", "--host", host.url, "--vkey", host.vkey, "--statement", str(note), "--state",
                       str(world["tmp"] / state), "--token", host.token, "--json", *flags,
                       home=world["tmp"] / "licensor", check=False)
    return result.returncode, json.loads(result.stdout) if result.stdout else result.stderr


def witness_flags(world) -> list[str]:
    return [flag for witness in world["witnesses"] for flag in ("--witness", witness.vkey)]


def test_a_split_view_is_refused_by_the_witnesses_and_caught_by_a_first_time_verifier(world):
    honest, fork, (w1, w2) = world["honest"], world["fork"], world["witnesses"]
    # 0.66 cents of share: paid as 1 cent, so April carries a negative residue in.
    honest.import_usage(usage("mar", MODEL, "2026-03", 4, 40_000, 5_000))
    [march] = honest.settle("2026-03")
    size = march["log"]["size"]
    witnessing = honest.wait_witnessed(size)
    assert [w["cosigned_size"] for w in witnessing["witnesses"]] == [size, size]
    published = honest.checkpoint()
    assert verify_cosigned_checkpoint(published, honest.vkey, [w1.vkey, w2.vkey], 2).size == size

    code, report = verify(world, honest, march, "licensor-1", *witness_flags(world))
    assert code == 0, report
    assert [c["name"] for c in report["checks"]][:4] == [
        "statement signature", "checkpoint signature", "checkpoint witnesses", "log consistency"]
    assert report["cosigners"] == ["witness.test/w1", "witness.test/w2"]

    # The second face: the same log key signs another tree of the same size for another licensor.
    fork.start()
    fork.import_usage(usage("mar-other", MODEL, "2026-03", 4, 40_000, 500))
    [forked] = fork.settle("2026-03")
    assert forked["log"]["size"] == size and forked["log"]["checkpoint"] != march["log"]["checkpoint"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        refused = fork.health()["transparency_log"]["witnessing"]["witnesses"]
        if all(w["failures"] >= 1 for w in refused):
            break
        time.sleep(0.2)
    assert all("422" in (w["last_error"] or "") for w in refused), refused
    assert w1.evidence() and w2.evidence()  # each witness kept the log-signed proof of the fork
    with WitnessClient(w1.url) as client, pytest.raises(WitnessRefused) as refusal:
        client.add_checkpoint(size, (), forked["log"]["checkpoint"])
    assert refusal.value.status == 422
    shown = fork.checkpoint()
    assert verify_cosignatures(shown, [w1.vkey, w2.vkey]) == ()

    # A licensor meeting this host for the first time, with no state: rejected.
    code, report = verify(world, fork, forked, "licensor-2", *witness_flags(world))
    assert code == 1 and report["verified"] is False
    [failed] = [c for c in report["checks"] if not c["ok"]]
    assert failed["name"] == "checkpoint witnesses" and "quorum is 2" in failed["detail"], failed
    assert (Path(report["evidence"]) / "checkpoint-host-latest.note").read_text() == shown
    # Without witnesses, the same first-time check cannot tell: only the witnesses caught it.
    code, report = verify(world, fork, forked, "licensor-3")
    assert code == 0, report
    fork.stop()


def test_a_witness_down_delays_publication_not_the_log(world):
    honest, (w1, w2) = world["honest"], world["witnesses"]
    w2.stop()
    honest.import_usage(usage("apr", MODEL, "2026-04", 3, 8_000, 1_000))
    [april] = honest.settle("2026-04")
    assert int(april["carry_in_residue_nanos"]) < 0  # a residue carried in may be negative, and verifies
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        witnessing = honest.health()["transparency_log"]["witnessing"]
        w1_state, w2_state = witnessing["witnesses"]
        if w1_state["cosigned_size"] == april["log"]["size"] and w2_state["failures"] >= 1:
            break
        time.sleep(0.2)
    assert w1_state["cosigned_size"] == april["log"]["size"] and w2_state["failures"] >= 1, witnessing
    assert witnessing["published_size"] < april["log"]["size"] == witnessing["newest_size"]
    assert honest.health()["status"] == "ok"  # a witness down is not a host down

    code, message = verify(world, honest, april, "licensor-1", *witness_flags(world))
    assert code == 2 and "not witnessed yet" in message, message
    # A licensor that names no witness sees the same lag: not a rollback, not checked yet.
    code, message = verify(world, honest, april, "licensor-4")
    assert code == 2 and "publishes a witnessed checkpoint" in message, message

    w2.start()
    honest.wait_witnessed(april["log"]["size"])
    code, report = verify(world, honest, april, "licensor-1", *witness_flags(world))
    assert code == 0, report
    assert "continues the statements verified before" in report["checks"][-1]["detail"]


def test_verify_refuses_a_quorum_it_cannot_meet(world, tmp_path):
    w1, w2 = world["witnesses"]
    keys = tmp_path / "witnesses.txt"
    keys.write_text(f"# the licensor's trusted witnesses\n{w1.vkey}\n\n{w2.vkey}  # the second\n")
    assert witness_keys([str(keys), w1.vkey]) == (w1.vkey, w2.vkey)
    assert quorum_of((w1.vkey, w2.vkey), None) == 2
    with pytest.raises(ValueError, match="between 1 and the 2 witness keys"):
        quorum_of((w1.vkey, w2.vkey), 3)
    with pytest.raises(ValueError, match="not a witness"):
        witness_keys([world["honest"].vkey])  # a log key is not a cosigner key
    note = tmp_path / "any.note"
    note.write_text("x")
    result = revstream("verify", "--host", world["honest"].url, "--vkey", world["honest"].vkey, "--statement",
                       str(note), "--witness", w1.vkey, "--quorum", "2", home=tmp_path / "licensor", check=False)
    assert result.returncode == 2 and "--quorum must be between 1 and the 1 witness keys" in result.stderr
