"""Schema for #9 service desk back office: indexes for the search as you type.

Prefix searches over customer number, folded name, postal code, e-mail, contract number and
the portal accounts' e-mail/user name keys must be answered by indexes (1 million records).
PostgreSQL answers ``LIKE 'prefix%'`` from ``text_pattern_ops`` indexes (independent of the
database collation); SQLite compares text bytewise and answers range scans from plain indexes.
On SQLite the columns' existing unique/plain indexes serve those range scans, so the pattern
copies are created on PostgreSQL only (the models say so with ``ddl_if``).

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: (index, table, column) answered by text_pattern_ops on PostgreSQL. On SQLite the existing
#: unique/plain index of the column serves the range scan, so only PostgreSQL gets these.
PATTERN_INDEXES = (
    ("ix_customer_number_pattern", "customer", "number"),
    ("ix_customer_search_name_pattern", "customer", "search_name"),
    ("ix_contract_number_pattern", "contract", "number"),
    ("ix_account_email_key_pattern", "account", "email_key"),
    ("ix_account_username_key_pattern", "account", "username_key"),
)


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        for name, table, column in PATTERN_INDEXES:
            op.create_index(name, table, [column], postgresql_ops={column: "text_pattern_ops"})
    # the postal code has no other index: both databases
    op.create_index("ix_customer_postal_code_pattern", "customer", ["postal_code"],
                    postgresql_ops={"postal_code": "text_pattern_ops"})
    if postgresql:
        op.create_index("ix_customer_email_lower", "customer",
                        [sa.text("lower(email) text_pattern_ops")])
    else:
        op.create_index("ix_customer_email_lower", "customer", [sa.text("lower(email)")])


def downgrade() -> None:
    op.drop_index("ix_customer_email_lower", table_name="customer")
    op.drop_index("ix_customer_postal_code_pattern", table_name="customer")
    if op.get_bind().dialect.name == "postgresql":
        for name, table, _column in PATTERN_INDEXES:
            op.drop_index(name, table_name=table)
