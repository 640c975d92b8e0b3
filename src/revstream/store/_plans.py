"""Plans, subscriptions, customer countries and tax rates; the quota windows that live
plan enforcement reads and moves in the admitting transaction (see `_metering`).

Storage only: the rules (proration, quota decisions, validity) live in `revstream.plans`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, bindparam, insert, or_, select, update

from ..admission import plan_rate_limits as plan_rate_limits_of
from ..keys import new_id
from ..periods import US_PER_S, rfc3339
from ..plans import Plan, Segment, SubscriptionError, included_tokens, period_bounds_s, period_of_s, window_bounds_s
from ._accounts import _customer_row, _fix_currency
from ._amounts import amount_values, names, read_amount
from ._errors import Conflict, NotFound
from ._repo import ensure_customer
from ._schema import customers, invoices, period_closes, plan_windows, plans, subscriptions, tax_rates
from ._sql import insert_ignore
from ._engine import writing

_COUNTRY = re.compile(r"[A-Z]{2}", re.ASCII)
_TERMS = ("kind", "currency", "fee_nanos", "tokens_included", "overage_nanos_per_mtok", "tokens_per_day",
          "minimum_nanos", "discount_bps", "requests_per_minute", "tokens_per_minute")
# The plan's amounts (money columns, see `_amounts`) and its other terms as stored.
_AMOUNTS = ("fee", "minimum")
_PLAIN_TERMS = tuple(field for field in _TERMS if field.removesuffix("_nanos") not in _AMOUNTS)
_TERM_COLUMNS = (*_PLAIN_TERMS, *(column for name in _AMOUNTS for column in names(name)))


def plan_of(row) -> Plan:
    """A stored plan row (or a row joined with it) as a `Plan`."""
    return Plan(name=row.name, models=tuple(json.loads(row.models)), plan_id=row.plan_id,
                **{field: getattr(row, field) for field in _PLAIN_TERMS},
                **{f"{name}_nanos": read_amount(row, name) for name in _AMOUNTS})


def _plan_row(plan: Plan, plan_id: str, now_us: int) -> dict:
    row = {"plan_id": plan_id, "name": plan.name, "models": json.dumps(list(plan.models)), "created_us": now_us,
           **{field: getattr(plan, field) for field in _PLAIN_TERMS}}
    for name in _AMOUNTS:
        row.update(amount_values(name, getattr(plan, f"{name}_nanos")))
    return row


def _same_terms(a: Plan, b: Plan) -> bool:
    return a.models == b.models and all(getattr(a, f) == getattr(b, f) for f in _TERMS)


def add_plan(engine: Engine, plan: Plan, now_us: int) -> tuple[Plan, bool]:
    """Store a new plan; an identical one already stored is returned as is (added False).
    A plan never changes: other terms under a taken name are a Conflict."""
    with writing(engine) as connection:
        row = connection.execute(select(plans).where(plans.c.name == plan.name)).first()
        if row is not None:
            stored = plan_of(row)
            if not _same_terms(stored, plan):
                raise Conflict(f"plan {plan.name!r} exists with other terms; a plan never changes, add one under a new name")
            return stored, False
        plan_id = new_id("pln")
        connection.execute(insert(plans).values(**_plan_row(plan, plan_id, now_us)))
        return plan_of(connection.execute(select(plans).where(plans.c.plan_id == plan_id)).one()), True


def list_plans(engine: Engine) -> list[Plan]:
    with engine.connect() as connection:
        return [plan_of(row) for row in connection.execute(select(plans).order_by(plans.c.name))]


_PLANS_BY_ID = select(plans).where(plans.c.plan_id.in_(bindparam("ids", expanding=True)))  # built once: finalize asks it every batch


def plans_by_id(connection: Connection, plan_ids) -> dict[str, Plan]:
    ids = sorted(set(plan_ids))
    if not ids:
        return {}
    return {row.plan_id: plan_of(row) for row in connection.execute(_PLANS_BY_ID, {"ids": ids})}


# --- subscriptions -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    subscription_id: str
    customer: str
    plan: Plan
    started_us: int
    ended_us: int | None

    def segment(self) -> Segment:
        return Segment(self.plan, self.started_us // US_PER_S, None if self.ended_us is None else self.ended_us // US_PER_S)


_SUBSCRIPTIONS = (
    select(subscriptions.c.subscription_id, subscriptions.c.started_us, subscriptions.c.ended_us,
           subscriptions.c.customer_id, customers.c.name.label("customer"), plans.c.plan_id,
           plans.c.name, plans.c.models, *[plans.c[f] for f in _TERM_COLUMNS])
    .join(plans, plans.c.plan_id == subscriptions.c.plan_id)
    .join(customers, customers.c.customer_id == subscriptions.c.customer_id)
)


def _subscription(row) -> SubscriptionRow:
    return SubscriptionRow(row.subscription_id, row.customer, plan_of(row), row.started_us, row.ended_us)


def subscriptions_of(connection: Connection, customer_id: str, start_us: int | None = None, end_us: int | None = None) -> list[SubscriptionRow]:
    """A customer's subscriptions (overlapping [start_us, end_us) when given), in time order."""
    query = _SUBSCRIPTIONS.where(subscriptions.c.customer_id == customer_id).order_by(subscriptions.c.started_us)
    if end_us is not None:
        query = query.where(subscriptions.c.started_us < end_us)
    if start_us is not None:
        query = query.where(or_(subscriptions.c.ended_us.is_(None), subscriptions.c.ended_us > start_us))
    return [_subscription(row) for row in connection.execute(query)]


