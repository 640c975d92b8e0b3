"""Money without range limits: whole units beside nanos in every column that balances,
limits and totals grow in; exact text for statement and invoice totals in minor units.

A pair's value is ``units × 10^9 + nanos``. Existing small tables are normalized
(``|nanos| < 10^9``); existing ledger postings keep their amount in ``nanos`` with units 0,
which the same formula reads (rewriting a large ledger would buy nothing). On SQLite, a
CHECK on each units column that SQL adds to turns an overflow (which SQLite would turn into
a float) into an error.

Revision ID: 0009
"""

from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BILLION = 1_000_000_000
# table -> the money columns (name "" is the pair units/nanos) and whether each is nullable
_PAIRS = {
    "ledger_postings": (("", False),),
    "account_balances": (("", False),),
    "budgets": (("limit", False),),
    "budget_windows": (("spent", False), ("reserved", False)),
    "customers": (("credit_limit", True),),
    "plans": (("fee", False), ("minimum", False)),
}
_NORMALIZED = ("account_balances", "budgets", "budget_windows", "customers", "plans")
# Tables whose units SQL adds to: guarded on SQLite.
_ADDED_IN_SQL = {"account_balances": ("units",), "budget_windows": ("spent_units", "reserved_units")}
_EXACT_TEXT = (("statements", "share_total_minor"), ("invoices", "total_minor"), ("audited_statements", "share_total_minor"))


def _names(name: str) -> tuple[str, str]:
    return (f"{name}_units", f"{name}_nanos") if name else ("units", "nanos")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, pairs in _PAIRS.items():
        for name, nullable in pairs:
            units, _ = _names(name)
            op.add_column(table, sa.Column(units, sa.BigInteger, nullable=nullable,
                                           server_default=None if nullable else "0"))
    for table in _NORMALIZED:
        for name, _ in _PAIRS[table]:
            units, nanos = _names(name)
            op.execute(f"UPDATE {table} SET {units} = {nanos} / {_BILLION}, {nanos} = {nanos} % {_BILLION} "
                       f"WHERE {nanos} IS NOT NULL")
    for table, column in _EXACT_TEXT:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.String(64), existing_nullable=False,
                               postgresql_using=f"{column}::text")
    if sqlite:
        for table, columns in _ADDED_IN_SQL.items():
            with op.batch_alter_table(table) as batch:
                for column in columns:
                    batch.create_check_constraint(f"ck_{table}_{column}_integer", sa.text(f"typeof({column}) = 'integer'"))
