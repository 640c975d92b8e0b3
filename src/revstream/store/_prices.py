"""Prices per model, effective from a time; read into an immutable PriceSchedule."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, func, select

from ..periods import datetime_of_us
from ..pricing import ModelPrice, PriceSchedule
from ._schema import prices
from ._sql import insert_ignore
from ._engine import writing


def _price(row) -> ModelPrice:
    start = datetime_of_us(row.effective_from_us)
    return ModelPrice(row.model, row.currency, row.input_nanos_per_mtok, row.output_nanos_per_mtok, start)


def _row(price: ModelPrice, now_us: int) -> dict:
    return {
        "model": price.model, "effective_from_us": price.effective_from_us,
        "currency": price.currency, "input_nanos_per_mtok": price.input_nanos_per_mtok,
        "output_nanos_per_mtok": price.output_nanos_per_mtok, "created_us": now_us,
    }


def load_prices(connection: Connection) -> PriceSchedule:
    rows = connection.execute(select(prices).order_by(prices.c.model, prices.c.effective_from_us))
    return PriceSchedule(tuple(_price(row) for row in rows))


# Built once: the usage writer asks it every batch, and building the expression cost
# several times what running it does.
_VERSION = select(func.count(), func.max(prices.c.created_us)).select_from(prices)


def prices_version(connection: Connection) -> tuple[int, int]:
    """Changes whenever a price is added or replaced: (count, latest created_us)."""
    count, latest = connection.execute(_VERSION).one()
    return int(count or 0), int(latest or 0)


def set_price(engine: Engine, price: ModelPrice, now_us: int) -> None:
    """Add a price, or replace the one with the same model and start."""
    row = _row(price, now_us)
    with writing(engine) as connection:
        connection.execute(
            prices.delete().where(prices.c.model == row["model"], prices.c.effective_from_us == row["effective_from_us"])
        )
        connection.execute(prices.insert().values(**row))


def ensure_prices(engine: Engine, declared: tuple[ModelPrice, ...], now_us: int) -> int:
    """Insert prices declared in the config file unless one with the same model and start exists."""
    with writing(engine) as connection:
        return insert_ignore(connection, prices, [_row(p, now_us) for p in declared], ("model", "effective_from_us"))


def list_prices(engine: Engine) -> PriceSchedule:
    with engine.connect() as connection:
        return load_prices(connection)
