"""Schema for data protection self-service and retention (#16).

Reserved in the migration chain so that parallel work lands in order; its owner fills it in
(and renames the file) or leaves it empty.

Revision ID: 0009
Revises: 0008
"""

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
