"""Schema for #7 organisations: an index for the requests waiting across all companies.

The approvals queue of one company pages on the existing ``ix_membership_customer_state``
(customer_id, state, created_at). Housekeeping (reminders after 3 days, expiry after 30) and
the back office's list of stale requests look for one state across every company by age:
``ix_membership_state_created`` (state, created_at) answers that without a table scan.

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_membership_state_created", "membership", ["state", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_membership_state_created", table_name="membership")
