"""The published form of a statement: a JSON object, stored as its RFC 8785 canonical bytes.

``statement_json`` builds it from a computed ``Statement``; ``statement_from_json`` reads
it back into a ``Statement`` so its invariants are re-checked (``validate_statement``)
wherever a stored statement is read.
"""

from __future__ import annotations

import orjson

from ..settlement import AdjustmentLine, BracketLine, Statement, StatementLine, UsageLine, validate_statement
from ..transparency import canonical_json
from ._errors import StoreError

_LINE_FIELDS = ("model", "stream", "requests", "tokens_prompt", "tokens_completion", "gross_nanos", "net_nanos",
                "rate", "share_nanos")
_BRACKET_FIELDS = ("lower_nanos", "upper_nanos", "bps", "net_nanos", "share_nanos")
_ADJUSTMENT_FIELDS = ("period", "description", "model", "stream", "requests", "tokens_prompt", "tokens_completion",
                      "gross_nanos", "net_nanos", "share_nanos")
_TOTAL_FIELDS = ("gross_total_nanos", "net_total_nanos", "share_total_nanos", "host_net_nanos",
                 "carry_in_residue_nanos", "share_total_minor", "residue_nanos")


def statement_id_of(agreement_id: str, period: str) -> str:
    """Deterministic: settling a period again names its statements the same."""
    return f"stm_{agreement_id.removeprefix('agr_')}_{period.replace('-', '')}"


STATEMENT_NOTE_HEADER = "revstream statement v1"
"""First line of a signed statement's note text; the second is the statement's canonical JSON."""


def statement_note_text(body: bytes) -> str:
    """The text a statement's signed note signs: a header line, then the canonical JSON."""
    return f"{STATEMENT_NOTE_HEADER}\n{body.decode('utf-8')}\n"


def statement_body_of_note_text(text: str) -> bytes:
    """The canonical JSON a verified statement note carries (ValueError if it is not one)."""
    header, _, rest = text.partition("\n")
    if header != STATEMENT_NOTE_HEADER or not rest.endswith("\n") or "\n" in rest[:-1]:
        raise ValueError(f"not a revstream statement: the note must be '{STATEMENT_NOTE_HEADER}' and one JSON line")
    return rest[:-1].encode("utf-8")


def usage_line_json(line: UsageLine) -> dict:
    """A settled usage line (whole nanos of gross) as statements publish it."""
    if line.gross_exact.denominator != 1:
        raise StoreError(f"usage line {line.model}/{line.stream} has a fractional gross {line.gross_exact}")
    return {"model": line.model, "stream": line.stream, "requests": line.requests,
            "tokens_prompt": line.tokens_prompt, "tokens_completion": line.tokens_completion,
            "gross_nanos": int(line.gross_exact)}


def statement_json(stmt: Statement, terms: dict, usage: dict, evidence: dict | None = None) -> dict:
    """The statement as published; ``usage`` is the range of usage it covers, ``evidence``
    what a verifier needs to recompute it (the log range, prices, adjustment basis)."""
    return {**(evidence or {}),
        "statement": statement_id_of(stmt.agreement_id, stmt.period),
        "period": stmt.period, "licensor": stmt.licensor, "agreement": stmt.agreement_id, "currency": stmt.currency,
        "terms": terms,
        "usage": usage,
        "lines": [{name: getattr(line, name) for name in _LINE_FIELDS} for line in stmt.lines],
        "bracket_lines": [{name: getattr(line, name) for name in _BRACKET_FIELDS} for line in stmt.bracket_lines],
        "minimum": None if terms["minimum_nanos"] is None else {
            "description": "minimum guarantee top-up", "minimum_nanos": terms["minimum_nanos"],
            "share_nanos": stmt.minimum_top_up_nanos},
        "cap": None if terms["cap_nanos"] is None else {
            "description": "cap reduction", "cap_nanos": terms["cap_nanos"], "share_nanos": -stmt.cap_reduction_nanos},
        "adjustment_lines": [{name: getattr(line, name) for name in _ADJUSTMENT_FIELDS} for line in stmt.adjustment_lines],
        **{name: getattr(stmt, name) for name in _TOTAL_FIELDS},
    }


def statement_bytes(value: dict) -> bytes:
    return canonical_json(value)


def statement_from_json(value: dict) -> Statement:
    """The ``Statement`` a published statement describes (raises StoreError if malformed)."""
    try:
        return Statement(
            value["agreement"], value["licensor"], value["currency"], value["period"],
            tuple(StatementLine(**{name: line[name] for name in _LINE_FIELDS}) for line in value["lines"]),
            tuple(BracketLine(**{name: line[name] for name in _BRACKET_FIELDS}) for line in value["bracket_lines"]),
            tuple(AdjustmentLine(**{name: line[name] for name in _ADJUSTMENT_FIELDS})
                  for line in value["adjustment_lines"]),
            value["minimum"]["share_nanos"] if value["minimum"] else 0,
            -value["cap"]["share_nanos"] if value["cap"] else 0,
            *(value[name] for name in _TOTAL_FIELDS),
        )
    except (KeyError, TypeError) as error:
        raise StoreError(f"statement {value.get('statement') if isinstance(value, dict) else '?'} is malformed: {error!r}") from error


def checked_statement(body: bytes, share_total_minor: int, residue_nanos: int) -> tuple[dict, Statement]:
    """Parse stored bytes and re-check every invariant: canonical form, lines adding up to
    the totals, and the columns matching the body."""
    value = orjson.loads(body)
    name = value.get("statement", "?") if isinstance(value, dict) else "?"
    if canonical_json(value) != body:
        raise StoreError(f"statement {name} is not stored in canonical form")
    stmt = statement_from_json(value)
    errors = validate_statement(stmt)
    if errors:
        raise StoreError(f"statement {name} does not add up: {errors}")
    if (stmt.share_total_minor, stmt.residue_nanos) != (share_total_minor, residue_nanos):
        raise StoreError(f"statement {name}: stored totals differ from its body")
    return value, stmt
