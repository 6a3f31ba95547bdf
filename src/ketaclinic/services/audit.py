"""Reading the audit log (admin only) and checking its chain."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from ketaclinic.records.audit import AuditEntry, ChainReport, verify_chain
from ketaclinic.records.db import Database
from ketaclinic.services.common import (
    Page,
    audit,
    clamp_limit,
    cursor_int,
    encode_cursor,
    require_role,
    unit_of_work,
)
from ketaclinic.services.context import Actor
from ketaclinic.services.types import Text


class AuditEntryView(BaseModel):
    seq: int
    at: datetime
    user_id: int | None
    username: str | None
    role: str | None
    action: str
    record_type: str | None
    record_id: str | None
    ip: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str
    site_id: int | None = None  # the site the entry is about (issue 17); None: no site

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryView:
        data = {k: getattr(entry, k) for k in cls.model_fields if k != "detail"}
        return cls(**data, detail=json.loads(entry.detail))


class AuditFilter(BaseModel):
    user_id: int | None = None
    username: Text | None = None
    action: Text | None = None
    record_type: Text | None = None
    record_id: Text | None = None
    since: datetime | None = None
    until: datetime | None = None
    site_id: int | None = None


def list_audit(db: Database, actor: Actor, filters: AuditFilter, *, limit: int | None = None,
               cursor: str | None = None) -> Page[AuditEntryView]:
    """Newest first. Reading the log is itself logged."""
    require_role(actor, "admin")
    limit = clamp_limit(limit)
    before = cursor_int(cursor, "before")
    with unit_of_work(db) as uow:
        query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit + 1)
        if before is not None:
            query = query.where(AuditEntry.seq < before)
        for name in ("user_id", "username", "action", "record_type", "record_id", "site_id"):
            value = getattr(filters, name)
            if value is not None:
                query = query.where(getattr(AuditEntry, name) == value)
        if filters.since:
            query = query.where(AuditEntry.at >= filters.since)
        if filters.until:
            query = query.where(AuditEntry.at < filters.until)
        rows = uow.execute(query).scalars().all()
        more = len(rows) > limit
        rows = rows[:limit]
        page = Page[AuditEntryView](
            items=[AuditEntryView.of(r) for r in rows],
            next_cursor=encode_cursor({"before": rows[-1].seq}) if more and rows else None,
        )
        audit(uow, actor, "audit.read", "audit_log", None, filters.model_dump(mode="json", exclude_none=True))
        return page


def verify(db: Database) -> ChainReport:
    """Walk the whole chain (read-only; the command line's check, run by whoever holds the database)."""
    with db.reading() as uow:
        return verify_chain(uow)


def verify_as(db: Database, actor: Actor) -> ChainReport:
    """An admin checks the chain from the app: the check itself is audited (who looked, and what they saw)."""
    require_role(actor, "admin")
    report = verify(db)
    with unit_of_work(db) as uow:
        audit(uow, actor, "audit.verify", "audit_log", None, {"intact": report.intact})
    return report
