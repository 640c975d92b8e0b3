"""C2SP tlog-cosignature (Ed25519 cosignature/v1): spec examples, a real sigsum vector, quorums."""

from __future__ import annotations

import base64
import hashlib

import pytest

from revstream.transparency import (
    COSIGNATURE_TIMESTAMP_MAX,
    FormatError,
    MerkleTree,
    ProofError,
    append_signatures,
    cosign_checkpoint,
    cosignature_message,
    cosigner_vkey,
    format_checkpoint,
    generate_cosigner_key,
    generate_key,
    parse_cosigner_key,
    parse_verifier_key,
    select_signatures,
    sign_note,
    verify_cosignatures,
    verify_cosigned_checkpoint,
    verify_note,
)

# c2sp.org/signed-note, "Example": this vkey verifies this note.
SPEC_NOTE_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = ("This is an example message.\n\n— example.com/foo "
             "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")

# c2sp.org/tlog-cosignature: the example checkpoint, its cosignature line and signed message.
SOFA = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SOFA_COSIGNATURE = ("jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ"
                    "qhf5nNo0xUe+mbIUBkBIfZ+qnA==")
SOFA_MESSAGE = b"cosignature/v1\ntime 1679315147\n" + SOFA.encode()

# A real cosigned checkpoint made by sigsum tooling (sigsum-go signing), from the README of
# github.com/florolf/sigsum-breakglass: a one-leaf log, cosigned by two of three keys.
# Sigsum's origin is "sigsum.org/v1/tree/" + hex SHA-256(log public key); its key name is the origin.
SIGSUM_LOG_KEY = bytes.fromhex("7e55283748388e2fa565346516d848ef1195cad5c83816a4b6e24344cfc717e9")
SIGSUM_WITNESSES = {
    "cosigner1": bytes.fromhex("0356a86448e731c962782b30563d9d5c807f7956c4c361cf48ac75c6bd7fce0f"),
    "cosigner2": bytes.fromhex("364ced2caf85261de3c91170f137c0bf8688fda3293372d66f02d6b7f4bab79c"),
    "cosigner3": bytes.fromhex("ce80e6540b37b34c3b15a574ad82e1ebb5b7cae54f5335fb9fa960f5b89dd660"),
}
SIGSUM_ROOT = bytes.fromhex("12594afb57e40a283bd03afac74641a032065cd59e098278920f55dae9d6f505")
SIGSUM_LOG_SIGNATURE = bytes.fromhex(
    "69e5d513350061558350726bb8208e4801ca2a0e04599bf325a00a3566001818"
    "d64ceff441814911ea9e9a8920dab43848fc2cbb5aed01a51fd149c55c005501")
SIGSUM_COSIGNATURES = (
    ("cosigner1", 1771286008, bytes.fromhex(
        "39d88fc30e8a1df0df5c7b339fffbe1e1f34f1f3b67885db4ef47248f4f90dd7"
        "7fe070ecefb8e9eba0a2d63781a05b2a7e18b96dfc9577478f2e4dc01e7f1005")),
    ("cosigner2", 1771286014, bytes.fromhex(
        "abf47128ba667057037124abf1c620ed912c2e1ac8921739094ec8ee19f1483f"
        "8132eb9f660a4000493ea8ee7502f13bb836486c45c5869d50015e169b49030f")),
)


def _vkey(name: str, algorithm: int, public_key: bytes) -> str:
    """A vkey built by hand from the spec's formulas, independently of the code under test."""
    tagged = bytes((algorithm,)) + public_key
    key_id = hashlib.sha256(name.encode() + b"\n" + tagged).digest()[:4]
    return f"{name}+{key_id.hex()}+{base64.b64encode(tagged).decode()}"


def _line(name: str, raw: bytes) -> str:
    return f"— {name} {base64.b64encode(raw).decode()}\n"


def _sigsum_note(timestamp_shift: int = 0) -> tuple[str, str, list[str]]:
    origin = "sigsum.org/v1/tree/" + hashlib.sha256(SIGSUM_LOG_KEY).hexdigest()
    log_vkey = _vkey(origin, 0x01, SIGSUM_LOG_KEY)
    witness_vkeys = [_vkey(name, 0x04, key) for name, key in SIGSUM_WITNESSES.items()]
    body = format_checkpoint(origin, 1, SIGSUM_ROOT)
    lines = [_line(origin, parse_verifier_key(log_vkey).key_id + SIGSUM_LOG_SIGNATURE)]
    for name, timestamp_s, signature in SIGSUM_COSIGNATURES:
        key_id = parse_cosigner_key(_vkey(name, 0x04, SIGSUM_WITNESSES[name]))[1]
        lines.append(_line(name, key_id + (timestamp_s + timestamp_shift).to_bytes(8, "big") + signature))
    return body + "\n" + "".join(lines), log_vkey, witness_vkeys


