"""Schema for operations (#17): counters that survive retention, and their index.

``services.metrics`` counts logins, links, redemptions, … installation-wide from the audit log
and mail deliveries from the outbox. So that those counters never go down when old rows are
purged (retention, #16), a delete trigger on each table folds what the deleted rows counted
into ``metric_counter`` in the deleting transaction: the figure is always live rows + folded.
PostgreSQL folds once per statement (a transition table), SQLite once per row. ``TRUNCATE``
bypasses triggers (tests only).

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

#: (event, outcome, value) that one deleted row counted, per table, as SQL; ``{old}`` is the
#: deleted row (SQLite: ``old.``; PostgreSQL: a column of the transition table).
FOLDS = {
    "audit_log": [("{old}event", "{old}outcome", "1")],
    "outbox": [("'mail_delivery'", "'attempt'", "{old}attempts"),
               ("'mail_delivery'", "'failed'",
                "{old}attempts - CASE WHEN {old}sent_at IS NULL THEN 0 ELSE 1 END")],
}


def upgrade() -> None:
    op.create_table(
        "metric_counter",
        sa.Column("event", sa.String(length=48), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("event", "outcome", name=op.f("pk_metric_counter")),
    )
    op.create_index("ix_audit_log_event_outcome", "audit_log", ["event", "outcome"])
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, folds in FOLDS.items():
        if postgresql:
            selects = " UNION ALL ".join(
                f"SELECT {event} AS event, {outcome} AS outcome, sum({value}) AS value "
                f"FROM old_rows GROUP BY 1, 2".format(old="") for event, outcome, value in folds)
            op.execute(
                f"CREATE FUNCTION {table}_fold_counts() RETURNS trigger AS $$ BEGIN "
                f"INSERT INTO metric_counter (event, outcome, value) "
                f"SELECT event, outcome, sum(value) FROM ({selects}) AS f GROUP BY 1, 2 "
                f"ON CONFLICT (event, outcome) DO UPDATE "
                f"SET value = metric_counter.value + EXCLUDED.value; RETURN NULL; END $$ "
                f"LANGUAGE plpgsql")
            op.execute(
                f"CREATE TRIGGER {table}_fold_counts AFTER DELETE ON {table} "
                f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
                f"EXECUTE FUNCTION {table}_fold_counts()")
        else:
            body = " ".join(
                f"INSERT INTO metric_counter (event, outcome, value) VALUES "
                f"({event}, {outcome}, {value}) ON CONFLICT (event, outcome) "
                f"DO UPDATE SET value = value + excluded.value;".format(old="old.")
                for event, outcome, value in folds)
            op.execute(f"CREATE TRIGGER {table}_fold_counts AFTER DELETE ON {table} "
                       f"BEGIN {body} END")


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in FOLDS:
        if postgresql:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_fold_counts ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_fold_counts()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_fold_counts")
    op.drop_index("ix_audit_log_event_outcome", table_name="audit_log")
    op.drop_table("metric_counter")
