"""Fixed-window rate limits counted in the database, so every worker shares one count (design.md 7)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Database
from ketaclinic.records.ratelimit import RateCounter


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    count: int
    retry_after_s: int


def window_start(now: datetime, window_s: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % window_s, tz=UTC)


def hit(db: Database, key: str, *, limit: int, window_s: int, now: datetime | None = None) -> RateDecision:
    """Count one request for ``key`` in the current window; allowed while the count is within ``limit``."""
    now = now or utcnow()
    start = window_start(now, window_s)
    with db.transaction() as uow:
        if db.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        statement = insert(RateCounter).values(key=key, window_start=start, count=1)
        statement = statement.on_conflict_do_update(
            index_elements=["key", "window_start"], set_={"count": RateCounter.count + 1}
        )
        uow.execute(statement)
        count = uow.execute(
            select(RateCounter.count).where(RateCounter.key == key, RateCounter.window_start == start)
        ).scalar_one()
        # Old windows are of no use; drop this key's expired ones as we go.
        uow.execute(delete(RateCounter).where(RateCounter.key == key,
                                                  RateCounter.window_start < start - timedelta(seconds=window_s)))
    retry = int((start + timedelta(seconds=window_s) - now).total_seconds()) + 1
    return RateDecision(allowed=count <= limit, count=count, retry_after_s=max(1, retry))
