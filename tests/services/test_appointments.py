"""Booking (issue 13, design.md 4.9): series all or nothing, clashes with codes, the session is the
appointment, reschedule / cancel / no-show, the waiting list, DST, and two bookings at once on PostgreSQL."""

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from ketaclinic.records.audit import AuditEntry
from ketaclinic.records.schedule import Appointment
from ketaclinic.records.sessions import InfusionSession
from ketaclinic.services import appointments as ap
from ketaclinic.services import chairs as ch
from ketaclinic.services import clinic_settings as cs
from ketaclinic.services import sessions as ss
from ketaclinic.services.errors import Conflict, Forbidden, ValidationFailed
from tests.services.schedule_support import NOW, at, ready_clinic

SQLITE = pytest.mark.parametrize("engine", ["sqlite"])


def book(db, clinic, **body):
    body.setdefault("patient_id", clinic.own_patient_id)
    body.setdefault("kind", "infusion")
    actor = clinic.actors[body.pop("as_", "coordinator")]
    return ap.book(db, actor, ap.AppointmentIn.model_validate(body), now=NOW)


def _count(db, model) -> int:
    with db.reading() as uow:
        return len(uow.execute(select(model)).scalars().all())


@SQLITE
def test_a_series_books_whole_each_infusion_is_its_session(db, clinic):
    ready = ready_clinic(db, clinic)
    booked = book(db, clinic, start=at(4, 8).isoformat(), chair_id=ready.chairs[0], nurse_id=ready.nurse_id,
                  series={"count": 6, "interval_days": 2, "weekdays_only": True})
    assert len(booked.items) == 6 and {a.series_id for a in booked.items} != {None}
    first = booked.items[0]
    assert first.end - first.start == timedelta(minutes=5 + 240 + 60 + 15)  # bolus + infusion + observation + turnover
    assert [a.start.day for a in booked.items] == [4, 6, 8, 11, 13, 15]  # Sunday the 10th moves to Monday
    session = ss.get_session(db, clinic.actors["nurse"], first.session_id)  # the nurse's console opens the same record
    assert session.state == "scheduled" and session.scheduled_at == first.start and session.plan_id == ready.plan_id
    with db.reading() as uow:
        actions = [e.action for e in uow.execute(select(AuditEntry)).scalars()]
    assert actions.count("appointment.book") == 6 and actions.count("session.schedule") == 6


@SQLITE
def test_clashes_refuse_the_whole_series_and_propose_free_starts(db, clinic):
    ready = ready_clinic(db, clinic)
    book(db, clinic, kind="evaluation", patient_id=clinic.other_patient_id, start=at(6, 9).isoformat(),
         chair_id=ready.room)
    before = (_count(db, Appointment), _count(db, InfusionSession))
    with pytest.raises(ap.SlotConflict) as refused:  # Room A is taken on the 6th at 09:00: nothing is booked
        book(db, clinic, kind="follow_up", start=at(4, 9).isoformat(), chair_id=ready.room,
             series={"count": 3, "interval_days": 1})
    assert refused.value.code == "chair_busy" and refused.value.status == 409
    assert "session 3 of 3" in refused.value.message and "First free" in refused.value.message
    assert refused.value.proposals and (_count(db, Appointment), _count(db, InfusionSession)) == before
    slots = ap.propose_slots(db, clinic.actors["coordinator"], ap.AppointmentIn.model_validate(
        {"patient_id": clinic.own_patient_id, "kind": "follow_up", "start": at(4, 9).isoformat(), "chair_id": ready.room,
         "series": {"count": 3, "interval_days": 1}}), now=NOW)
    assert slots.clashes[0]["code"] == "chair_busy" and slots.items[0].starts[0] == at(4, 10)  # the evaluation holds the room 09:00-10:00
    book(db, clinic, kind="follow_up", start=slots.items[0].starts[0].isoformat(), chair_id=ready.room,
         series={"count": 3, "interval_days": 1})


