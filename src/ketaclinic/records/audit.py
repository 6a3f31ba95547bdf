"""The hash-chained audit log: who did what to which record, when, from where.

Each entry's ``hash`` is the SHA-256 of the canonical JSON of its fields together with the
previous entry's hash, so changing, removing or inserting an entry breaks the chain at that
point, and :func:`verify_chain` names it. A one-row ``audit_head`` table holds the sequence
number and hash of the last entry. A transaction's entries are chained at its commit: the head row
is locked then (the ``UPDATE`` that reserves their numbers on PostgreSQL; SQLite transactions already
start with ``BEGIN IMMEDIATE``) and released by the commit an instant later, so two writers never
chain onto the same entry, no request holds the lock while it works, and removing or appending
entries behind the app's back disagrees with the head.

Limits (by design of a plain hash chain): someone with write access to the database who
rewrites every hash from some point on *and* the head produces a chain that verifies. Keep the
head hash printed by ``ketaclinic audit verify`` somewhere else (a daily e-mail, a ticket) to
detect that too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, TextClause, event, insert, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Base
from ketaclinic.records.mixins import AppendOnlyMixin

GENESIS_HASH = "0" * 64


class AuditEntry(AppendOnlyMixin, Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_record", "record_type", "record_id"),
        Index("ix_audit_log_user_id", "user_id"),
        Index("ix_audit_log_site_seq", "site_id", "seq"),  # the audit page filtered by site (migration 0012)
    )

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(nullable=False, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    action: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    record_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    record_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # canonical JSON, hashed as stored
    # The site the entry is about (issue 17); None for what belongs to no site (sign-in, users, settings)
    # and for every entry written before migration 0012. Hashed only when set (entry_hash).
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)


class AuditHead(Base):
    """The single row naming the last entry of the chain (the lock appends take)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(nullable=False)
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 kept: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)


