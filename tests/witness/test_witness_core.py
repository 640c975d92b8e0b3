"""The witness's pure decision: every status code of c2sp.org/tlog-witness, in the spec's order."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revstream.transparency import (
    EMPTY_ROOT,
    MerkleTree,
    append_signatures,
    format_checkpoint,
    generate_cosigner_key,
    generate_key,
    sign_note,
    verify_cosigned_checkpoint,
)
from revstream.witness import (
    ADD_CHECKPOINT_BODY_BYTES_MAX,
    AddCheckpoint,
    BadRequest,
    Conflict,
    Forbidden,
    LogConfig,
    UnknownLog,
    Unprocessable,
    WitnessState,
    add_checkpoint,
    format_add_checkpoint,
    parse_add_checkpoint,
    witness_config,
)

ORIGIN = "host.test/log"
LOG_SKEY, LOG_VKEY = generate_key(ORIGIN, seed=b"L" * 32)
OTHER_SKEY, _ = generate_key(ORIGIN, seed=b"O" * 32)  # same name, not the configured key
WITNESS_SKEY, WITNESS_VKEY = generate_cosigner_key("witness.test/w1", seed=b"W" * 32)
CONFIG = witness_config([LogConfig(ORIGIN, (LOG_VKEY,))])
NOW_S = 1_750_000_000


def _tree(size: int, prefix: bytes = b"leaf") -> MerkleTree:
    tree = MerkleTree()
    tree.extend(prefix + b" %d" % index for index in range(size))
    return tree


def _note(size: int, root: bytes, skey: str = LOG_SKEY, origin: str = ORIGIN) -> str:
    return sign_note(format_checkpoint(origin, size, root), skey)


def _request(old_size: int, proof, note: str) -> AddCheckpoint:
    return parse_add_checkpoint(format_add_checkpoint(old_size, tuple(proof), note))


def _add(state: WitnessState, old_size: int, proof, note: str) -> WitnessState:
    cosigned = add_checkpoint(_request(old_size, proof, note), CONFIG, state, WITNESS_SKEY, NOW_S)
    return state.with_log(cosigned.origin, cosigned.log)


@pytest.fixture
def at_ten() -> tuple[WitnessState, MerkleTree]:
    tree = _tree(20)
    return _add(WitnessState(), 0, (), _note(10, tree.root(10))), tree


def test_first_contact_then_growth_is_cosigned(at_ten) -> None:
    state, tree = at_ten
    assert (state.logs[ORIGIN].size, state.logs[ORIGIN].root) == (10, tree.root(10))
    note = _note(20, tree.root())
    cosigned = add_checkpoint(_request(10, tree.consistency_proof(10, 20), note), CONFIG, state, WITNESS_SKEY, NOW_S)
    assert cosigned.cosignature.startswith("— witness.test/w1 ") and cosigned.cosignature.endswith("\n")
    checkpoint = verify_cosigned_checkpoint(append_signatures(note, cosigned.cosignature), LOG_VKEY, [WITNESS_VKEY], 1)
    assert checkpoint.size == 20
    stored = cosigned.log.checkpoint  # what monitors read: the log's signature and ours
    assert verify_cosigned_checkpoint(stored, LOG_VKEY, [WITNESS_VKEY], 1).size == 20
    later = state.with_log(ORIGIN, cosigned.log)
    again = add_checkpoint(_request(20, (), note), CONFIG, later, WITNESS_SKEY, NOW_S + 1)
    assert again.log.size == 20  # the same checkpoint again: cosigned afresh (a newer timestamp)


def test_unknown_origin_is_404_before_anything_else(at_ten) -> None:
    state, tree = at_ten
    with pytest.raises(UnknownLog) as caught:
        add_checkpoint(_request(99, (), _note(10, tree.root(10), origin="else.test/log")), CONFIG, state,
                       WITNESS_SKEY, NOW_S)
    assert caught.value.status == 404


def test_no_trusted_signature_is_403(at_ten) -> None:
    state, tree = at_ten
    for note in (_note(20, tree.root(), OTHER_SKEY), format_checkpoint(ORIGIN, 20, tree.root()) + "\n"):
        with pytest.raises(Forbidden) as caught:
            add_checkpoint(_request(10, tree.consistency_proof(10, 20), note), CONFIG, state, WITNESS_SKEY, NOW_S)
        assert caught.value.status == 403
    good = _note(20, tree.root())
    forged = good[:-5] + ("A" if good[-5] != "A" else "B") + good[-4:]  # the trusted key's signature, broken
    with pytest.raises(Forbidden):
        add_checkpoint(_request(10, tree.consistency_proof(10, 20), forged), CONFIG, state, WITNESS_SKEY, NOW_S)


def test_old_size_above_the_checkpoint_is_400(at_ten) -> None:
    state, tree = at_ten
    with pytest.raises(BadRequest) as caught:
        add_checkpoint(_request(15, (), _note(12, tree.root(12))), CONFIG, state, WITNESS_SKEY, NOW_S)
    assert caught.value.status == 400


def test_a_signed_note_that_is_no_checkpoint_is_400(at_ten) -> None:
    state, _ = at_ten
    with pytest.raises(BadRequest):
        add_checkpoint(_request(10, (), sign_note(f"{ORIGIN}\nnot a size\nroot\n", LOG_SKEY)), CONFIG, state,
                       WITNESS_SKEY, NOW_S)


def test_stale_old_size_is_409_with_the_known_size(at_ten) -> None:
    state, tree = at_ten
    for old_size in (0, 9, 11):
        with pytest.raises(Conflict) as caught:
            add_checkpoint(_request(old_size, tree.consistency_proof(old_size, 20) if old_size else (),
                                    _note(20, tree.root())), CONFIG, state, WITNESS_SKEY, NOW_S)
        refusal = caught.value
        assert (refusal.status, refusal.body(), refusal.content_type) == (409, "10\n", "text/x.tlog.size")


def test_split_view_same_size_other_root_is_422(at_ten) -> None:
    state, _ = at_ten
    forked = _tree(10, b"fork")
    with pytest.raises(Unprocessable) as caught:
        add_checkpoint(_request(10, (), _note(10, forked.root())), CONFIG, state, WITNESS_SKEY, NOW_S)
    assert caught.value.status == 422 and "split view" in str(caught.value)


def test_bad_proofs_are_422(at_ten) -> None:
    state, tree = at_ten
    forked = _tree(20, b"fork")
    cases = [
        (10, tree.consistency_proof(10, 20), _note(20, forked.root())),    # a fork of the witnessed tree
        (10, (), _note(20, tree.root())),                                   # no proof
        (10, tree.consistency_proof(9, 20), _note(20, tree.root())),       # a proof for other sizes
        (10, (bytes(32),), _note(10, tree.root(10))),                       # same size, non-empty proof
    ]
    for old_size, proof, note in cases:
        with pytest.raises(Unprocessable):
            add_checkpoint(_request(old_size, proof, note), CONFIG, state, WITNESS_SKEY, NOW_S)


def test_size_zero_rules_are_422() -> None:
    with pytest.raises(Unprocessable, match="empty tree"):
        add_checkpoint(_request(0, (), _note(0, bytes(32))), CONFIG, WitnessState(), WITNESS_SKEY, NOW_S)
    with pytest.raises(Unprocessable, match="from size 0"):
        add_checkpoint(_request(0, (bytes(32),), _note(5, _tree(5).root())), CONFIG, WitnessState(),
                       WITNESS_SKEY, NOW_S)
    empty = _add(WitnessState(), 0, (), _note(0, EMPTY_ROOT))
    assert _add(empty, 0, (), _note(5, _tree(5).root())).logs[ORIGIN].size == 5


@pytest.mark.parametrize("body", [
    b"", b"old 0\n", b"old 0\n\n", b"old 01\n\nx\n", b"old -1\n\nx\n", b"old 0 \n\nx\n", b"new 0\n\nx\n",
    b"old 5\nnot base64!\n\nx\n", b"old 5\n" + base64.b64encode(bytes(31)) + b"\n\nx\n",
    b"old 5\n" + (base64.b64encode(bytes(32)) + b"\n") * 64 + b"\nx\n", b"old 0\n\n\xff\n",
    b"old 18446744073709551616\n\nx\n", b"x" * (ADD_CHECKPOINT_BODY_BYTES_MAX + 1),
])
def test_malformed_bodies_are_400(body: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_add_checkpoint(body)
    assert caught.value.status == 400


def test_request_format_round_trips() -> None:
    tree = _tree(7)
    note = _note(7, tree.root())
    body = format_add_checkpoint(3, tree.consistency_proof(3, 7), note)
    lines = body.decode().split("\n")
    assert lines[0] == "old 3" and lines[len(tree.consistency_proof(3, 7)) + 1] == ""
    assert parse_add_checkpoint(body) == AddCheckpoint(3, tree.consistency_proof(3, 7), note)


def _forked(size: int, fork_at: int) -> MerkleTree:
    forked = MerkleTree()
    forked.extend(b"honest %d" % index if index != fork_at else b"forged" for index in range(size))
    return forked


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 300), min_size=1, max_size=8), st.data())
def test_an_honest_log_is_always_cosigned_and_any_fork_refused(steps, data) -> None:
    tree, state, size = MerkleTree(), WitnessState(), 0
    for step in steps:
        new_size = size + step
        while tree.size < new_size:
            tree.append(b"honest %d" % tree.size)
        proof = tree.consistency_proof(size, new_size) if size else ()
        if size:  # a tree that rewrites a leaf the witness has seen cannot extend it
            with pytest.raises(Unprocessable):
                _add(state, size, proof, _note(new_size, _forked(new_size, data.draw(st.integers(0, size - 1))).root()))
        state = _add(state, size, proof, _note(new_size, tree.root(new_size)))
        if new_size:  # once cosigned, another tree of that size is a split view, whatever it changes
            other = _note(new_size, _forked(new_size, data.draw(st.integers(0, new_size - 1))).root())
            with pytest.raises(Unprocessable):
                _add(state, new_size, (), other)
            with pytest.raises(Conflict if size != new_size else Unprocessable):
                _add(state, size, proof, other)
        size = new_size
    assert state.logs[ORIGIN].root == tree.root(size)
