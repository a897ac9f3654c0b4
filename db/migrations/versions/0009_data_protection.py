"""Schema for data protection self-service and retention (#16).

* ``account_deletion``: deletion requests (self-service or desk, four-eyes), 14-day wait.
* ``audit_log.pseudonymised_at`` and ``audit_purge_window``: the two narrow ways past the
  append-only triggers of 0001 (see below).
* Mails delivered before this revision lose their text, codes, links and attachments.
* Indexes the retention run needs: ``session.ended_at``, ``support_request(status,
  updated_at)``, ``outbox.to``.

The audit log stays append-only for everything but two deliberate paths, enforced in the
database (SQLite triggers, a PostgreSQL trigger function) — not in application code:

1. **Pseudonymisation** (an erased account): an UPDATE passes only when it sets
   ``pseudonymised_at`` on a row where it was NULL (so once per row), leaves every other
   column unchanged and the new ``details`` are a subset of the old ones (keys may only be
   removed, never added or rewritten).
2. **Retention**: a DELETE passes only for rows older than a cut-off that the same
   transaction declared in ``audit_purge_window``. ``services.housekeeping.purge_audit``
   inserts the cut-off, deletes one batch and removes the row again before committing, so no
   other transaction ever sees a window (PostgreSQL: uncommitted; SQLite: one writer).

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op


#: services.mail.DELIVERED_BODY (a migration does not import services)
DELIVERED_BODY = "(delivered; text removed)"

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SQLITE_UPDATE = """
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
WHEN NOT (
    old.pseudonymised_at IS NULL AND new.pseudonymised_at IS NOT NULL
    AND new.id = old.id AND new.at IS old.at AND new.event IS old.event
    AND new.outcome IS old.outcome AND new.actor_id IS old.actor_id
    AND new.customer_id IS old.customer_id AND new.terminal_id IS old.terminal_id
    AND NOT EXISTS (
        SELECT 1 FROM json_each(new.details) AS n WHERE NOT EXISTS (
            SELECT 1 FROM json_each(old.details) AS o
            WHERE o.key = n.key AND o.type = n.type AND o.value IS n.value))
)
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
"""
SQLITE_DELETE = """
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM audit_purge_window AS w WHERE old.at < w.purge_before)
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
"""
POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF EXISTS (SELECT 1 FROM audit_purge_window w WHERE OLD.at < w.purge_before) THEN
            RETURN OLD;
        END IF;
    ELSIF TG_OP = 'UPDATE' THEN
        IF OLD.pseudonymised_at IS NULL AND NEW.pseudonymised_at IS NOT NULL
           AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.event = OLD.event
           AND NEW.outcome IS NOT DISTINCT FROM OLD.outcome
           AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
           AND NEW.customer_id IS NOT DISTINCT FROM OLD.customer_id
           AND NEW.terminal_id IS NOT DISTINCT FROM OLD.terminal_id
           AND NEW.details::jsonb <@ OLD.details::jsonb THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'restrict_violation';
END $$ LANGUAGE plpgsql
"""
POSTGRES_FUNCTION_0001 = (
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'restrict_violation'; END $$ LANGUAGE plpgsql"
)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        "audit_purge_window",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purge_before", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_purge_window")),
    )
    op.create_table(
        "account_deletion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("confirmed_by_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("previous_status", sa.String(length=20), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erase_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"],
                                name=op.f("fk_account_deletion_account_id_account")),
        sa.ForeignKeyConstraint(["requested_by_id"], ["account.id"],
                                name=op.f("fk_account_deletion_requested_by_id_account")),
        sa.ForeignKeyConstraint(["confirmed_by_id"], ["account.id"],
                                name=op.f("fk_account_deletion_confirmed_by_id_account")),
        sa.ForeignKeyConstraint(["request_id"], ["support_request.id"],
                                name=op.f("fk_account_deletion_request_id_support_request")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_deletion")),
    )
    op.create_index(op.f("ix_account_deletion_account_id"), "account_deletion",
                    ["account_id"])
    op.create_index("ix_account_deletion_state_erase", "account_deletion",
                    ["state", "erase_after"])
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("pseudonymised_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_session_ended_at"), "session", ["ended_at"])
    op.create_index("ix_support_request_status_updated", "support_request",
                    ["status", "updated_at"])
    op.create_index("ix_outbox_to", "outbox", ["to"])
    # a delivered mail keeps no code, link or attachment (from now on at delivery)
    op.execute(sa.text("UPDATE outbox SET body = :body, params = '{}', attachment = NULL "
                       "WHERE sent_at IS NOT NULL").bindparams(body=DELIVERED_BODY))
    if sqlite:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        op.execute(SQLITE_UPDATE)
        op.execute(SQLITE_DELETE)
    else:
        op.execute(POSTGRES_FUNCTION)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    else:
        op.execute(POSTGRES_FUNCTION_0001)
    op.drop_index("ix_outbox_to", table_name="outbox")
    op.drop_index("ix_support_request_status_updated", table_name="support_request")
    op.drop_index(op.f("ix_session_ended_at"), table_name="session")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("pseudonymised_at")
    op.drop_index("ix_account_deletion_state_erase", table_name="account_deletion")
    op.drop_index(op.f("ix_account_deletion_account_id"), table_name="account_deletion")
    op.drop_table("account_deletion")
    op.drop_table("audit_purge_window")
    if sqlite:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )
