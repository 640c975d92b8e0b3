"""The published form of an agreement's terms and of a statement: JSON objects, a
statement stored and signed as its RFC 8785 canonical bytes. Pure.

``statement_json`` builds a statement's JSON from a computed ``Statement``;
``checked_statement`` reads stored bytes back into a ``Statement`` and re-checks every
invariant, wherever a statement is read (the host's store and the licensor's verifier run
this same code). Integers beyond the exact range of a double are decimal strings
(``revstream.money.json_int``), so the canonical form holds amounts of any size.
"""

from __future__ import annotations

from datetime import date
from typing import Final

import orjson

from revstream.money import MoneyError, json_safe, parse_json_int
from revstream.settlement._compute import UsageLine
from revstream.settlement._errors import StatementError
from revstream.settlement._statement import AdjustmentLine, BracketLine, Statement, StatementLine, validate_statement
from revstream.settlement._terms import Agreement
from revstream.transparency import canonical_json

STATEMENT_FORMAT: Final = 2
"""Statements carry ``"format": 2`` since fees are proven by the log's ``fee`` leaves
instead of being declared; a statement without ``format`` is of the first form."""
STATEMENT_NOTE_HEADER: Final = "revstream statement v1"
"""First line of a signed statement's note text; the second is the statement's canonical JSON."""

_LINE_FIELDS = ("model", "stream", "requests", "tokens_prompt", "tokens_completion", "gross_nanos", "net_nanos",
                "rate", "share_nanos")
_BRACKET_FIELDS = ("lower_nanos", "upper_nanos", "bps", "net_nanos", "share_nanos")
_ADJUSTMENT_FIELDS = ("period", "description", "model", "stream", "requests", "tokens_prompt", "tokens_completion",
                      "gross_nanos", "net_nanos", "share_nanos")
_TOTAL_FIELDS = ("gross_total_nanos", "net_total_nanos", "share_total_nanos", "host_net_nanos",
                 "carry_in_residue_nanos", "share_total_minor", "residue_nanos")
_TEXT_FIELDS = frozenset({"model", "stream", "rate", "period", "description"})


def statement_id_of(agreement_id: str, period: str) -> str:
    """Deterministic: settling a period again names its statements the same."""
    return f"stm_{agreement_id.removeprefix('agr_')}_{period.replace('-', '')}"


# --- agreement terms ----------------------------------------------------------------------

def agreement_terms(agreement: Agreement) -> dict:
    """The JSON terms of an agreement (amounts in nanos, dates as YYYY-MM-DD)."""
    return json_safe({
        "agreement": agreement.agreement_id, "licensor": agreement.licensor, "models": list(agreement.models),
        "currency": agreement.currency, "effective_from": agreement.effective_from.isoformat(),
        "effective_to": agreement.effective_to.isoformat() if agreement.effective_to else None,
        "share_bps": agreement.share_bps, "tiers": [list(tier) for tier in agreement.tiers],
        "royalty_nanos_per_mtok": agreement.royalty_nanos_per_mtok,
        "minimum_nanos": agreement.minimum_nanos, "cap_nanos": agreement.cap_nanos,
        "stream_share_bps": dict(agreement.stream_share_bps),
    })


def _optional_int(value: object, what: str) -> int | None:
    return None if value is None else parse_json_int(value, what)


def agreement_from_terms(terms: dict) -> Agreement:
    """The agreement JSON terms describe (KeyError, TypeError or ValueError if malformed)."""
    return Agreement(
        licensor=terms["licensor"], agreement_id=terms["agreement"], models=tuple(terms["models"]),
        currency=terms["currency"], effective_from=date.fromisoformat(terms["effective_from"]),
        effective_to=date.fromisoformat(terms["effective_to"]) if terms["effective_to"] else None,
        share_bps=terms["share_bps"],
        tiers=tuple((parse_json_int(tier[0], "tier threshold"), tier[1]) for tier in terms["tiers"]),
        royalty_nanos_per_mtok=_optional_int(terms["royalty_nanos_per_mtok"], "royalty"),
        minimum_nanos=_optional_int(terms["minimum_nanos"], "minimum"),
        cap_nanos=_optional_int(terms["cap_nanos"], "cap"), stream_share_bps=tuple(terms["stream_share_bps"].items()),
    )


