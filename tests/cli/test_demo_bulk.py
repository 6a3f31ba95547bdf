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
from ketaclinic.records.register import RegisterEntry
from ketaclinic.records.schedule import Appointment, Chair
from ketaclinic.records.sessions import InfusionSession
from ketaclinic.records.sites import Site
from ketaclinic.services import outcomes as oc
from ketaclinic.services import register as rs
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
    _register_and_schedule_hold(db, rows)
    _follow_up_summaries_are_computed_by_the_worker(db, settings)
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


def _follow_up_summaries_are_computed_by_the_worker(db, settings) -> None:
    """Every bulk patient has a follow-up summary row, stale (the bulk rows passed no listener); the worker
    computes them to what the rules say (issue 17)."""
    from ketaclinic.records.follow_up import FollowUpSummary
    from ketaclinic.services import follow_up_summaries as fs
    from ketaclinic.services import worker

    table = FollowUpSummary.__table__
    with db.reading() as uow:
        bulk_ids = list(uow.execute(select(Patient.id).where(Patient.family_name.like("Bulk %"))).scalars())
        stale = set(uow.execute(select(table.c.patient_id).where(fs.stale(datetime.now(UTC).date()))).scalars())
    assert set(bulk_ids) <= stale
    worker.run(settings, once=True)
    assert fs.stale_count(db) == 0
    with db.reading() as uow:
        stored = {r["patient_id"]: dict(r) for r in uow.execute(select(table).where(
            table.c.patient_id.in_(bulk_ids))).mappings()}
        for fresh in fs.compute(uow, bulk_ids, datetime.now(UTC).date()):
            assert {k: stored[fresh["patient_id"]][k] for k in fresh if k != "updated_at"} == \
                {k: v for k, v in fresh.items() if k != "updated_at"}
        assert sum(1 for r in stored.values() if r["needs_action"]) > 0


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