@SQLITE
def test_each_guard_answers_its_code(db, clinic):
    ready = ready_clinic(db, clinic)
    book(db, clinic, start=at(4, 8).isoformat(), chair_id=ready.chairs[0], nurse_id=ready.nurse_id)
    cases = {
        "chair_busy": dict(start=at(4, 9).isoformat(), chair_id=ready.chairs[0], patient_id=clinic.other_patient_id,
                           kind="evaluation"),
        "nurse_busy": dict(start=at(4, 9).isoformat(), chair_id=ready.room, nurse_id=ready.nurse_id,
                           patient_id=clinic.other_patient_id, kind="evaluation"),
        "patient_double_booked": dict(start=at(4, 10).isoformat(), chair_id=ready.room, kind="follow_up"),
        "physician_not_on_site": dict(start=at(5, 15).isoformat()),  # 15:00 + 5 h 20 ends after 19:00
        "nurse_off_shift": dict(start=at(5, 18, 45).isoformat(), kind="follow_up", nurse_id=ready.nurse_id),
        "site_closed": dict(start=at(9, 9).isoformat()),  # a Saturday
    }
    for code, body in cases.items():
        with pytest.raises(Conflict) as refused:
            book(db, clinic, **body)
        assert refused.value.code == code, (code, refused.value.message)
    for code, body in {"start_in_past": dict(start=(NOW - timedelta(hours=1)).isoformat()),
                       "wrong_place_kind": dict(start=at(5, 8).isoformat(), chair_id=ready.room)}.items():
        with pytest.raises(ValidationFailed) as bad:
            book(db, clinic, **body)
        assert bad.value.code == code
    with pytest.raises(Forbidden):
        book(db, clinic, start=at(5, 8).isoformat(), as_="nurse")
    cs.update_settings(db, clinic.actors["admin"], 0, cs.ClinicSettingsPatch(
        schedule=cs.SchedulePolicySettings(physician_on_site=False)))
    book(db, clinic, start=at(5, 13).isoformat())  # the clinic turned the on-site rule off: 13:00-18:20 books


@SQLITE
def test_a_chair_at_another_site_is_refused(db, clinic):
    from ketaclinic.services import sites as st

    ready = ready_clinic(db, clinic)
    north = st.create_site(db, clinic.actors["admin"], st.SiteIn(name="North", code="NORTH"))
    far = ch.create_chair(db, clinic.actors["admin"], ch.ChairIn(site_id=north.id, name="Chair N1"))
    with pytest.raises(ValidationFailed) as bad:
        book(db, clinic, start=at(4, 8).isoformat(), chair_id=far.id)
    assert bad.value.code == "chair_other_site"
    assert ready.site_id != north.id


@SQLITE
def test_reschedule_moves_the_session_cancel_and_no_show_end_it(db, clinic):
    ready = ready_clinic(db, clinic)
    series = book(db, clinic, start=at(4, 8).isoformat(), series={"count": 3, "interval_days": 1})
    first, second, third = series.items
    coordinator = clinic.actors["coordinator"]
    moved = ap.reschedule(db, coordinator, second.id, second.version, ap.RescheduleIn(start=at(5, 12, 0), reason="asked"),
                          now=NOW)
    assert moved.start == at(5, 12) and moved.end - moved.start == second.end - second.start
    assert ss.get_session(db, clinic.actors["nurse"], second.session_id).scheduled_at == at(5, 12)
    other = book(db, clinic, kind="evaluation", patient_id=clinic.other_patient_id, start=at(7, 9).isoformat(),
                 chair_id=ready.chairs[0]).items[0]
    elsewhere = ap.reschedule(db, coordinator, first.id, first.version, ap.RescheduleIn(start=at(7, 8)), now=NOW)
    assert elsewhere.chair_id == ready.chairs[1]  # its chair is taken at the new time: the next free one
    first = elsewhere
    assert other.chair_id == ready.chairs[0]
    with pytest.raises(Conflict) as clash:  # onto the third, the same patient: refused
        ap.reschedule(db, coordinator, moved.id, moved.version, ap.RescheduleIn(start=at(6, 9), chair_id=ready.chairs[1]),
                          now=NOW)
    assert clash.value.code == "patient_double_booked"
    with pytest.raises(Conflict):
        ap.reschedule(db, coordinator, moved.id, moved.version + 5, ap.RescheduleIn(start=at(7, 9)), now=NOW)
    cancelled = ap.cancel(db, coordinator, third.id, third.version, ap.CancelIn(reason="unwell"), now=NOW)
    assert cancelled.status == "cancelled" and cancelled.status_reason == "unwell"
    assert ss.get_session(db, clinic.actors["nurse"], third.session_id).state == "cancelled"
    with pytest.raises(Conflict):  # sealed
        ap.cancel(db, coordinator, third.id, cancelled.version, ap.CancelIn(reason="again"), now=NOW)
    with pytest.raises(Conflict) as early:
        ap.mark_no_show(db, clinic.actors["nurse"], first.id, first.version, ap.NoShowIn(), now=NOW)
    assert early.value.code == "not_yet_started"
    gone = ap.mark_no_show(db, clinic.actors["nurse"], first.id, first.version, ap.NoShowIn(note="no answer"),
                           now=at(7, 9))
    assert gone.status == "no_show" and ss.get_session(db, clinic.actors["nurse"], first.session_id).state == "cancelled"
    book(db, clinic, start=at(6, 8).isoformat(), chair_id=ready.chairs[1])  # the cancelled slot's patient time is free