# --- statements ---------------------------------------------------------------------------

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
        raise StatementError(f"usage line {line.model}/{line.stream} has a fractional gross {line.gross_exact}")
    return {"model": line.model, "stream": line.stream, "requests": line.requests,
            "tokens_prompt": line.tokens_prompt, "tokens_completion": line.tokens_completion,
            "gross_nanos": int(line.gross_exact)}


def usage_line_of_json(item: dict) -> UsageLine:
    """A usage line as `usage_line_json` published it."""
    return UsageLine(item["model"], item["stream"], *(parse_json_int(item[name], name) for name in (
        "requests", "tokens_prompt", "tokens_completion", "gross_nanos")))


def statement_json(stmt: Statement, terms: dict, usage: dict, evidence: dict | None = None) -> dict:
    """The statement as published; ``usage`` is the range of usage it covers, ``evidence``
    what a verifier needs to recompute it (the log range, prices, adjustment basis)."""
    minimum, cap = terms["minimum_nanos"], terms["cap_nanos"]
    return json_safe({**(evidence or {}),
        "format": STATEMENT_FORMAT,
        "statement": statement_id_of(stmt.agreement_id, stmt.period),
        "period": stmt.period, "licensor": stmt.licensor, "agreement": stmt.agreement_id, "currency": stmt.currency,
        "terms": terms,
        "usage": usage,
        "lines": [{name: getattr(line, name) for name in _LINE_FIELDS} for line in stmt.lines],
        "bracket_lines": [{name: getattr(line, name) for name in _BRACKET_FIELDS} for line in stmt.bracket_lines],
        "minimum": None if minimum is None else {
            "description": "minimum guarantee top-up", "minimum_nanos": minimum, "share_nanos": stmt.minimum_top_up_nanos},
        "cap": None if cap is None else {
            "description": "cap reduction", "cap_nanos": cap, "share_nanos": -stmt.cap_reduction_nanos},
        "adjustment_lines": [{name: getattr(line, name) for name in _ADJUSTMENT_FIELDS} for line in stmt.adjustment_lines],
        **{name: getattr(stmt, name) for name in _TOTAL_FIELDS},
    })


def statement_bytes(value: dict) -> bytes:
    return canonical_json(value)


def _fields(item: dict, names: tuple[str, ...]) -> dict:
    """The named fields of a published line, integers read exactly."""
    return {name: item[name] if name in _TEXT_FIELDS or item[name] is None else parse_json_int(item[name], name)
            for name in names}


def statement_from_json(value: dict) -> Statement:
    """The ``Statement`` a published statement describes (StatementError if malformed)."""
    try:
        return Statement(
            value["agreement"], value["licensor"], value["currency"], value["period"],
            tuple(StatementLine(**_fields(line, _LINE_FIELDS)) for line in value["lines"]),
            tuple(BracketLine(**_fields(line, _BRACKET_FIELDS)) for line in value["bracket_lines"]),
            tuple(AdjustmentLine(**_fields(line, _ADJUSTMENT_FIELDS)) for line in value["adjustment_lines"]),
            parse_json_int(value["minimum"]["share_nanos"], "minimum") if value["minimum"] else 0,
            -parse_json_int(value["cap"]["share_nanos"], "cap") if value["cap"] else 0,
            *(parse_json_int(value[name], name) for name in _TOTAL_FIELDS),
        )
    except (KeyError, TypeError, MoneyError) as error:
        name = value.get("statement") if isinstance(value, dict) else "?"
        raise StatementError(f"statement {name} is malformed: {error!r}") from error


def checked_statement(body: bytes, share_total_minor: int | None = None, residue_nanos: int | None = None) -> tuple[dict, Statement]:
    """Parse stored bytes and re-check every invariant: canonical form, lines adding up to
    the totals, and (when given) the stored totals matching the body."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise StatementError(f"a statement is not JSON: {error}") from None
    name = value.get("statement", "?") if isinstance(value, dict) else "?"
    if not isinstance(value, dict) or canonical_json(value) != body:
        raise StatementError(f"statement {name} is not stored in canonical form")
    stmt = statement_from_json(value)
    errors = validate_statement(stmt)
    if errors:
        raise StatementError(f"statement {name} does not add up: {errors}")
    if share_total_minor is not None and (stmt.share_total_minor, stmt.residue_nanos) != (share_total_minor, residue_nanos):
        raise StatementError(f"statement {name}: stored totals differ from its body")
    return value, stmt