def _register_and_schedule_hold(db, rows):
    """The bulk register entries replay and reconcile; the bulk appointments are their sessions, on chairs that
    never hold two booked appointments at once, inside the staff's hours."""
    assert rows["appointments"] == rows["sessions"] and rows["register_lots"] > 0
    assert rows["register_entries"] > 2 * rows["register_lots"]
    system = Actor.system("tests")
    checked = rs.verify_register(db, system)
    assert checked.ok, checked.first_break
    assert rs.open_discrepancies(db, system) == []
    assert all(item.balance_mg >= 0 for item in rs.balances(db, system).items)
    with db.reading() as uow:
        bulk = select(Patient.id).where(Patient.family_name.like("Bulk %"))
        assert uow.execute(select(func.min(RegisterEntry.balance_after_mg))).scalar_one() >= 0
        assert uow.execute(select(func.min(RegisterEntry.location_balance_after_mg))).scalar_one() >= 0
        assert uow.execute(select(func.count()).select_from(RegisterEntry).where(
            RegisterEntry.kind == "waste", (RegisterEntry.witness_id.is_(None))
            | (RegisterEntry.witness_id == RegisterEntry.recorded_by))).scalar_one() == 0
        # every discharged bulk session drew, gave and wasted from a lot of its own site, and is reconciled
        discharged = list(uow.execute(select(InfusionSession).where(
            InfusionSession.patient_id.in_(bulk), InfusionSession.state == "discharged")).scalars())
        entries = list(uow.execute(select(RegisterEntry).where(RegisterEntry.session_id.in_(
            [d.id for d in discharged]))).scalars())
        assert {e.session_id for e in entries if e.kind == "dispense"} == {d.id for d in discharged}
        site_of = {d.id: d.site_id for d in discharged}
        assert all(e.site_id == site_of[e.session_id] for e in entries)
        sessions = {s.id: s for s in uow.execute(select(InfusionSession).where(
            InfusionSession.patient_id.in_(bulk))).scalars()}
        appointments = list(uow.execute(select(Appointment).where(Appointment.patient_id.in_(bulk))).scalars())
        chairs = {c.id: c for c in uow.execute(select(Chair)).scalars()}
        every_booked = list(uow.execute(select(Appointment).where(Appointment.status == "booked")).scalars())
    physician = Actor(user_id=None, username="physician", role="physician", site_ids=tuple(set(site_of.values())))
    for d in discharged[:: max(1, len(discharged) // 15)]:
        assert all(r.reconciled for r in rs.session_register(db, physician, d.id).drugs), d.id
    assert {a.session_id for a in appointments} == set(sessions) and len(appointments) == len(sessions)
    for a in appointments:
        session = sessions[a.session_id]
        assert a.kind == "infusion" and a.plan_id == session.plan_id and a.patient_id == session.patient_id
        assert chairs[a.chair_id].site_id == a.site_id == session.site_id and chairs[a.chair_id].kind == "chair"
        assert a.start_at.replace(tzinfo=None) == session.scheduled_at.replace(tzinfo=None)
        assert (a.status == "cancelled") == (session.state == "cancelled")
        start, end = (t.replace(tzinfo=UTC) for t in (a.start_at, a.end_at))  # the demo clinic's zone is UTC
        hours = {5: (8, 14)}.get(start.weekday(), (7, 19))
        assert start.weekday() != 6 and hours[0] * 60 <= start.hour * 60 + start.minute
        assert end.date() == start.date() and end.hour * 60 + end.minute <= hours[1] * 60
    by_chair: dict[int, list] = {}
    by_patient: dict[int, list] = {}
    for a in every_booked:
        by_chair.setdefault(a.chair_id, []).append(a)
        by_patient.setdefault(a.patient_id, []).append(a)
    for booked in [*(v for k, v in by_chair.items() if k is not None), *by_patient.values()]:
        booked.sort(key=lambda a: a.start_at)
        for before, after in zip(booked, booked[1:], strict=False):
            assert before.end_at <= after.start_at, (before.id, after.id)
    # the bulk load's audit entries cover its own register entries only: a line written around them is named
    with db.engine.begin() as conn:
        last = conn.execute(text("SELECT id, site_id, product_id, lot_id, location_id, balance_after_mg FROM "
                                 "register_entries WHERE kind = 'return' ORDER BY id DESC LIMIT 1")).one()
        conn.execute(text("INSERT INTO register_entries (id, site_id, kind, product_id, lot_id, location_id, amount_mg, "
                          "balance_after_mg, location_balance_after_mg, recorded_at, recorded_by, details, created_at) "
                          "VALUES (:id, :site, 'receipt', :product, :lot, :place, 10, 10, 10, :at, NULL, '{}', :at)"),
                     {"id": 10_000_000, "site": last.site_id, "product": last.product_id, "lot": last.lot_id,
                      "place": last.location_id, "at": NOW})
    broken = rs.verify_register(db, system)
    assert not broken.ok and broken.first_break["code"] == "not_audited" and broken.first_break["entry_id"] == 10_000_000


def test_a_full_day_gives_the_site_another_chair_and_no_booking_overlaps():
    """Chairs.book: the asked start if a chair is free, else a later (then earlier) start that day inside the
    hours, else the next two open days, else one more chair on the day asked; a cancelled booking holds nothing."""
    from zoneinfo import ZoneInfo

    from ketaclinic.demo_bulk import Chairs, Clock

    clock = Clock(datetime(2026, 1, 5, tzinfo=UTC), days=30, dialect="sqlite")  # a Monday
    chairs = Chairs(1, "T", [11, 12], ZoneInfo("UTC"), clock)
    asked = 10 * 60  # Monday 10:00
    booked = [chairs.book(asked, 120, hold=True) for _ in range(40)]
    assert booked[:3] == [(asked, 0), (asked, 1), (asked + 120, 0)]  # then the next free start
    # Monday fills, then Tuesday and Wednesday take the overflow; only then a third chair, on Monday
    added = next(n for n, (_, chair) in enumerate(booked) if chair == 2)
    assert booked[added] == (asked, 2) and chairs.count == 3 and added >= 30
    assert {m // 1440 for m, _ in booked[:added]} == {0, 1, 2}
    for chair in range(chairs.count):
        mine = sorted(start for start, c in booked if c == chair)
        assert all(b - a >= 120 for a, b in zip(mine, mine[1:], strict=False))
        assert all(7 * 60 <= m % 1440 and m % 1440 + 120 <= 19 * 60 for m in mine)
    assert chairs.book(asked, 120, hold=False)[0] == asked and chairs.count == max(c for _, c in booked) + 1
    assert chairs.book(6 * 1440 + asked, 120, hold=True)[0] == 7 * 1440 + asked  # Sunday: closed, Monday then
    assert chairs.book(5 * 1440 + 13 * 60, 120, hold=True)[0] == 5 * 1440 + 12 * 60  # Saturday ends at 14:00


def test_a_large_synthetic_group_has_a_site_for_every_few_thousand_patients():
    """Four sites carrying 100,000 patients booked some 250 infusions a day each (256 chairs a site): the bulk
    demo adds a site per PATIENTS_PER_SITE patients beyond the named three, each with a valid, unique code."""
    from ketaclinic.demo_bulk import EXTRA_SITES, PATIENTS_PER_SITE, extra_sites
    from ketaclinic.services.sites import SiteIn

    assert extra_sites(130) == list(EXTRA_SITES)
    large = extra_sites(100_000)
    assert len(large) + 1 == 100_000 // PATIENTS_PER_SITE  # the default site and the added ones
    assert len({code for _, code in large}) == len(large) and len({name for name, _ in large}) == len(large)
    for name, code in large:
        SiteIn(name=name, code=code)  # the site service's own rules for a name and a code
