"""Alembic environment: the connection is handed in by db.migrate (no alembic.ini needed)."""

from __future__ import annotations

from alembic import context

from db.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only via db.migrate
    raise RuntimeError("run migrations through `kiosk db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
