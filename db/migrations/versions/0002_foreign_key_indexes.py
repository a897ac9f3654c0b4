"""Indexes on customer.merged_into_id and session.customer_id.

Without them, deleting or merging customers scans the whole table per row on SQLite
(foreign keys are checked), which made large deletions quadratic.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_customer_merged_into_id", "customer", ["merged_into_id"])
    op.create_index("ix_session_customer_id", "session", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_session_customer_id", table_name="session")
    op.drop_index("ix_customer_merged_into_id", table_name="customer")
