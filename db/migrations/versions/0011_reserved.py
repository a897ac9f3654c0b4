"""Schema for operations: health, metrics, housekeeping runs (#17).

Reserved in the migration chain so that parallel work lands in order; its owner fills it in
(and renames the file) or leaves it empty.

Revision ID: 0011
Revises: 0010
"""

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
