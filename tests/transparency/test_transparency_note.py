"""C2SP signed notes: Go reference vectors, round trips, and every rejection path."""

from __future__ import annotations

import base64

import pytest

from revstream.transparency import (
    FormatError,
    ProofError,
    generate_key,
    parse_verifier_key,
    sign_note,
    verify_note,
)

# golang.org/x/mod/sumdb/note package documentation (BSD-3-Clause), the PeterNeumann example.
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIGNATURE = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
PETER_NOTE = PETER_TEXT + "\n" + PETER_SIGNATURE
# Same documentation: the note re-signed by EnochRoot.
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
ENOCH_SIGNATURE = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)
DOUBLE_NOTE = PETER_NOTE + ENOCH_SIGNATURE

SEED = bytes(range(32))


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_key("log.example/revstream", seed=SEED)


def test_sign_reproduces_the_go_vector_byte_for_byte() -> None:
    assert sign_note(PETER_TEXT, PETER_SKEY) == PETER_NOTE


def test_verify_the_go_vectors() -> None:
    assert verify_note(PETER_NOTE, [PETER_VKEY]) == PETER_TEXT
    assert verify_note(PETER_NOTE.encode(), [PETER_VKEY]) == PETER_TEXT
    assert verify_note(DOUBLE_NOTE, [ENOCH_VKEY]) == PETER_TEXT  # PeterNeumann's signature ignored
    assert verify_note(DOUBLE_NOTE, [PETER_VKEY, ENOCH_VKEY]) == PETER_TEXT


def test_generated_keys_have_the_c2sp_shape(keys: tuple[str, str]) -> None:
    skey, vkey = keys
    assert skey.startswith("PRIVATE+KEY+log.example/revstream+")
    key = parse_verifier_key(vkey)
    assert key.name == "log.example/revstream"
    assert vkey.split("+")[1] == key.key_id.hex()
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == 0x01
    assert generate_key("log.example/revstream", seed=SEED) == keys
    assert generate_key("a")[1] != generate_key("a")[1]  # fresh randomness by default


def test_round_trip_and_tampering(keys: tuple[str, str]) -> None:
    skey, vkey = keys
    text = "log.example/revstream\n42\nAAAA\n\nsecond paragraph\n"
    note = sign_note(text, skey)
    assert verify_note(note, [vkey]) == text
    with pytest.raises(ProofError):
        verify_note(note.replace("42", "43"), [vkey])
    signature_line = note.rsplit("\n", 2)[1]
    encoded = signature_line.split(" ")[2]
    raw = bytearray(base64.b64decode(encoded))
    for position in (4, 40, len(raw) - 1):  # inside the Ed25519 signature
        raw_copy = bytearray(raw)
        raw_copy[position] ^= 1
        forged = note.replace(encoded, base64.b64encode(bytes(raw_copy)).decode())
        with pytest.raises(ProofError):
            verify_note(forged, [vkey])


def test_wrong_and_unknown_keys(keys: tuple[str, str]) -> None:
    skey, vkey = keys
    note = sign_note("hello\n", skey)
    _, other_vkey = generate_key("log.example/revstream", seed=b"\x01" * 32)
    with pytest.raises(ProofError):  # same name, other key ID: unknown, so nothing verifies
        verify_note(note, [other_vkey])
    with pytest.raises(ProofError):
        verify_note(note, [PETER_VKEY])
    with pytest.raises(ProofError):
        verify_note(note, [])
    unknown_then_known = sign_note("hello\n", PETER_SKEY) + note.rsplit("\n\n", 1)[1]
    assert verify_note(unknown_then_known, [vkey]) == "hello\n"


def test_a_bad_signature_from_a_known_key_rejects_the_note(keys: tuple[str, str]) -> None:
    skey, vkey = keys
    note = sign_note("hello\n", skey)
    bad = PETER_SIGNATURE.replace("x08go/ZJ", "x08go/ZK")
    with pytest.raises(ProofError):  # PeterNeumann's (known) signature is bad, ours is good
        verify_note(note + bad, [vkey, PETER_VKEY])


def test_same_name_and_id_for_two_keys_is_rejected() -> None:
    name, key_id, encoded = PETER_VKEY.split("+", 2)
    forged = f"{name}+{key_id}+" + base64.b64encode(b"\x01" + b"\x07" * 32).decode()
    with pytest.raises(ProofError):  # forged ID does not match its key
        verify_note(PETER_NOTE, [PETER_VKEY, forged])


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong ID
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # short ID
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",  # bad base64
        "PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # algorithm 0x02
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in name
    ],
)
def test_malformed_verifier_keys_are_rejected(vkey: str) -> None:
    with pytest.raises(ProofError):
        verify_note(PETER_NOTE, [vkey])


@pytest.mark.parametrize(
    "note",
    [
        PETER_TEXT,  # no signatures
        PETER_TEXT + "\n",  # blank line, no signatures
        PETER_NOTE[:-1],  # signature block not newline-terminated
        PETER_NOTE.replace("\u2014 ", "- "),  # not an em dash
        PETER_NOTE.replace("PeterNeumann x08", "PeterNeumann  x08"),  # double space
        PETER_NOTE.replace("If you", "If\tyou"),  # control character
        PETER_NOTE.replace("AM=\n", "AM\n"),  # bad padding
        PETER_TEXT + "\n\u2014 PeterNeumann AAAA\n",  # signature too short
        PETER_TEXT + "\n" + PETER_SIGNATURE * 101,  # too many signatures
        "\ud800\n\n" + PETER_SIGNATURE,  # lone surrogate
    ],
)
def test_malformed_notes_are_rejected(note: str) -> None:
    with pytest.raises(ProofError):
        verify_note(note, [PETER_VKEY])


def test_invalid_utf8_bytes_are_rejected() -> None:
    with pytest.raises(ProofError):
        verify_note(b"\xff\n\n" + PETER_SIGNATURE.encode(), [PETER_VKEY])


@pytest.mark.parametrize(
    ("text", "skey"),
    [
        ("no final newline", PETER_SKEY),
        ("tab\there\n", PETER_SKEY),
        ("fine\n", PETER_SKEY.replace("PRIVATE+KEY+", "")),
        ("fine\n", PETER_SKEY.replace("c74f20a3", "c74f20a4")),  # ID does not match key
        ("fine\n", PETER_VKEY),
    ],
)
def test_signing_rejects_bad_text_or_key(text: str, skey: str) -> None:
    with pytest.raises(FormatError):
        sign_note(text, skey)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "tab\t"])
def test_generate_key_rejects_bad_names(name: str) -> None:
    with pytest.raises(FormatError):
        generate_key(name)
