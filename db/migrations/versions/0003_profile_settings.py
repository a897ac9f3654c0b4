"""Schema for #4 profile: further phone numbers and e-mail addresses, umbrella organisation,
delivery and payment method (IBAN/BIC) of an account.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ACCOUNT_COLUMNS = (
    ("umbrella_organisation", 200),
    ("delivery_method", 16),
    ("payment_method", 16),
    ("iban", 34),
    ("bic", 11),
)


def upgrade() -> None:
    op.create_table(
        "account_contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=True),
        sa.Column("value", sa.String(length=254), nullable=False),
        sa.Column("value_key", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"],
                                name=op.f("fk_account_contact_account_id_account"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_contact")),
        sa.UniqueConstraint("account_id", "kind", "value_key",
                            name=op.f("uq_account_contact_account_id_kind_value_key")),
    )
    with op.batch_alter_table("account_contact", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_contact_account_id"), ["account_id"],
                              unique=False)
    with op.batch_alter_table("account", schema=None) as batch_op:
        for name, length in ACCOUNT_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("account", schema=None) as batch_op:
        for name, _length in reversed(ACCOUNT_COLUMNS):
            batch_op.drop_column(name)
    with op.batch_alter_table("account_contact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_contact_account_id"))
    op.drop_table("account_contact")
