"""The clinic's research key: made once on first use, kept, append-only, never shown."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import select, text

from ketaclinic.records.guards import ImmutableRecordError
from ketaclinic.records.research_keys import DATE_SHIFT, ResearchKey, research_key


def test_the_key_is_made_once_and_then_always_the_same(db):
    with db.reading() as session:
        assert session.scalars(select(ResearchKey)).all() == [], "not made by the migration: on the first export"
    first = research_key(db)
    assert len(first) == 32 and first == research_key(db) == research_key(db, DATE_SHIFT)
    assert research_key(db, "other_purpose") != first, "one key per purpose"
    with db.reading() as session:
        rows = session.scalars(select(ResearchKey).order_by(ResearchKey.id)).all()
        assert [r.purpose for r in rows] == [DATE_SHIFT, "other_purpose"]
        assert first.hex() not in repr(rows[0]) and "<hidden>" in repr(rows[0])


def test_a_second_worker_reads_the_first_workers_key(db):
    """Two workers exporting for the first time at once: the unique purpose lets one insert win."""
    with db.transaction() as session:
        session.add(ResearchKey(purpose=DATE_SHIFT, secret=b"w" * 32))
    assert research_key(db) == b"w" * 32
    with pytest.raises(sa_exc.IntegrityError), db.transaction() as session:
        session.add(ResearchKey(purpose=DATE_SHIFT, secret=b"x" * 32))


def test_the_key_is_never_changed_or_deleted(db):
    research_key(db)
    with pytest.raises(ImmutableRecordError), db.transaction() as session:
        session.scalars(select(ResearchKey)).one().secret = b"y" * 32
        session.flush()
    for sql in ("UPDATE research_keys SET purpose = 'x'", "DELETE FROM research_keys"):
        with pytest.raises(sa_exc.IntegrityError) as refused, db.transaction() as session:
            session.execute(text(sql))
        assert "append-only" in str(refused.value) or "refused" in str(refused.value) \
            or "never changed" in str(refused.value)
