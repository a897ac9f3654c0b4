"""Schema, constraints and the audit log on both databases."""

from __future__ import annotations

import stat

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from db.models import Account, AuditEvent, Customer, CustomerLink
from services import audit
from services.crypto import load_or_create_secret_key


def _customer(session, number: str, ctype: str = "private") -> Customer:
    c = Customer(number=number, type=ctype, last_name="Müller", postal_code="1010", country="AT")
    session.add(c)
    session.flush()
    return c


def _account(session, email: str) -> Account:
    a = Account(email=email, email_key=email.lower(), status="active")
    session.add(a)
    session.flush()
    return a


def test_customer_number_links_to_one_account_only(backend):
    with backend.transaction() as s:
        c = _customer(s, "100001")
        a1, a2 = _account(s, "a@example.org"), _account(s, "b@example.org")
        s.add(CustomerLink(account_id=a1.id, customer_id=c.id, customer_type=c.type))
    with pytest.raises(IntegrityError), backend.transaction() as s:
        s.add(CustomerLink(account_id=a2.id, customer_id=c.id, customer_type=c.type))
    with backend.transaction() as s:
        assert s.scalar(select(CustomerLink.account_id)) == a1.id


def test_one_number_per_customer_type_per_account(backend):
    with backend.transaction() as s:
        c1, c2 = _customer(s, "100001"), _customer(s, "100002")
        a = _account(s, "a@example.org")
        s.add(CustomerLink(account_id=a.id, customer_id=c1.id, customer_type="private"))
    with pytest.raises(IntegrityError), backend.transaction() as s:
        s.add(CustomerLink(account_id=a.id, customer_id=c2.id, customer_type="private"))


def test_audit_log_is_append_only(backend):
    with backend.transaction() as s:
        audit.record(s, "login", actor_id=1, terminal_id="t1", outcome="failure")
    with pytest.raises(DBAPIError), backend.transaction() as s:
        s.execute(text("UPDATE audit_log SET outcome='ok'"))
    with pytest.raises(DBAPIError), backend.transaction() as s:
        s.execute(text("DELETE FROM audit_log"))
    with backend.transaction() as s:
        assert s.scalar(select(AuditEvent.outcome)) == "failure"


def test_audit_refuses_secret_details(backend):
    with pytest.raises(ValueError, match="secret"), backend.transaction() as s:
        audit.record(s, "login", password="hunter2")
    with backend.transaction() as s:
        assert s.scalar(select(AuditEvent.id)) is None


def test_timestamps_come_back_timezone_aware(backend):
    with backend.transaction() as s:
        audit.record(s, "x", now=backend.now())
    with backend.transaction() as s:
        at = s.scalar(select(AuditEvent.at))
    assert at == backend.now() and at.tzinfo is not None


def test_secret_key_created_once_with_mode_0600(tmp_path):
    path = tmp_path / "sub" / "secret.key"
    first = load_or_create_secret_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 32
    assert load_or_create_secret_key(path) == first
    assert load_or_create_secret_key(path, "ab" * 32) == bytes.fromhex("ab" * 32)


def test_migrations_match_the_models(backend):
    """Alembic's comparison finds no difference between the migrated schema and the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from db.models import applies_to, metadata

    def include(obj, _name, type_, _reflected, _compare_to) -> bool:
        # indexes the models limit to one database (ddl_if) are compared only there
        return type_ != "index" or not hasattr(obj, "_ddl_if") or applies_to(
            obj, backend.engine.dialect.name)

    with backend.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include})
        diff = compare_metadata(context, metadata)
    assert diff == []