def _timestamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(
    *,
    seq: int,
    at: datetime,
    user_id: int | None,
    username: str | None,
    role: str | None,
    action: str,
    record_type: str | None,
    record_id: str | None,
    ip: str | None,
    detail: str,
    prev_hash: str,
    site_id: int | None = None,
) -> str:
    """SHA-256 over the canonical JSON of the entry's fields and the previous hash.

    The fields are versioned by presence: ``site_id`` (migration 0012) is in the hashed body only when it
    is set, so every entry written before it (all NULL) hashes exactly as it did and still verifies, while
    setting, changing or clearing the site of any entry changes its hash."""
    fields: dict[str, Any] = {} if site_id is None else {"site_id": site_id}
    body = canonical_json(
        {
            **fields,
            "seq": seq,
            "at": _timestamp(at),
            "user_id": user_id,
            "username": username,
            "role": role,
            "action": action,
            "record_type": record_type,
            "record_id": record_id,
            "ip": ip,
            "detail": detail,
            "prev_hash": prev_hash,
        }
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def hash_of(entry: AuditEntry) -> str:
    return entry_hash(
        seq=entry.seq,
        at=entry.at,
        user_id=entry.user_id,
        username=entry.username,
        role=entry.role,
        action=entry.action,
        record_type=entry.record_type,
        record_id=entry.record_id,
        ip=entry.ip,
        detail=entry.detail,
        prev_hash=entry.prev_hash,
        site_id=entry.site_id,
    )


_PENDING = "ketaclinic.audit_pending"


def append(
    uow: Session,
    *,
    action: str,
    user_id: int | None = None,
    username: str | None = None,
    role: str | None = None,
    record_type: str | None = None,
    record_id: int | str | None = None,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
    site_id: int | None = None,
) -> AuditEntry:
    """Record one entry in the caller's transaction: it commits or rolls back with the change it records.

    The entry is chained when the transaction commits (:func:`_chain_at_commit`), not here: the lock on
    the chain head is then held for the instant of the append at the end of the transaction, not for the
    whole request (issue 17: one global lock held from the first audit call to the commit made every
    request, reads included, queue behind the slowest). ``seq``, ``prev_hash`` and ``hash`` are filled in
    at the commit."""
    at = (at or utcnow()).astimezone(UTC)
    entry = AuditEntry(
        at=at, user_id=user_id, username=username, role=role, action=action, record_type=record_type,
        record_id=None if record_id is None else str(record_id), ip=ip, detail=canonical_json(detail or {}),
        site_id=site_id,
    )
    uow.info.setdefault(_PENDING, []).append(entry)
    return entry


@event.listens_for(Session, "before_commit")
def _chain_at_commit(uow: Session) -> None:
    """Chain the transaction's entries, in the order they were recorded, onto the head, as the last writes
    before the commit. If anything here fails, the commit fails and the whole transaction, the recorded
    change with it, rolls back: no change is ever committed without its entry, and no entry without its change.

    The head's lock is held from the first statement below to the commit, so the window is kept to three
    round trips (issue 17: with two workers under load, each round trip inside it also waits for its
    process's GIL, and every request of the clinic queues on it):

    1. the transaction's own changes are flushed first, outside the window (the session's autoflush
       before the statement that locks);
    2. ``UPDATE audit_head SET last_seq = last_seq + n ... RETURNING`` locks the row and reserves the
       numbers in one statement (SQLite's ``BEGIN IMMEDIATE`` already holds the write lock);
    3. the entries are hashed in Python and inserted together with the head's new hash: one statement
       on PostgreSQL (a data-modifying CTE), an ``executemany`` and an update on SQLite (in-process, no
       network);
    4. the commit right after releases the lock."""
    pending: list[AuditEntry] = uow.info.pop(_PENDING, [])
    if not pending:
        return
    last_seq, last_hash = _reserve(uow, len(pending))
    rows: list[dict[str, Any]] = []
    for offset, entry in enumerate(pending, start=1):
        entry.seq = last_seq + offset
        entry.prev_hash = last_hash
        entry.hash = last_hash = hash_of(entry)
        rows.append({column: getattr(entry, column) for column in _COLUMNS})
    if uow.get_bind().dialect.name == "postgresql" and len(rows) <= _ONE_STATEMENT_ROWS:
        params = {f"{column}_{i}": value for i, row in enumerate(rows) for column, value in row.items()}
        uow.execute(_insert_moving_head(len(rows)), {**params, "head_hash": last_hash})
    else:
        uow.execute(insert(_LOG), rows)
        uow.execute(update(_HEAD).where(_HEAD.c.id == 1).values(last_hash=last_hash))


_LOG, _HEAD = AuditEntry.__table__, AuditHead.__table__
_ONE_STATEMENT_ROWS = 32  # a request writes one to a few entries; a rare long batch takes the two-statement path
_COLUMNS = tuple(column.key for column in _LOG.columns)


@lru_cache(maxsize=_ONE_STATEMENT_ROWS)
def _insert_moving_head(count: int) -> TextClause:
    """``count`` entries and the head's new hash in one PostgreSQL statement (a data-modifying CTE).

    Written once per row count and kept: SQLAlchemy does not cache a multi-row ``insert().values()``
    (it compiled it at every commit: a twentieth of a worker's CPU under load, issue 17)."""
    columns = ", ".join(_COLUMNS)
    rows = ", ".join("(" + ", ".join(f":{column}_{i}" for column in _COLUMNS) + ")" for i in range(count))
    return text(f"WITH moved_head AS (UPDATE audit_head SET last_hash = :head_hash WHERE id = 1) "
                f"INSERT INTO audit_log ({columns}) VALUES {rows}")


def _reserve(uow: Session, count: int) -> tuple[int, str]:
    """Lock the head and take ``count`` sequence numbers: (the seq before them, the hash to chain onto)."""
    moved = uow.execute(update(_HEAD).where(_HEAD.c.id == 1).values(last_seq=_HEAD.c.last_seq + count)
                        .returning(_HEAD.c.last_seq, _HEAD.c.last_hash)).one_or_none()
    if moved is None:  # created by the first migration; kept for databases made some other way
        uow.execute(insert(_HEAD).values(id=1, last_seq=count, last_hash=GENESIS_HASH))
        return 0, GENESIS_HASH
    return moved.last_seq - count, moved.last_hash


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(uow: Session) -> None:
    """Entries of a transaction that rolled back are forgotten with it."""
    uow.info.pop(_PENDING, None)


@dataclass(frozen=True)
class ChainBreak:
    """The first place the chain does not hold: which entry, what kind of break, and why."""

    seq: int
    kind: str  # changed | removed | inserted
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "reason": self.reason}


