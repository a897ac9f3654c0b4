"""Schema for #5 contracts: customer gender, recipient and office phone ("Kundenverwaltung"),
and the digest of the objection code mailed when a contract is linked.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customer") as batch:
        batch.add_column(sa.Column("gender", sa.String(16), nullable=True))
        batch.add_column(sa.Column("recipient", sa.String(200), nullable=True))
        batch.add_column(sa.Column("phone_work", sa.String(40), nullable=True))
    with op.batch_alter_table("contract_link") as batch:
        batch.add_column(sa.Column("objection_digest", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_contract_link_objection_digest", ["objection_digest"])


def downgrade() -> None:
    with op.batch_alter_table("contract_link") as batch:
        batch.drop_constraint("uq_contract_link_objection_digest", type_="unique")
        batch.drop_column("objection_digest")
    with op.batch_alter_table("customer") as batch:
        batch.drop_column("phone_work")
        batch.drop_column("recipient")
        batch.drop_column("gender")
