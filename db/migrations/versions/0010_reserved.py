"""Schema for guessing limits per record and account (#20).

Reserved in the migration chain so that parallel work lands in order; its owner fills it in
(and renames the file) or leaves it empty.

Revision ID: 0010
Revises: 0009
"""

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
