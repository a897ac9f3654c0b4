"""Guessing limits per record and account (#20): the throttle counters' new scopes.

No schema change: the per-record limits live in the existing ``throttle`` table. The counters
of linking a number by code, linking a contract and the merge proof are renamed to the
scopes of ``services.throttle.record_limits``, so that a freeze or wait that is in force at
the upgrade stays in force:

* ``link_code`` / ``merge_proof`` ``number`` and ``contract_link`` ``contract`` -> ``record``
  (the record-wide counter, now the alarm level; a frozen one stays closed until the desk
  lifts it);
* ``link_code`` / ``contract_link`` ``account`` -> ``actor`` (``merge_proof`` had it already).

Revision ID: 0010
Revises: 0009
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: (action, old scope, new scope)
RENAMES = (
    ("link_code", "number", "record"),
    ("merge_proof", "number", "record"),
    ("contract_link", "contract", "record"),
    ("link_code", "account", "actor"),
    ("contract_link", "account", "actor"),
)


def _rename(old_index: int, new_index: int) -> None:
    for row in RENAMES:
        op.execute(
            f"UPDATE throttle SET scope = '{row[new_index]}' "  # noqa: S608 - constants only
            f"WHERE action = '{row[0]}' AND scope = '{row[old_index]}'"
        )


def upgrade() -> None:
    _rename(1, 2)


def downgrade() -> None:
    _rename(2, 1)