def test_the_signed_note_spec_example_verifies() -> None:
    assert verify_note(SPEC_NOTE, [SPEC_NOTE_VKEY]) == "This is an example message.\n"


def test_the_signed_message_is_the_spec_example_byte_for_byte() -> None:
    assert cosignature_message(SOFA, 1679315147) == SOFA_MESSAGE


def test_our_line_lays_out_key_id_timestamp_signature_as_the_spec_example() -> None:
    spec = base64.b64decode(SOFA_COSIGNATURE)
    assert len(spec) == 4 + 8 + 64 and int.from_bytes(spec[4:12], "big") == 1679315147
    skey, vkey = generate_cosigner_key("witness.example.com/w1", seed=bytes(32))
    line = cosign_checkpoint(SOFA, skey, 1679315147)
    name, encoded = line[2:-1].split(" ")
    ours = base64.b64decode(encoded)
    assert name == "witness.example.com/w1" and len(ours) == len(spec)
    assert ours[:4] == parse_cosigner_key(vkey)[1] and ours[4:12] == spec[4:12]


def test_a_real_sigsum_cosigned_checkpoint_verifies_with_its_quorum() -> None:
    note, log_vkey, witness_vkeys = _sigsum_note()
    checkpoint = verify_cosigned_checkpoint(note, log_vkey, witness_vkeys, 2)
    assert (checkpoint.size, checkpoint.root) == (1, SIGSUM_ROOT)
    found = verify_cosignatures(note, witness_vkeys)
    assert [(c.name, c.timestamp_s) for c in found] == [("cosigner1", 1771286008), ("cosigner2", 1771286014)]
    with pytest.raises(ProofError, match="quorum is 3"):
        verify_cosigned_checkpoint(note, log_vkey, witness_vkeys, 3)
    with pytest.raises(ProofError, match="invalid cosignature"):  # the timestamp is signed
        verify_cosignatures(_sigsum_note(timestamp_shift=1)[0], witness_vkeys)


def test_cosigner_keys_use_type_0x04_and_their_own_key_id() -> None:
    skey, vkey = generate_cosigner_key("witness.test/w1", seed=bytes(range(32)))
    note_vkey = generate_key("witness.test/w1", seed=bytes(range(32)))[1]
    public_key = parse_verifier_key(note_vkey).public_key
    assert vkey == _vkey("witness.test/w1", 0x04, public_key) == cosigner_vkey(skey)
    assert vkey.split("+")[1] != note_vkey.split("+")[1]
    assert parse_cosigner_key(vkey) == ("witness.test/w1", bytes.fromhex(vkey.split("+")[1]), public_key)
    for bad in (note_vkey, vkey.replace(vkey.split("+")[1], "00000000"), "w+1234", "a b+00000000+BA==", 7):
        with pytest.raises(ProofError):
            parse_cosigner_key(bad)


@pytest.fixture(scope="module")
def log() -> tuple[str, str, str]:
    skey, vkey = generate_key("host.test/log", seed=b"L" * 32)
    tree = MerkleTree()
    tree.extend(b"leaf %d" % index for index in range(10))
    return skey, vkey, sign_note(format_checkpoint("host.test/log", 10, tree.root()), skey)


@pytest.fixture(scope="module")
def witnesses() -> list[tuple[str, str]]:
    return [generate_cosigner_key(f"witness.test/w{number}", seed=bytes([number]) * 32) for number in range(3)]


def _text(note: str) -> str:
    return note[: note.rfind("\n\n") + 1]


def test_quorum_counts_distinct_trusted_witnesses(log, witnesses) -> None:
    _, log_vkey, note = log
    vkeys = [vkey for _, vkey in witnesses]
    one = append_signatures(note, cosign_checkpoint(_text(note), witnesses[0][0], 1_700_000_000))
    twice = append_signatures(one, cosign_checkpoint(_text(note), witnesses[0][0], 1_700_000_001))
    two = append_signatures(one, cosign_checkpoint(_text(note), witnesses[1][0], 1_700_000_002))
    assert verify_cosigned_checkpoint(note, log_vkey, vkeys, 0).size == 10
    assert verify_cosigned_checkpoint(one, log_vkey, vkeys, 1).size == 10
    with pytest.raises(ProofError, match="from 1 trusted witnesses"):
        verify_cosigned_checkpoint(twice, log_vkey, vkeys, 2)
    assert verify_cosigned_checkpoint(two, log_vkey, vkeys, 2).size == 10
    with pytest.raises(ProofError, match="from 1 trusted"):  # witness 1 is not trusted here
        verify_cosigned_checkpoint(two, log_vkey, [vkeys[0], vkeys[2]], 2)


