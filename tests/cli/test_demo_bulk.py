"""The bulk demo (issue 17): rows loaded by executemany (SQLite) and COPY (PostgreSQL) keep the records'
invariants: one chained audit entry per batch, sealed sessions sealed, summaries equal to the records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from ketaclinic.demo_bulk import BulkRefused, seed_bulk
from ketaclinic.records.audit import AuditEntry, verify_chain
from ketaclinic.records.course_summaries import CourseSummary
from ketaclinic.records.patients import Patient
from ketaclinic.records.sites import Site
from ketaclinic.services import outcomes as oc
from ketaclinic.services.context import Actor
from ketaclinic.services.course_summaries import compute
from ketaclinic.services.patients import PatientIn, create_patient

NOW = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
SMALL, BULK, BATCH = 8, 130, 50


def test_the_bulk_demo_keeps_the_records_invariants(db, settings):
    summary = seed_bulk(db, settings, now=NOW, patients=SMALL + BULK, batch_patients=BATCH, small_patients=SMALL)
    assert summary["seeded"] and summary["sites"] == 4 and summary["batches"] == 3
    rows = summary["rows"]
    assert rows["patients"] == BULK and rows["course_summaries"] == BULK
    assert rows["sessions"] > 3 * BULK and rows["session_events"] > 8 * rows["sessions"] and rows["diary_entries"] > 0
    with db.reading() as uow:
        assert verify_chain(uow).intact
        entries = uow.execute(select(AuditEntry).where(AuditEntry.action == "demo.bulk_load")
                              .order_by(AuditEntry.seq)).scalars().all()
        assert len(entries) == 3 and '"patients"' in entries[0].detail  # one system entry per batch, with its ids
        assert len({p for (p,) in uow.execute(select(Patient.site_id).distinct())}) == 4
        # every bulk patient's summary is what the records say
        bulk_ids = list(uow.execute(select(Patient.id).where(Patient.family_name.like("Bulk %"))).scalars())
        stored = {r.patient_id: r for r in uow.execute(select(CourseSummary).where(
            CourseSummary.patient_id.in_(bulk_ids))).scalars()}
        for fresh in compute(uow, bulk_ids):
            row = stored[fresh["patient_id"]]
            assert {k: getattr(row, k) for k in fresh} == fresh
        sites = tuple(uow.execute(select(Site.id)).scalars())
        physician = Actor(user_id=None, username="physician", role="physician", site_ids=sites)
        from_records = oc.cohort_outcomes_from_records(uow, sites)
    from_summaries = oc.cohort_outcomes(db, physician)
    assert from_summaries["patients_with_a_course"] == from_records["patients_with_a_course"] > BULK // 2
    assert from_summaries["overall"] == from_records["overall"]
    # sealed and append-only rows were inserted in their final state: the database refuses to change them
    for statement in ("UPDATE sessions SET weight_kg = 1 WHERE state = 'discharged'",
                      "UPDATE session_events SET minute = 1", "DELETE FROM diary_entries"):
        with pytest.raises(Exception, match="(?i)append-only|refused|never changed"), db.engine.begin() as conn:
            conn.execute(text(statement))
    # the id sequences moved past the bulk rows: the next patient made through the services gets a new id
    with db.reading() as uow:
        top = uow.execute(select(func.max(Patient.id))).scalar_one()
    made = create_patient(db, Actor.system("tests"), PatientIn(given_name="Synthetic", family_name="After",
                                                               birth_date=datetime(1970, 1, 1).date(), sex="female"))
    assert made.id > top
    # once only
    assert seed_bulk(db, settings, now=NOW, patients=SMALL + BULK, small_patients=SMALL)["seeded"] is False


@pytest.mark.parametrize("engine", ["sqlite"])
def test_the_bulk_demo_refuses_what_it_cannot_do(db, settings):
    with pytest.raises(BulkRefused, match="200000"):
        seed_bulk(db, settings, now=NOW, patients=200_001, small_patients=SMALL)
    from ketaclinic.cli import app

    result = CliRunner().invoke(app, ["demo", "--patients", "200001"])
    assert result.exit_code == 2


def test_the_bulk_clock_writes_times_outside_its_cached_days():
    """A template's time may fall before the clinic's first day or after its last (a consent signed at the
    demo's "now" copied onto an earlier session): the day is computed, never read off the wrong end of the cache."""
    from ketaclinic.demo_bulk import Clock

    clock = Clock(datetime(2026, 1, 1, tzinfo=UTC), days=10, dialect="sqlite")
    assert clock.iso(0) == "2026-01-01T00:00:00.000000+00:00"
    assert clock.iso(-1) == "2025-12-31T23:59:00.000000+00:00"
    assert clock.db(40 * 1440 + 61) == "2026-02-10 01:01:00.000000"
    assert clock.day(11 * 1440) == "2026-01-12"  # inside the cache (days + 2)
