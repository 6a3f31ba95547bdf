"""Engine, transactions and the shared column types (design.md section 1, "Records").

``DATABASE_URL`` picks the engine. SQLite (the default) runs in WAL mode with foreign keys on
and a busy timeout, and every transaction starts with ``BEGIN IMMEDIATE``: nearly every request
writes (each chart read appends an audit entry), so taking the write lock up front is what keeps
two writers from failing on a lock upgrade, and it serializes audit appends.
PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite has no time zones; PostgreSQL has ``timestamptz``. This type makes both give the same
    aware ``datetime`` so comparisons and audit hashes agree on every engine.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: pass an aware datetime (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType, list[Any]: JSONType}


def normalize_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 here."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def make_engine(url: str, *, sqlite_busy_timeout_ms: int = 15000, echo: bool = False) -> Engine:
    """An engine for ``url`` with the pragmas and transaction start that this app relies on."""
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            echo=echo,
            json_serializer=_json_dumps,
            connect_args={"check_same_thread": False, "timeout": sqlite_busy_timeout_ms / 1000},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, start transactions (pysqlite's own handling is
            # deferred and would skip BEGIN before some statements).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(sqlite_busy_timeout_ms)}")
            # FULL: every acknowledged commit is on disk before the answer, so even a power cut loses
            # no record a nurse saw saved (NORMAL would keep integrity but could drop the last
            # commits). Measured here: ~0.5 ms per commit, small beside a ~12 ms request.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            read_only = connection.get_execution_options().get("ketaclinic_read_only", False)
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    engine = create_engine(url, echo=echo, json_serializer=_json_dumps)
    _ping_when_idle(engine)
    return engine


#: A pooled PostgreSQL connection idle longer than this is pinged before it is handed out.
PING_AFTER_IDLE_S = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only when it has sat idle (SQLAlchemy's ``pool_pre_ping``
    pings at every checkout: one more round trip per transaction, two per request with the token check,
    measured under load in issue 17). A connection the server dropped while it sat in the pool (a restart,
    a failover, an idle timeout) is replaced, as with ``pool_pre_ping``; one that was in use within the
    last second is trusted, and if the server went away in that second the request fails and the pool is
    invalidated, so the next request reconnects."""

    @event.listens_for(engine, "checkin")
    def _note_idle_since(_dbapi_connection: Any, record: Any) -> None:
        record.info["ketaclinic_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("ketaclinic_idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return  # a new connection, or one in use an instant ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # any failure of the ping means: use another connection
            raise DisconnectionError(f"the pooled connection is gone: {error}") from error
        if not alive:
            raise DisconnectionError("the pooled connection did not answer")


class Database:
    """One engine and its session factory; ``transaction()`` is the unit of work of a service call."""

    def __init__(self, url: str, *, sqlite_busy_timeout_ms: int = 15000):
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, sqlite_busy_timeout_ms=sqlite_busy_timeout_ms)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(ketaclinic_read_only=True), expire_on_commit=False, autoflush=False
        )
        # PostgreSQL: each statement its own transaction, so a lookup costs its statements' round trips
        # only (no BEGIN, no ROLLBACK). SQLite reads in-process: the read session serves.
        self._lookup_sessions = self._read_sessions if self.dialect == "sqlite" else sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT", ketaclinic_read_only=True),
            expire_on_commit=False, autoflush=False,
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on any error."""
        with self.sessions() as uow, uow.begin():
            yield uow

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only look (no audit entry, no write lock on SQLite): token checks, health, verify."""
        with self._read_sessions() as uow:  # closing rolls back; loaded objects stay readable
            yield uow

    @contextmanager
    def lookup(self) -> Iterator[Session]:
        """A read of one or two independent rows that needs no snapshot across statements (the sign-in
        check of every request): on PostgreSQL outside a transaction, saving two round trips per request.
        Never for a read whose statements must agree with each other (use :meth:`reading`)."""
        with self._lookup_sessions() as uow:
            yield uow

    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query (the liveness check)."""
        with self.reading() as uow:
            uow.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return make_url(normalize_url(url)).render_as_string(hide_password=True)