def test_one_key_under_two_names_is_one_witness(log, witnesses) -> None:
    _, log_vkey, note = log
    alias_skey, alias_vkey = generate_cosigner_key("witness.test/alias", seed=bytes([0]) * 32)
    both = append_signatures(append_signatures(note, cosign_checkpoint(_text(note), witnesses[0][0], 5)),
                             cosign_checkpoint(_text(note), alias_skey, 5))
    assert len(verify_cosignatures(both, [witnesses[0][1], alias_vkey])) == 2
    with pytest.raises(ProofError, match="distinct witness keys"):
        verify_cosigned_checkpoint(both, log_vkey, [witnesses[0][1], alias_vkey], 2)


def test_bad_cosignatures_and_bad_log_signatures_are_rejected(log, witnesses) -> None:
    log_skey, log_vkey, note = log
    vkeys = [vkey for _, vkey in witnesses]
    line = cosign_checkpoint(_text(note), witnesses[0][0], 1_700_000_000)
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[-1] ^= 1
    forged = append_signatures(note, line.split(" ")[0] + " " + line.split(" ")[1] + " "
                               + base64.b64encode(bytes(raw)).decode() + "\n")
    with pytest.raises(ProofError, match="invalid cosignature"):
        verify_cosigned_checkpoint(forged, log_vkey, vkeys, 1)
    other_log = sign_note(format_checkpoint("host.test/log", 11, bytes(32)), log_skey)
    moved = append_signatures(other_log, line)  # a cosignature of size 10 pasted onto size 11
    with pytest.raises(ProofError, match="invalid cosignature"):
        verify_cosigned_checkpoint(moved, log_vkey, vkeys, 1)
    unsigned = _text(note) + "\n" + line
    with pytest.raises(ProofError, match="no signature from a known key"):
        verify_cosigned_checkpoint(unsigned, log_vkey, vkeys, 1)
    with pytest.raises(ProofError, match="is not 'elsewhere'"):
        verify_cosigned_checkpoint(append_signatures(note, line), log_vkey, vkeys, 1, origin="elsewhere")
    huge = raw[:4] + (COSIGNATURE_TIMESTAMP_MAX + 1).to_bytes(8, "big") + raw[12:]
    with pytest.raises(ProofError, match="2\\^63"):
        verify_cosignatures(append_signatures(note, f"— witness.test/w0 {base64.b64encode(bytes(huge)).decode()}\n"),
                            vkeys)


def test_unknown_cosigners_are_ignored_and_quorum_arguments_checked(log, witnesses) -> None:
    _, log_vkey, note = log
    stranger, _ = generate_cosigner_key("witness.test/w1", seed=b"S" * 32)  # a known name, another key
    with_stranger = append_signatures(note, cosign_checkpoint(_text(note), stranger, 9))
    assert verify_cosignatures(with_stranger, [witnesses[1][1]]) == ()
    for quorum in (-1, 4, 1.0, True):
        with pytest.raises(ProofError):
            verify_cosigned_checkpoint(note, log_vkey, [vkey for _, vkey in witnesses], quorum)
    with pytest.raises(ProofError):
        verify_cosigned_checkpoint(note, log_vkey, witnesses[0][1], 0)  # one str, not a list


def test_extension_lines_are_cosigned(witnesses) -> None:
    text = format_checkpoint("host.test/log", 1, bytes(32), ["ext one"])
    line = cosign_checkpoint(text, witnesses[0][0], 3)
    assert verify_cosignatures(text + "\n" + line, [witnesses[0][1]])[0].timestamp_s == 3
    with pytest.raises(ProofError):
        verify_cosignatures(text.replace("ext one", "ext two") + "\n" + line, [witnesses[0][1]])


def test_cosigning_needs_a_checkpoint_and_a_positive_timestamp(witnesses) -> None:
    skey = witnesses[0][0]
    for text, timestamp_s in ((SOFA, 0), (SOFA, -1), (SOFA, 2**63), ("not a checkpoint\n", 1), (SOFA[:-1], 1)):
        with pytest.raises(FormatError):
            cosign_checkpoint(text, skey, timestamp_s)


def test_append_and_select_signature_lines(log, witnesses) -> None:
    _, log_vkey, note = log
    line = cosign_checkpoint(_text(note), witnesses[0][0], 7)
    combined = append_signatures(note, line)
    assert select_signatures(combined, [witnesses[0][1]]) == (line,)
    assert select_signatures(combined, [log_vkey]) == (note[note.rfind("\n\n") + 2 :],)
    for bad_note, bad_lines in ((note, "— x\n"), (note, line[:-1]), (_text(note), line), (note, "hello\n")):
        with pytest.raises(FormatError):
            append_signatures(bad_note, bad_lines)
