"""What a host signs but cannot be read is a failed check with evidence, never a crash."""

from __future__ import annotations

from pathlib import Path

from revstream.audit import verify_statement
from revstream.transparency import generate_key, sign_note


class NoHost:
    """The checks that fail here come before any request to the host."""

    def __getattr__(self, name: str):
        raise AssertionError(f"the host was asked for {name}")


def _verify(text: str, tmp_path: Path):
    skey, vkey = generate_key("example.com/log")
    return verify_statement(sign_note(text, skey), vkey, NoHost(), tmp_path)


def test_a_signed_statement_without_its_fields_fails_with_evidence(tmp_path) -> None:
    report = _verify("revstream statement v1\n{}\n", tmp_path)
    assert not report.ok and report.checks[-1].name == "statement signature"
    assert "malformed evidence" in report.checks[-1].detail
    assert (Path(report.evidence) / "statement.note").exists()


def test_a_signed_note_that_is_not_a_statement_fails(tmp_path) -> None:
    report = _verify("example.com/log\n3\nAAAA\n", tmp_path)
    assert not report.ok and "not a note signed by this verifier key" in report.reason


def test_a_statement_signed_by_another_key_fails(tmp_path) -> None:
    skey, _ = generate_key("example.com/log")
    _, other_vkey = generate_key("example.com/log")
    report = verify_statement(sign_note("revstream statement v1\n{}\n", skey), other_vkey, NoHost(), tmp_path)
    assert not report.ok and "no signature from a known key" in report.reason
