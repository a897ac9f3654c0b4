"""Schema for second factor (TOTP) for agents and customers (#15).

Reserved in the migration chain so that parallel work lands in order; its owner fills it in
(and renames the file) or leaves it empty.

Revision ID: 0008
Revises: 0007
"""

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
