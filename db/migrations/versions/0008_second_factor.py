"""Schema for #15 second factor (TOTP) for agents and customers.

``second_factor`` holds one sealed TOTP secret per account (AES-256-GCM with a key derived
from the installation secret; ``last_step`` refuses a time step used before), ``recovery_code``
the keyed digests of the one-time recovery codes, and ``session.second_factor`` marks a login
that waits for its code or enrolment.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "second_factor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("secret_sealed", sa.String(200), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE",
                                name="fk_second_factor_account_id_account"),
        sa.PrimaryKeyConstraint("id", name="pk_second_factor"),
        sa.UniqueConstraint("account_id", name="uq_second_factor_account_id"),
    )
    op.create_table(
        "recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("code_digest", sa.String(64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE",
                                name="fk_recovery_code_account_id_account"),
        sa.PrimaryKeyConstraint("id", name="pk_recovery_code"),
        sa.UniqueConstraint("account_id", "code_digest",
                            name="uq_recovery_code_account_id_code_digest"),
    )
    op.create_index("ix_recovery_code_account_id", "recovery_code", ["account_id"])
    op.add_column("session", sa.Column("second_factor", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("session") as batch:
        batch.drop_column("second_factor")
    op.drop_index("ix_recovery_code_account_id", table_name="recovery_code")
    op.drop_table("recovery_code")
    op.drop_table("second_factor")