@dataclass(frozen=True)
class ChainReport:
    intact: bool
    entries: int
    head_seq: int
    head_hash: str
    first_break: ChainBreak | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "entries": self.entries,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "first_broken": None if self.first_break is None else self.first_break.as_dict(),
        }


def _entries(uow: Session) -> Iterator[AuditEntry]:
    yield from uow.execute(select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=1000)).scalars()


def find_break(uow: Session) -> tuple[int, ChainBreak | None]:
    """Walk the chain from the start; return the number of entries and the first break (or None)."""
    head = uow.get(AuditHead, 1)
    head_seq = head.last_seq if head else 0
    head_hash = head.last_hash if head else GENESIS_HASH
    return find_break_in(_entries(uow), head_seq, head_hash)


def find_break_in(entries: Iterable[AuditEntry], head_seq: int, head_hash: str) -> tuple[int, ChainBreak | None]:
    """The chain walk over any entries in ``seq`` order (rows of a backup file that is not a database yet, too)."""
    expected_seq, expected_prev, count = 1, GENESIS_HASH, 0
    for entry in entries:
        count += 1
        if entry.seq > head_seq:
            return count, ChainBreak(entry.seq, "inserted", f"entry {entry.seq} lies beyond the chain head ({head_seq}): it was added outside the application")
        if entry.seq > expected_seq:
            return count, ChainBreak(expected_seq, "removed", f"entry {expected_seq} is missing (the next entry present is {entry.seq})")
        if entry.seq < expected_seq:  # seq is the primary key; only a renumbering could do this
            return count, ChainBreak(entry.seq, "inserted", f"entry {entry.seq} is out of order")
        if hash_of(entry) != entry.hash:
            return count, ChainBreak(entry.seq, "changed", f"entry {entry.seq} does not match its hash: its content was changed")
        if entry.prev_hash != expected_prev:
            kind = "changed" if entry.seq > 1 else "inserted"
            return count, ChainBreak(
                entry.seq,
                kind,
                f"entry {entry.seq} is not chained to entry {entry.seq - 1}: one of them was replaced or rewritten",
            )
        expected_seq, expected_prev = entry.seq + 1, entry.hash
    if expected_seq - 1 < head_seq:
        return count, ChainBreak(expected_seq, "removed", f"entries {expected_seq}..{head_seq} are missing from the end of the chain")
    if expected_prev != head_hash:
        return count, ChainBreak(head_seq, "changed", f"the last entry ({head_seq}) is not the one the chain head recorded")
    return count, None


def verify_chain(uow: Session) -> ChainReport:
    """Check the whole chain. ``first_break`` is ``None`` when every entry is intact and in place."""
    count, brk = find_break(uow)
    head = uow.get(AuditHead, 1)
    return ChainReport(
        intact=brk is None,
        entries=count,
        head_seq=head.last_seq if head else 0,
        head_hash=head.last_hash if head else GENESIS_HASH,
        first_break=brk,
    )


def verify_entries(entries: Iterable[AuditEntry], head_seq: int, head_hash: str) -> ChainReport:
    """:func:`verify_chain` for entries read from somewhere else (a backup file)."""
    count, brk = find_break_in(entries, head_seq, head_hash)
    return ChainReport(intact=brk is None, entries=count, head_seq=head_seq, head_hash=head_hash, first_break=brk)


# Every column of an entry that its hash covers (all but the hash itself): the tamper tests walk this.
HASHED_COLUMNS = ("seq", "at", "user_id", "username", "role", "action", "record_type", "record_id", "ip", "detail",
                  "prev_hash", "site_id")
