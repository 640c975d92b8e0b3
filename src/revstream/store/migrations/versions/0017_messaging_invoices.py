"""Messaging fees on invoices (issue 14): each charged outbound message remembers the invoice
that billed it (`msg_messages.invoice_number`), as usage records do, so a fee is invoiced
exactly once, and a delivery reported after its month was invoiced comes on the next invoice.
One nullable column and its index: nothing is rewritten.

Revision ID: 0017
"""

from alembic import op
import sqlalchemy as sa

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("msg_messages", sa.Column("invoice_number", sa.BigInteger, nullable=True))
    op.create_index("ix_msg_messages_invoice", "msg_messages", ["customer_id", "invoice_number"])


def downgrade() -> None:
    op.drop_index("ix_msg_messages_invoice", "msg_messages")
    op.drop_column("msg_messages", "invoice_number")
