"""Plans: what a customer buys. Pure, immutable values.

Four kinds, each in one currency:

* ``payg``: pay as you go at the model prices (prepaid credit or postpaid limit, as the
  customer's billing mode says); usage belongs to the ``api`` stream.
* ``subscription``: ``fee_nanos`` per month with ``tokens_included`` per month; past them
  either ``overage_nanos_per_mtok`` per million tokens (prompt and completion alike) or,
  when it is None, a hard stop. Optional rate limits and a model list. Stream ``subscription``.
* ``free``: ``tokens_per_day`` with no fee, only the plan's ``models``. Its usage belongs to
  the ``ads`` stream (the ad-supported tier: advertisers, not the customer, pay for it).
* ``commit``: a monthly ``minimum_nanos`` spend with ``discount_bps`` off the model prices;
  usage belongs to the ``api`` stream.

A plan never changes once created (new terms are a new plan), so a usage record that names
its plan is rated the same today and at any later settlement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from revstream.money import MoneyError, parse_amount, validate_currency
from revstream.plans._errors import PlanValueError
from revstream.pricing import PricingError, parse_price

KIND_PAYG: Final = "payg"
KIND_SUBSCRIPTION: Final = "subscription"
KIND_FREE: Final = "free"
KIND_COMMIT: Final = "commit"
PLAN_KINDS: Final = (KIND_PAYG, KIND_SUBSCRIPTION, KIND_FREE, KIND_COMMIT)
BPS_PER_UNIT: Final = 10_000
# The settlement stream each kind's usage and fees belong to: a registry, so the later
# streams (ads revenue, messaging) plug in here instead of in ifs.
STREAM_OF_KIND: Final = MappingProxyType({
    KIND_PAYG: "api", KIND_COMMIT: "api", KIND_SUBSCRIPTION: "subscription", KIND_FREE: "ads",
})
plan_models_max: Final = 256
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", re.ASCII)


@dataclass(frozen=True, slots=True)
class Plan:
    """A plan's terms; amounts are nanos of ``currency``. ``models`` empty = every model."""

    name: str
    kind: str
    currency: str
    fee_nanos: int = 0
    tokens_included: int = 0
    overage_nanos_per_mtok: int | None = None
    tokens_per_day: int = 0
    models: tuple[str, ...] = ()
    minimum_nanos: int = 0
    discount_bps: int = 0
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    plan_id: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.models, list):
            object.__setattr__(self, "models", tuple(self.models))
        errors = validate_plan(self)
        if errors:
            raise errors[0]

    @property
    def stream(self) -> str:
        return STREAM_OF_KIND[self.kind]

    @property
    def hard_stop(self) -> bool:
        """Whether a request past the included tokens is refused instead of charged."""
        return self.kind == KIND_FREE or (self.kind == KIND_SUBSCRIPTION and self.overage_nanos_per_mtok is None)

    def allows(self, model: str) -> bool:
        return not self.models or model in self.models


def _int_at_least(value: object, minimum: int) -> bool:
    return type(value) is int and value >= minimum


def validate_plan(plan: Plan) -> list[PlanValueError]:
    """Every rule the plan breaks (empty when valid)."""
    errors: list[PlanValueError] = []
    if not isinstance(plan.name, str) or _NAME.fullmatch(plan.name) is None:
        errors.append(PlanValueError(f"name: 1-64 letters, digits, '_', '.', '-', got {plan.name!r}"))
    if plan.kind not in PLAN_KINDS:
        errors.append(PlanValueError(f"kind: one of {', '.join(PLAN_KINDS)}, got {plan.kind!r}"))
        return errors
    try:
        validate_currency(plan.currency)
    except MoneyError as error:
        errors.append(PlanValueError(f"currency: {error}"))
    for field in ("fee_nanos", "tokens_included", "tokens_per_day", "minimum_nanos", "discount_bps"):
        if not _int_at_least(getattr(plan, field), 0):
            errors.append(PlanValueError(f"{field}: a non-negative int, got {getattr(plan, field)!r}"))
    for field in ("overage_nanos_per_mtok", "requests_per_minute", "tokens_per_minute"):
        value = getattr(plan, field)
        if value is not None and not _int_at_least(value, 0 if field.startswith("overage") else 1):
            errors.append(PlanValueError(f"{field}: a positive int or None, got {value!r}"))
    if not isinstance(plan.models, tuple) or len(plan.models) > plan_models_max or not all(
            isinstance(m, str) and m for m in plan.models) or len(set(plan.models)) != len(plan.models):
        errors.append(PlanValueError(f"models: at most {plan_models_max} distinct model names"))
    if _int_at_least(plan.discount_bps, 0) and plan.discount_bps > BPS_PER_UNIT:
        errors.append(PlanValueError(f"discount_bps: at most {BPS_PER_UNIT}"))
    errors.extend(_kind_rules(plan))
    return errors


# Which terms each kind may set; anything else must stay at its default.
_TERMS_OF_KIND: Final = MappingProxyType({
    KIND_PAYG: frozenset({"models"}),
    KIND_SUBSCRIPTION: frozenset({"fee_nanos", "tokens_included", "overage_nanos_per_mtok", "models",
                                  "requests_per_minute", "tokens_per_minute"}),
    KIND_FREE: frozenset({"tokens_per_day", "models", "requests_per_minute", "tokens_per_minute"}),
    KIND_COMMIT: frozenset({"minimum_nanos", "discount_bps", "models"}),
})
_DEFAULTS: Final = MappingProxyType({
    "fee_nanos": 0, "tokens_included": 0, "overage_nanos_per_mtok": None, "tokens_per_day": 0,
    "minimum_nanos": 0, "discount_bps": 0, "requests_per_minute": None, "tokens_per_minute": None, "models": (),
})


def _kind_rules(plan: Plan) -> list[PlanValueError]:
    allowed = _TERMS_OF_KIND[plan.kind]
    errors = [
        PlanValueError(f"{field}: does not apply to a {plan.kind} plan")
        for field, default in _DEFAULTS.items() if field not in allowed and getattr(plan, field) != default
    ]
    if plan.kind == KIND_FREE and (not plan.models or not plan.tokens_per_day):
        errors.append(PlanValueError("a free plan needs tokens_per_day and its models"))
    return errors


def _amount(text: str | None, currency: str, what: str) -> int:
    if text is None:
        return 0
    try:
        return parse_amount(text, currency)
    except MoneyError as error:
        raise PlanValueError(f"{what}: {error}") from error


def draft_plan(
    *, name: str, kind: str, currency: str = "USD", fee: str | None = None, tokens_included: int = 0,
    overage_per_mtok: str | None = None, tokens_per_day: int = 0, models: tuple[str, ...] = (),
    minimum: str | None = None, discount_bps: int = 0, requests_per_minute: int | None = None,
    tokens_per_minute: int | None = None,
) -> Plan:
    """A plan from decimal strings in currency units (the CLI's flags, the config's tables)."""
    try:
        overage = parse_price(overage_per_mtok) if overage_per_mtok is not None else None
    except PricingError as error:
        raise PlanValueError(f"overage: {error}") from error
    return Plan(
        name=name, kind=kind, currency=currency, fee_nanos=_amount(fee, currency, "fee"),
        tokens_included=tokens_included, overage_nanos_per_mtok=overage, tokens_per_day=tokens_per_day,
        models=tuple(models), minimum_nanos=_amount(minimum, currency, "minimum"), discount_bps=discount_bps,
        requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute,
    )
