"""The demo clinic's schedule (issue 13): chairs, a room, working hours and a realistic booked week at every site.

Called once by the demo seeder after the patients are in (``ketaclinic demo``). Everything is synthetic:
- each site gets four treatment chairs and an evaluation room, and every physician and nurse who works
  there works Monday to Friday 07:00-19:00 and Saturday 08:00-14:00 (site time);
- the sessions the demo already scheduled this fortnight are put on the schedule (their appointment is the
  session; one that falls on a closed day stays off it);
- the patients with a signed plan and nothing booked get a short series of infusions from tomorrow, and a
  few evaluations and follow-ups fill the room, some of them today.
All bookings go through :mod:`ketaclinic.services.appointments` with its checks; a booking that clashes takes
the first free start the schedule proposes.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from ketaclinic.records.db import Database
from ketaclinic.records.patients import Patient
from ketaclinic.records.plans import Plan
from ketaclinic.records.schedule import Appointment, Chair
from ketaclinic.records.sessions import InfusionSession
from ketaclinic.records.sites import Site, StaffSite
from ketaclinic.services import appointments as ap
from ketaclinic.services import chairs as ch
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ServiceError

WEEK = [ch.Stretch(weekday=d, start=time(7, 0), end=time(19, 0)) for d in range(5)] + \
    [ch.Stretch(weekday=5, start=time(8, 0), end=time(14, 0))]
CHAIRS = ("Chair 1", "Chair 2", "Chair 3", "Chair 4")
SERIES_TIMES = (time(7, 30), time(8, 0), time(12, 30), time(13, 0), time(8, 30), time(13, 30))


def _count(counts: dict[str, int], what: str) -> None:
    counts[what] = counts.get(what, 0) + 1


def _book(db: Database, actor: Actor, body: dict[str, Any], zone_name: str, now: datetime,
          counts: dict[str, int], what: str) -> bool:
    """Book as asked, or at the first free start proposed; False when neither works."""
    data = ap.AppointmentIn.model_validate(body)
    try:
        ap.book(db, actor, data, clinic_timezone=zone_name, now=now)
    except ap.SlotConflict as clash:
        if not clash.proposals:
            _count(counts, "schedule: not booked (no free start)")
            return False
        moved = data.model_copy(update={"start": clash.proposals[0].starts[0], "chair_id": None
                                        if data.kind == "infusion" else data.chair_id})
        try:
            ap.book(db, actor, moved, clinic_timezone=zone_name, now=now)
        except ServiceError:
            _count(counts, "schedule: not booked (no free start)")
            return False
    except ServiceError:
        _count(counts, "schedule: not booked")
        return False
    _count(counts, what)
    return True


def seed_demo_schedule(db: Database, *, now: datetime, clinic_timezone: str = "UTC") -> dict[str, int]:
    """Chairs, hours and a booked week at every site; returns what was made (idempotent per site: a site
    that has chairs already is left as it is)."""
    actor = Actor.system("demo")
    counts: dict[str, int] = {}
    with db.reading() as uow:
        sites = list(uow.execute(select(Site).where(Site.active.is_(True)).order_by(Site.id)).scalars())
        equipped = set(uow.execute(select(Chair.site_id)).scalars())
    for site in sites:
        if site.id in equipped:
            continue
        zone_name = site.timezone or clinic_timezone
        zone = ap.zone_of(site, clinic_timezone)
        for n, name in enumerate(CHAIRS, start=1):
            ch.create_chair(db, actor, ch.ChairIn(site_id=site.id, name=name, position=n))
            _count(counts, "chairs")
        room = ch.create_chair(db, actor, ch.ChairIn(site_id=site.id, name="Room A", kind="room", position=9)).id
        with db.reading() as uow:
            staff = list(uow.execute(select(StaffSite.user_id, StaffSite.role).where(
                StaffSite.site_id == site.id, StaffSite.role.in_(("physician", "nurse")))).all())
        for user_id, _role in staff:
            ch.set_hours(db, actor, user_id, ch.HoursIn(site_id=site.id, stretches=WEEK))
            _count(counts, "staff weeks")
        if not staff:
            continue
        nurses = [u for u, r in staff if r == "nurse"]
        # 1. the sessions the demo scheduled this fortnight go on the schedule
        with db.reading() as uow:
            sessions = list(uow.execute(select(InfusionSession.id).where(
                InfusionSession.site_id == site.id, InfusionSession.state != "cancelled",
                InfusionSession.scheduled_at >= now - timedelta(days=7),
                InfusionSession.scheduled_at < now + timedelta(days=14)).order_by(InfusionSession.scheduled_at)).scalars())
        for session_id in sessions:
            try:
                ap.book_session(db, actor, session_id, clinic_timezone=zone_name)
                _count(counts, "appointments (existing sessions)")
            except ServiceError:
                _count(counts, "schedule: sessions left off (closed day or clash)")
        # 2. a short series for patients with a signed plan and nothing booked ahead
        with db.reading() as uow:
            booked_ahead = set(uow.execute(select(Appointment.patient_id).where(
                Appointment.site_id == site.id, Appointment.start_at >= now)).scalars())
            newest = select(Plan.patient_id, func.max(Plan.id).label("plan_id")).where(
                Plan.status == "signed").group_by(Plan.patient_id).subquery()
            planned = list(uow.execute(select(Patient.id, newest.c.plan_id).join(newest, newest.c.patient_id == Patient.id)
                                       .where(Patient.site_id == site.id).order_by(Patient.id)).all())
            unplanned = list(uow.execute(select(Patient.id).where(Patient.site_id == site.id, Patient.id.not_in(
                [p for p, _ in planned] or [-1])).order_by(Patient.id)).scalars())
        tomorrow = (now.astimezone(zone) + timedelta(days=1)).date()
        for k, (patient_id, plan_id) in enumerate(p for p in planned if p[0] not in booked_ahead):
            if k >= 6:
                break
            start = ap.at_local(tomorrow + timedelta(days=k % 3), SERIES_TIMES[k % len(SERIES_TIMES)], zone)
            body = {"patient_id": patient_id, "kind": "infusion", "plan_id": plan_id, "start": start.isoformat(),
                    "series": {"count": 3, "interval_days": 2, "weekdays_only": True},
                    "nurse_id": nurses[k % len(nurses)] if nurses and k < 2 else None,
                    "note": "Synthetic demo booking."}
            _book(db, actor, body, zone_name, now, counts, "series booked (3 infusions each)")
        # 3. evaluations and follow-ups in the room, some today
        today = now.astimezone(zone).date()
        visits = [(pid, "evaluation") for pid in unplanned[:3]] + [(pid, "follow_up") for pid, _ in planned[-3:]]
        for k, (patient_id, kind) in enumerate(visits):
            day = today if k % 2 == 0 else tomorrow + timedelta(days=k)
            start = ap.at_local(day, time(9 + k, 0), zone)
            _book(db, actor, {"patient_id": patient_id, "kind": kind, "start": start.isoformat(), "chair_id": room,
                              "note": "Synthetic demo booking."}, zone_name,
                  ap.at_local(today, time.min, zone) - timedelta(hours=1), counts, f"{kind.replace('_', '-')}s booked")
    return dict(sorted(counts.items()))
