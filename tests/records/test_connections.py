"""PostgreSQL connections (issue 17: fewer round trips per request without losing robustness).

A pooled connection is pinged before use only when it has sat idle; a connection the server dropped
while idle (a restart, a failover, an idle timeout) is replaced, never handed to a request. The sign-in
check reads outside a transaction (no BEGIN or ROLLBACK round trip)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select, text

from ketaclinic.records import db as db_module
from ketaclinic.records.db import Database
from ketaclinic.records.users import User

pytestmark = pytest.mark.parametrize("engine", ["postgresql"])


def _backend_pid(db: Database) -> int:
    with db.reading() as uow:
        return uow.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_the_server_dropped_while_idle_is_replaced_not_handed_out(db, postgres_server):
    first = _backend_pid(db)  # the pool now holds this connection
    postgres_server.admin(f"SELECT pg_terminate_backend({first})")
    time.sleep(db_module.PING_AFTER_IDLE_S + 0.2)
    with db.transaction() as uow:  # the next request works, on a new connection
        assert uow.execute(select(User.id).limit(1)).all() is not None
    assert _backend_pid(db) != first


def test_without_the_idle_ping_the_dropped_connection_would_fail_the_request(db, postgres_server, monkeypatch):
    """The guard above is what saves the request: with the idle time set beyond the wait, the dead
    connection is handed out and the request fails (then the pool reconnects)."""
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 3600.0)
    first = _backend_pid(db)
    postgres_server.admin(f"SELECT pg_terminate_backend({first})")
    time.sleep(0.3)
    with pytest.raises(Exception, match="terminat|closed|connection"):
        with db.transaction() as uow:
            uow.execute(select(User.id).limit(1)).all()
    assert _backend_pid(db) != first  # and the pool recovered on its own


def test_a_lookup_reads_outside_a_transaction_and_a_reading_inside_one(db):
    """now() is the transaction's start: in a lookup each statement is its own transaction, so a later
    statement's now() is its own start; in a reading it stays the first statement's."""
    probe = text("SELECT now() = statement_timestamp()")
    with db.lookup() as uow:
        uow.execute(text("SELECT 1")).scalar_one()
        time.sleep(0.01)
        assert uow.execute(probe).scalar_one() is True
    with db.reading() as uow:
        uow.execute(text("SELECT 1")).scalar_one()
        time.sleep(0.01)
        assert uow.execute(probe).scalar_one() is False