def list_subscriptions(engine: Engine, customer: str | None = None) -> list[SubscriptionRow]:
    query = _SUBSCRIPTIONS.order_by(customers.c.name, subscriptions.c.started_us)
    if customer is not None:
        query = query.where(customers.c.name == customer)
    with engine.connect() as connection:
        return [_subscription(row) for row in connection.execute(query)]


def _check_open_period(connection: Connection, customer_id: str, time_us: int) -> None:
    """A subscription may change only in a period neither settled nor invoiced yet."""
    period = period_of_s(time_us // US_PER_S)
    if connection.execute(select(period_closes.c.period).where(period_closes.c.period >= period).limit(1)).scalar():
        raise SubscriptionError(f"period {period} is already settled: a subscription cannot change inside it")
    if connection.execute(select(invoices.c.number).where(
            invoices.c.customer_id == customer_id, invoices.c.period >= period).limit(1)).scalar():
        raise SubscriptionError(f"the customer is already invoiced for {period} or later: change the subscription later on")


def subscribe(engine: Engine, customer: str, plan_name: str, from_us: int, now_us: int) -> SubscriptionRow:
    """Put `customer` on `plan_name` from `from_us` (floored to the second). A plan held at
    that moment ends there (a change of plan, prorated by the second on the invoice)."""
    from_us -= from_us % US_PER_S
    with writing(engine) as connection:
        ensure_customer(connection, customer, now_us)
        row = _customer_row(connection, customer, lock=True)
        plan_row = connection.execute(select(plans).where(plans.c.name == plan_name)).first()
        if plan_row is None:
            raise NotFound(f"no plan named {plan_name!r}")
        _fix_currency(connection, row, plan_row.currency)
        _check_open_period(connection, row.customer_id, from_us)
        later = connection.execute(select(subscriptions.c.subscription_id).where(
            subscriptions.c.customer_id == row.customer_id, subscriptions.c.started_us >= from_us)).first()
        if later is not None:
            raise SubscriptionError(f"{customer} already has a subscription starting at or after {rfc3339(from_us)}")
        connection.execute(update(subscriptions).where(
            subscriptions.c.customer_id == row.customer_id,
            or_(subscriptions.c.ended_us.is_(None), subscriptions.c.ended_us > from_us),
        ).values(ended_us=from_us))
        subscription_id = new_id("sub")
        connection.execute(insert(subscriptions).values(
            subscription_id=subscription_id, customer_id=row.customer_id, plan_id=plan_row.plan_id,
            started_us=from_us, ended_us=None, created_us=now_us))
        return subscriptions_of(connection, row.customer_id, from_us)[-1]


def cancel_subscription(engine: Engine, customer: str, at_period_end: bool, now_us: int) -> SubscriptionRow:
    """End the customer's current subscription now, or at the end of the current period."""
    now_us -= now_us % US_PER_S
    with writing(engine) as connection:
        row = _customer_row(connection, customer, lock=True)
        current = [s for s in subscriptions_of(connection, row.customer_id, now_us) if s.started_us <= now_us]
        if not current:
            raise NotFound(f"{customer} has no subscription to cancel")
        subscription = current[-1]
        end_us = period_bounds_s(period_of_s(now_us // US_PER_S))[1] * US_PER_S if at_period_end else now_us
        connection.execute(update(subscriptions).where(
            subscriptions.c.subscription_id == subscription.subscription_id).values(ended_us=end_us))
        return SubscriptionRow(subscription.subscription_id, customer, subscription.plan, subscription.started_us, end_us)


# --- countries and tax rates ----------------------------------------------------------

def _country(code: str) -> str:
    if not isinstance(code, str) or _COUNTRY.fullmatch(code.upper()) is None:
        raise SubscriptionError(f"a country is an ISO 3166 alpha-2 code such as DE, got {code!r}")
    return code.upper()


def set_country(engine: Engine, customer: str, country: str | None, now_us: int) -> None:
    with writing(engine) as connection:
        ensure_customer(connection, customer, now_us)
        connection.execute(update(customers).where(customers.c.name == customer)
                           .values(country=_country(country) if country else None))


def set_tax_rate(engine: Engine, country: str, rate_bps: int, now_us: int) -> None:
    if type(rate_bps) is not int or not 0 <= rate_bps <= 10_000:
        raise SubscriptionError(f"a tax rate is 0..10000 basis points, got {rate_bps!r}")
    code = _country(country)
    with writing(engine) as connection:
        if not insert_ignore(connection, tax_rates, [{"country": code, "rate_bps": rate_bps, "updated_us": now_us}], ("country",)):
            connection.execute(update(tax_rates).where(tax_rates.c.country == code).values(rate_bps=rate_bps, updated_us=now_us))


def list_tax_rates(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {row.country: row.rate_bps for row in connection.execute(select(tax_rates).order_by(tax_rates.c.country))}


def tax_rate_of(connection: Connection, country: str | None) -> int:
    if country is None:
        return 0
    return connection.execute(select(tax_rates.c.rate_bps).where(tax_rates.c.country == country)).scalar() or 0


# --- quota windows (live enforcement) -------------------------------------------------

# The batch's active subscriptions with their plans: the one extra read per admission batch.
_ACTIVE = select(
    subscriptions.c.subscription_id, subscriptions.c.started_us, subscriptions.c.ended_us, subscriptions.c.customer_id,
    subscriptions.c.customer_id.label("customer"), plans.c.plan_id, plans.c.name, plans.c.models,
    *[plans.c[f] for f in _TERM_COLUMNS],
).join(plans, plans.c.plan_id == subscriptions.c.plan_id).where(
    subscriptions.c.customer_id.in_(bindparam("ids", expanding=True)),
    subscriptions.c.started_us <= bindparam("now"),
    or_(subscriptions.c.ended_us.is_(None), subscriptions.c.ended_us > bindparam("now")),
)


def active_subscriptions(connection: Connection, customer_ids, now_us: int) -> dict[str, SubscriptionRow]:
    """customer_id → its subscription in force at `now_us` (customers without one are
    absent). Its `customer` is the customer id: admission needs no name."""
    if not customer_ids:
        return {}
    rows = connection.execute(_ACTIVE, {"ids": sorted(customer_ids), "now": now_us}).all()
    return {row.customer_id: _subscription(row) for row in rows}


def window_start_us(subscription: SubscriptionRow, time_us: int) -> int:
    return window_bounds_s(subscription.plan, time_us // US_PER_S)[0] * US_PER_S


def renewal_us(subscription: SubscriptionRow, time_us: int) -> int:
    return window_bounds_s(subscription.plan, time_us // US_PER_S)[1] * US_PER_S


def read_windows(connection: Connection, keys: list[tuple[str, int]]) -> dict[tuple[str, int], tuple[int, int]]:
    """(used, reserved) tokens of each (subscription_id, window_start_us), created empty if new."""
    if not keys:
        return {}
    insert_ignore(connection, plan_windows, [
        {"subscription_id": s, "window_start_us": w, "tokens_used": 0, "tokens_reserved": 0} for s, w in sorted(set(keys))
    ], ("subscription_id", "window_start_us"))
    rows = connection.execute(select(plan_windows).where(or_(*[
        and_(plan_windows.c.subscription_id == s, plan_windows.c.window_start_us == w) for s, w in sorted(set(keys))])))
    return {(r.subscription_id, r.window_start_us): (r.tokens_used, r.tokens_reserved) for r in rows}


def move_windows(connection: Connection, deltas: dict[tuple[str, int], tuple[int, int]]) -> None:
    """Add (reserved delta, used delta) tokens to each quota window."""
    if not deltas:
        return
    connection.execute(
        update(plan_windows)
        .where(plan_windows.c.subscription_id == bindparam("w_id"), plan_windows.c.window_start_us == bindparam("w_start"))
        .values(tokens_reserved=plan_windows.c.tokens_reserved + bindparam("w_reserved"),
                tokens_used=plan_windows.c.tokens_used + bindparam("w_used")),
        [{"w_id": s, "w_start": w, "w_reserved": r, "w_used": u} for (s, w), (r, u) in sorted(deltas.items())],
    )


def allowance(subscription: SubscriptionRow, window_start: int) -> int:
    return included_tokens(subscription.segment(), window_start // US_PER_S)


# --- what a customer sees -------------------------------------------------------------

def customer_plan(engine: Engine, customer_id: str, now_us: int) -> dict | None:
    """The customer's plan now: its terms, the current window, included tokens used and left."""
    with engine.connect() as connection:
        subscription = active_subscriptions(connection, [customer_id], now_us).get(customer_id)
        if subscription is None:
            return None
        start = window_start_us(subscription, now_us)
        row = connection.execute(select(plan_windows).where(
            plan_windows.c.subscription_id == subscription.subscription_id, plan_windows.c.window_start_us == start)).first()
    used, reserved = (row.tokens_used, row.tokens_reserved) if row else (0, 0)
    included = allowance(subscription, start)
    return {
        "plan": plan_json(subscription.plan), "subscription": subscription.subscription_id,
        "started": rfc3339(subscription.started_us), "ends": rfc3339(subscription.ended_us),
        "window_start": rfc3339(start), "renews": rfc3339(renewal_us(subscription, now_us)),
        "tokens_included": included, "tokens_used": used, "tokens_reserved": reserved,
        "tokens_remaining": max(0, included - used - reserved),
    }


def plan_json(plan: Plan) -> dict:
    return {"plan": plan.name, "plan_id": plan.plan_id, "kind": plan.kind, "stream": plan.stream,
            "models": list(plan.models), **{field: getattr(plan, field) for field in _TERMS}}


def period_subscriptions(connection: Connection, period: str, customer_id: str | None = None) -> dict[str, list[SubscriptionRow]]:
    """Every subscription overlapping `period`, by customer id."""
    start_s, end_s = period_bounds_s(period)
    query = _SUBSCRIPTIONS.where(
        subscriptions.c.started_us < end_s * US_PER_S,
        or_(subscriptions.c.ended_us.is_(None), subscriptions.c.ended_us > start_s * US_PER_S),
    ).order_by(subscriptions.c.customer_id, subscriptions.c.started_us)
    if customer_id is not None:
        query = query.where(subscriptions.c.customer_id == customer_id)
    by_customer: dict[str, list[SubscriptionRow]] = {}
    for row in connection.execute(query):
        by_customer.setdefault(row.customer_id, []).append(_subscription(row))
    return by_customer


def plan_rate_limits(engine: Engine, customer_id: str, now_us: int) -> tuple[int | None, int | None] | None:
    """(requests, tokens) per minute of the customer's plan in force, None without limits."""
    with engine.connect() as connection:
        subscription = active_subscriptions(connection, [customer_id], now_us).get(customer_id)
    return plan_rate_limits_of(subscription.plan if subscription is not None else None)