@SQLITE
def test_a_series_keeps_nine_oclock_across_the_dst_change(db, clinic):
    ready = ready_clinic(db, clinic)
    from ketaclinic.services import sites as st

    site = st.get_site(db, clinic.actors["admin"], ready.site_id)
    st.update_site(db, clinic.actors["admin"], ready.site_id, site.version, st.SitePatch(timezone="America/New_York"))
    start = "2027-03-11T09:00:00-05:00"  # Thursday before the spring-forward Sunday
    booked = ap.book(db, clinic.actors["coordinator"], ap.AppointmentIn.model_validate(
        {"patient_id": clinic.own_patient_id, "kind": "follow_up", "start": start, "chair_id": ready.room,
         "series": {"count": 4, "interval_days": 1, "weekdays_only": True}}), now=NOW)
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    assert [a.start.astimezone(ny).strftime("%a %H:%M") for a in booked.items] == \
        ["Thu 09:00", "Fri 09:00", "Mon 09:00", "Tue 09:00"]
    assert [a.start.hour for a in booked.items] == [14, 14, 13, 13]


@SQLITE
def test_the_waiting_list_closes_when_the_patient_is_booked(db, clinic):
    ready = ready_clinic(db, clinic)
    coordinator = clinic.actors["coordinator"]
    entry = ap.add_to_waiting_list(db, coordinator, ap.WaitingIn(patient_id=clinic.own_patient_id, kind="infusion"))
    with pytest.raises(Conflict):
        ap.add_to_waiting_list(db, coordinator, ap.WaitingIn(patient_id=clinic.own_patient_id, kind="infusion"))
    assert [w.id for w in ap.list_waiting(db, coordinator)] == [entry.id]
    booked = book(db, clinic, start=at(4, 8).isoformat(), chair_id=ready.chairs[0])
    assert ap.list_waiting(db, coordinator) == []
    with db.reading() as uow:
        from ketaclinic.records.schedule import WaitingEntry

        assert uow.get(WaitingEntry, entry.id).appointment_id == booked.items[0].id


@SQLITE
def test_patient_sees_own_upcoming_with_instructions(db, clinic):
    ready = ready_clinic(db, clinic)
    book(db, clinic, start=at(4, 8).isoformat(), chair_id=ready.chairs[0])
    book(db, clinic, kind="evaluation", patient_id=clinic.other_patient_id, start=at(4, 8).isoformat(),
         chair_id=ready.room)
    mine = ap.upcoming_for_patient(db, clinic.actors["patient"], now=NOW)
    assert [u.kind for u in mine] == ["infusion"]
    assert any("Escort" in line for line in mine[0].instructions) and any("driving" in line for line in mine[0].instructions)
    assert ap.list_appointments(db, clinic.actors["patient"]).items[0].patient_id == clinic.own_patient_id


@pytest.mark.parametrize("engine", ["postgresql"])
def test_two_bookings_of_one_chair_at_once_one_wins(db, clinic, monkeypatch):
    ready = ready_clinic(db, clinic)
    from tests.interop.flows import signed_plan

    signed_plan(db, clinic, clinic.other_patient_id)
    read_book = ap._book_of

    def slow_reader(*args, **kwargs):  # the real read, then a pause: both bookings are between check and insert
        found = read_book(*args, **kwargs)
        time.sleep(0.4)
        return found

    monkeypatch.setattr(ap, "_book_of", slow_reader)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def attempt(patient_id: int) -> None:
        barrier.wait()
        try:
            results.append(book(db, clinic, patient_id=patient_id, start=at(4, 8).isoformat(), chair_id=ready.chairs[0]))
        except Conflict as error:
            results.append(error)

    threads = [threading.Thread(target=attempt, args=(p,)) for p in (clinic.own_patient_id, clinic.other_patient_id)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(refused) == 1 and refused[0].code == "chair_busy"
    with db.reading() as uow:
        assert len(uow.execute(select(Appointment).where(Appointment.chair_id == ready.chairs[0])).scalars().all()) == 1


@SQLITE
def test_a_session_scheduled_without_a_booking_goes_on_the_schedule_once(db, clinic):
    ready = ready_clinic(db, clinic)
    legacy = ss.schedule_session(db, clinic.actors["coordinator"], ss.SessionIn(
        patient_id=clinic.own_patient_id, plan_id=ready.plan_id, scheduled_at=at(4, 8)), now=NOW)
    booked = ap.book_session(db, clinic.actors["coordinator"], legacy.id)
    assert booked.session_id == legacy.id and booked.chair_id == ready.chairs[0] and booked.start == at(4, 8)
    with pytest.raises(Conflict) as again:
        ap.book_session(db, clinic.actors["coordinator"], legacy.id)
    assert again.value.code == "already_booked"
