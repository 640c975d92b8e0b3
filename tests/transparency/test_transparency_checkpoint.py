"""C2SP checkpoints: format/parse round trip, strict parsing, signed verification, fork check."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revstream.transparency import (
    EMPTY_ROOT,
    Checkpoint,
    FormatError,
    MerkleTree,
    ProofError,
    format_checkpoint,
    generate_key,
    parse_checkpoint,
    sign_note,
    verify_checkpoint,
    verify_checkpoint_consistency,
)

ORIGIN = "log.example/revstream"
ROOT = hashlib.sha256(b"root").digest()


def test_format_matches_the_spec_layout() -> None:
    text = format_checkpoint(ORIGIN, 20852163, ROOT)
    assert text == f"{ORIGIN}\n20852163\n{base64.b64encode(ROOT).decode()}\n"
    assert parse_checkpoint(text) == Checkpoint(ORIGIN, 20852163, ROOT)


def test_spec_example_body_parses() -> None:
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    checkpoint = parse_checkpoint(body)
    assert (checkpoint.origin, checkpoint.size, len(checkpoint.root)) == ("example.com/behind-the-sofa", 20852163, 32)
    assert format_checkpoint(checkpoint.origin, checkpoint.size, checkpoint.root) == body


@given(
    origin=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x2FFF, exclude_characters="\x7f"), min_size=1),
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1), max_size=3),
)
def test_round_trip(origin: str, size: int, root: bytes, extensions: list[str]) -> None:
    text = format_checkpoint(origin, size, root, extensions)
    assert parse_checkpoint(text) == Checkpoint(origin, size, root, tuple(extensions))


@pytest.mark.parametrize(
    "text",
    [
        f"{ORIGIN}\n12\n",  # missing root
        f"{ORIGIN}\n012\n" + "A" * 43 + "=\n",  # leading zero
        f"{ORIGIN}\n-1\n" + "A" * 43 + "=\n",
        f"{ORIGIN}\n{2**64}\n" + "A" * 43 + "=\n",
        f"{ORIGIN}\n12\n" + "A" * 43 + "\n",  # missing padding
        f"{ORIGIN}\n12\n" + "A" * 42 + "B=\n",  # non-canonical trailing bits
        f"{ORIGIN}\n12\n" + "A" * 40 + "==\n",  # 30 bytes
        "\n12\n" + "A" * 43 + "=\n",  # empty origin
        f"{ORIGIN}\n12\n" + "A" * 43 + "=\n\n",  # empty extension line
        f"{ORIGIN}\n12\n" + "A" * 43 + "=",  # no final newline
    ],
)
def test_parse_rejects_malformed_bodies(text: str) -> None:
    with pytest.raises(FormatError):
        parse_checkpoint(text)


@pytest.mark.parametrize(
    "args",
    [("", 1, ROOT), ("a\nb", 1, ROOT), (ORIGIN, -1, ROOT), (ORIGIN, 1, ROOT[:31]), (ORIGIN, True, ROOT)],
)
def test_format_rejects_bad_fields(args: tuple[object, ...]) -> None:
    with pytest.raises(FormatError):
        format_checkpoint(*args)  # type: ignore[arg-type]


def test_signed_checkpoint_verification_and_fork_detection() -> None:
    skey, vkey = generate_key(ORIGIN, seed=b"\x05" * 32)
    tree = MerkleTree()
    tree.extend(f"record {i}".encode() for i in range(20))
    old_note = sign_note(format_checkpoint(ORIGIN, 13, tree.root(13)), skey)
    new_note = sign_note(format_checkpoint(ORIGIN, 20, tree.root()), skey)
    old = verify_checkpoint(old_note, [vkey], ORIGIN)
    new = verify_checkpoint(new_note, [vkey], ORIGIN)
    verify_checkpoint_consistency(old, new, tree.consistency_proof(13, 20))
    # Every tree extends the empty one: accepted with no proof, although
    # verify_consistency itself rejects size1 == 0 < size2.
    empty = Checkpoint(ORIGIN, 0, EMPTY_ROOT)
    verify_checkpoint_consistency(empty, new, ())
    verify_checkpoint_consistency(empty, new, tree.consistency_proof(0, 20))
    verify_checkpoint_consistency(empty, Checkpoint(ORIGIN, 1, tree.root(1)), [])
    verify_checkpoint_consistency(empty, empty, ())
    with pytest.raises(ProofError):  # a proof from the empty tree is meaningless
        verify_checkpoint_consistency(empty, new, (tree.root(),))
    with pytest.raises(ProofError):  # size 0 must carry the empty root
        verify_checkpoint_consistency(Checkpoint(ORIGIN, 0, tree.root()), new, ())
    with pytest.raises(ProofError):
        verify_checkpoint_consistency(empty, Checkpoint(ORIGIN, 0, tree.root()), ())
    with pytest.raises(ProofError):  # rollback to empty
        verify_checkpoint_consistency(new, empty, ())
    with pytest.raises(ProofError):
        verify_checkpoint_consistency(empty, Checkpoint("other.example/log", 20, tree.root()), ())
    verify_checkpoint_consistency(new, new, ())
    with pytest.raises(ProofError):  # same size, different root: a fork
        verify_checkpoint_consistency(old, Checkpoint(ORIGIN, 13, tree.root(12)), ())

    forked = MerkleTree()
    forked.extend(f"record {i}".encode() if i != 3 else b"rewritten" for i in range(20))
    forked_new = Checkpoint(ORIGIN, 20, forked.root())
    with pytest.raises(ProofError):
        verify_checkpoint_consistency(old, forked_new, forked.consistency_proof(13, 20))
    with pytest.raises(ProofError):  # rollback
        verify_checkpoint_consistency(new, old, ())
    with pytest.raises(ProofError):
        verify_checkpoint_consistency(old, Checkpoint("other.example/log", 20, tree.root()), ())
    with pytest.raises(ProofError):
        verify_checkpoint(new_note, [vkey], "other.example/log")
    with pytest.raises(ProofError):  # signed, but not a checkpoint
        verify_checkpoint(sign_note("just text\n", skey), [vkey], "just text")
