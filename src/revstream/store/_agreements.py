"""Licensors, the licensor of each model, and revenue-share agreements.

An agreement's terms are stored as the canonical JSON (RFC 8785) of its ``Agreement``
fields, so a statement can carry them verbatim and a verifier can rebuild them. Rules
kept here because they protect stored data, not business policy:

- every model of an agreement belongs to the agreement's licensor (``models set``);
- two agreements never cover the same model on the same day (a share is owed once);
- an agreement cannot start inside a period already settled (that period's statements
  are final; its usage was settled without it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

import orjson
from sqlalchemy import Connection, Engine, insert, select, update

from ..keys import new_id
from ..settlement import Agreement, agreement_from_terms, agreement_terms, parse_period
from ..transparency import canonical_json
from ._errors import Conflict, NotFound
from ._schema import agreements, licensors, model_licensors, period_closes
from ._engine import writing

licensor_name_chars_max: Final = 200


@dataclass(frozen=True, slots=True)
class LicensorRow:
    licensor_id: str
    name: str
    created_us: int
    models: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AgreementRow:
    agreement: Agreement
    licensor_id: str
    created_us: int


def _licensor_id(connection: Connection, name: str) -> str:
    licensor_id = connection.execute(select(licensors.c.licensor_id).where(licensors.c.name == name)).scalar()
    if licensor_id is None:
        raise NotFound(f"no licensor named {name!r} (add it with `revstream licensors add`)")
    return licensor_id


def add_licensor(engine: Engine, name: str, now_us: int) -> LicensorRow:
    if not isinstance(name, str) or not name.strip() or len(name) > licensor_name_chars_max:
        raise ValueError(f"a licensor name is 1..{licensor_name_chars_max} characters")
    with writing(engine) as connection:
        if connection.execute(select(licensors.c.licensor_id).where(licensors.c.name == name)).scalar():
            raise Conflict(f"licensor {name!r} exists already")
        licensor_id = new_id("lic")
        connection.execute(insert(licensors).values(licensor_id=licensor_id, name=name, created_us=now_us))
    return LicensorRow(licensor_id, name, now_us, ())


def list_licensors(engine: Engine) -> list[LicensorRow]:
    with engine.connect() as connection:
        models: dict[str, list[str]] = {}
        for row in connection.execute(select(model_licensors).order_by(model_licensors.c.model)):
            models.setdefault(row.licensor_id, []).append(row.model)
        return [
            LicensorRow(row.licensor_id, row.name, row.created_us, tuple(models.get(row.licensor_id, ())))
            for row in connection.execute(select(licensors).order_by(licensors.c.name))
        ]


def set_model_licensor(engine: Engine, model: str, licensor: str, now_us: int) -> str:
    """Make ``licensor`` the licensor of ``model``; refused while another licensor's
    agreement names the model. Returns the licensor id."""
    if not isinstance(model, str) or not model or len(model) > 200:
        raise ValueError("a model name is 1..200 characters")
    with writing(engine) as connection:
        licensor_id = _licensor_id(connection, licensor)
        for row in _agreement_rows(connection):
            if model in row.agreement.models and row.licensor_id != licensor_id:
                raise Conflict(f"model {model!r} is under agreement {row.agreement.agreement_id} of licensor {row.agreement.licensor!r}")
        current = connection.execute(select(model_licensors.c.licensor_id).where(model_licensors.c.model == model)).scalar()
        if current is None:
            connection.execute(insert(model_licensors).values(model=model, licensor_id=licensor_id, updated_us=now_us))
        elif current != licensor_id:
            connection.execute(update(model_licensors).where(model_licensors.c.model == model)
                               .values(licensor_id=licensor_id, updated_us=now_us))
    return licensor_id


def _agreement_rows(connection: Connection) -> list[AgreementRow]:
    rows = connection.execute(select(agreements).order_by(agreements.c.effective_from, agreements.c.agreement_id))
    return [AgreementRow(agreement_from_terms(orjson.loads(row.terms_json)), row.licensor_id, row.created_us) for row in rows]


def list_agreements(engine: Engine) -> list[AgreementRow]:
    with engine.connect() as connection:
        return _agreement_rows(connection)


def _overlaps(a: Agreement, b: Agreement) -> bool:
    a_end, b_end = a.effective_to or date.max, b.effective_to or date.max
    return a.effective_from <= b_end and b.effective_from <= a_end


def _latest_closed_period(connection: Connection) -> str | None:
    return connection.execute(select(period_closes.c.period).order_by(period_closes.c.period.desc()).limit(1)).scalar()


def add_agreement(engine: Engine, draft: Agreement, now_us: int) -> AgreementRow:
    """Store ``draft`` under a new id (its ``agreement_id`` is replaced)."""
    agreement_id = new_id("agr")
    with writing(engine) as connection:
        licensor_id = _licensor_id(connection, draft.licensor)
        owners = dict(connection.execute(
            select(model_licensors.c.model, model_licensors.c.licensor_id).where(model_licensors.c.model.in_(draft.models))
        ).all())
        strangers = [model for model in draft.models if owners.get(model) != licensor_id]
        if strangers:
            raise Conflict(f"models {strangers} do not belong to licensor {draft.licensor!r} "
                           "(set it with `revstream models set --model M --licensor L`)")
        closed = _latest_closed_period(connection)
        if closed is not None and draft.effective_from <= parse_period(closed)[1]:
            raise Conflict(f"period {closed} is settled: an agreement can start on "
                           f"{_next_day(closed)} at the earliest")
        agreement = Agreement(
            draft.licensor, agreement_id, draft.models, draft.currency, draft.effective_from, draft.effective_to,
            draft.share_bps, draft.tiers, draft.royalty_nanos_per_mtok, draft.minimum_nanos, draft.cap_nanos,
            draft.stream_share_bps,
        )
        for row in _agreement_rows(connection):
            shared = sorted(set(row.agreement.models) & set(agreement.models))
            if shared and _overlaps(row.agreement, agreement):
                raise Conflict(f"agreement {row.agreement.agreement_id} already covers {shared} on some of these dates")
        connection.execute(insert(agreements).values(
            agreement_id=agreement_id, licensor_id=licensor_id, currency=agreement.currency,
            effective_from=agreement.effective_from.isoformat(),
            effective_to=agreement.effective_to.isoformat() if agreement.effective_to else None,
            terms_json=canonical_json(agreement_terms(agreement)).decode(), created_us=now_us,
        ))
    return AgreementRow(agreement, licensor_id, now_us)


def _next_day(period: str) -> str:
    last = parse_period(period)[1]
    return date.fromordinal(last.toordinal() + 1).isoformat()
