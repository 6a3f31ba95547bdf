"""Appointments: booking, a whole series, reschedule, cancel, no-show and the waiting list (issue 13, design.md 4.9).

One function per action, each one transaction with its audit entry (other parts hook in here, e.g. the
reminders' outbox): :func:`book`, :func:`reschedule`, :func:`cancel`, :func:`mark_no_show`.

- **Who**: coordinators and physicians book, move and cancel; nurses also mark a no-show; staff read the
  book of their own sites; a patient reads their own upcoming appointments.
- **How long**: :func:`ketaclinic.clinical.scheduling.appointment_minutes` (an infusion: the plan's
  infusion time + the observation (the longer of the protocol's and the clinic's) + the chair's turnover).
- **An infusion is its session**: booking an infusion creates the
  :class:`~ketaclinic.records.sessions.InfusionSession` (state ``scheduled``) from the patient's signed
  plan and links it 1:1, so the nurse's console opens the same record; moving the appointment moves the
  session, cancelling it cancels the session.
- **Clashes** (409, ``error.code``): ``chair_busy``, ``nurse_busy``, ``nurse_off_shift``,
  ``physician_not_on_site``, ``patient_double_booked``, ``site_closed``. A series is all or nothing: one
  clash refuses every session, and the message names the first free starts
  (:func:`propose_slots` answers them as data). Bad input is 422: ``start_in_past``, ``chair_other_site``,
  ``wrong_place_kind``.
- **Concurrency**: the checks and the insert run under locks on the site, the nurse, the physician and the
  patient (PostgreSQL advisory transaction locks, taken in one order; SQLite's ``BEGIN IMMEDIATE``
  serialises writers), so two bookings of one chair at once cannot both succeed.
- **Time**: stored in UTC; a series keeps its local wall-clock time in the site's zone (the site's own,
  else the clinic's) across daylight-saving changes.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import and_, or_, select, text
from sqlalchemy.orm import Session

from ketaclinic.clinical.protocols import get_protocol
from ketaclinic.clinical.scheduling import (
    Booked,
    Candidate,
    Clash,
    SchedulePolicy,
    Staffing,
    WeeklyHours,
    appointment_minutes,
    at_local,
    book_all,
    infusion_minutes,
    propose,
    series_starts,
    shifts_between,
)
from ketaclinic.clock import utcnow
from ketaclinic.records.db import Database
from ketaclinic.records.patients import Patient
from ketaclinic.records.plans import Plan
from ketaclinic.records.schedule import Appointment, Chair, StaffAbsence, StaffHours, WaitingEntry
from ketaclinic.records.sessions import InfusionSession, SessionEvent
from ketaclinic.records.sites import Site, StaffSite
from ketaclinic.services import reminders
from ketaclinic.services.chairs import ChairView
from ketaclinic.services.clinic_settings import (
    current,
    current_minimum_observation_min,
    current_schedule_policy,
)
from ketaclinic.services.common import (
    audit,
    check_version,
    clamp_limit,
    decode_cursor,
    encode_cursor,
    get_or_404,
    require_role,
    unit_of_work,
)
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Conflict, NotFound, ValidationFailed
from ketaclinic.services.evaluations import RecordId
from ketaclinic.services.patients import load_patient
from ketaclinic.services.sessions import _current_plan, _signed_plan
from ketaclinic.services.sites import may_see_site, site_bound
from ketaclinic.services.staff import staff_names
from ketaclinic.services.types import ScheduledAt, Text

BOOK_ROLES = ("coordinator", "physician")
NO_SHOW_ROLES = ("coordinator", "physician", "nurse")
READ_ROLES = ("coordinator", "physician", "nurse")
PATIENT_ROLES = ("patient",)
Kind = Literal["evaluation", "infusion", "follow_up"]
KIND_WORDS = {"evaluation": "Evaluation", "infusion": "Infusion", "follow_up": "Follow-up"}
#: What the patient reads before each kind of visit (shown in the portal; fasting times are the clinic's).
INSTRUCTIONS: dict[str, tuple[str, ...]] = {
    "infusion": (
        "Fasting: no solid food for {light_meal:g} hours and no clear liquids for {clear_liquid:g} hours before "
        "the appointment (the clinic's fasting times).",
        "Escort: an adult must take you home; you cannot leave alone.",
        "No driving, cycling or operating machinery until the next day, after a night's sleep.",
        "Bring your medication list; take your usual medicines unless the clinic told you otherwise.",
    ),
    "evaluation": ("Bring your medication list, recent test results and any letters from other doctors.",),
    "follow_up": ("Bring your pain diary or fill it in on the portal before the visit.",),
}
_FORBID = ConfigDict(extra="forbid")
_LOCK_SPACE = 0x4B43  # "KC": the advisory-lock namespace of the schedule


# --- input --------------------------------------------------------------------------------------


class SeriesIn(BaseModel):
    """A whole series in one request: ``count`` sessions ``interval_days`` apart, all or nothing."""

    model_config = _FORBID
    count: int = Field(ge=1, le=30)
    interval_days: int = Field(default=1, ge=1, le=60)
    weekdays_only: bool = Field(default=False, description="Move a Saturday or Sunday to the next Monday "
                                "(10 daily weekday sessions: count 10, interval_days 1, weekdays_only true)")


class AppointmentIn(BaseModel):
    """Book an appointment (contract 4.9). ``start`` carries its offset; a series repeats it at the same
    local time. An infusion without ``chair_id`` gets the first free chair; without ``plan_id`` the
    patient's current signed plan."""

    model_config = _FORBID
    patient_id: RecordId
    kind: Kind
    start: ScheduledAt
    chair_id: RecordId | None = None
    nurse_id: RecordId | None = None
    physician_id: RecordId | None = None
    plan_id: RecordId | None = None
    series: SeriesIn | None = None
    booster: bool = Field(default=False, description="A booster infusion under the patient's current plan")
    note: Text | None = Field(default=None, max_length=2000)


class RescheduleIn(BaseModel):
    model_config = _FORBID
    start: ScheduledAt
    chair_id: RecordId | None = None
    nurse_id: RecordId | None = None
    physician_id: RecordId | None = None
    reason: Text | None = Field(default=None, max_length=2000)


class CancelIn(BaseModel):
    model_config = _FORBID
    reason: Text = Field(min_length=1, max_length=2000)


class NoShowIn(BaseModel):
    model_config = _FORBID
    note: Text | None = Field(default=None, max_length=2000)


class WaitingIn(BaseModel):
    model_config = _FORBID
    patient_id: RecordId
    kind: Kind
    plan_id: RecordId | None = None
    earliest: AwareDatetime | None = None
    note: Text | None = Field(default=None, max_length=2000)


# --- output ---------------------------------------------------------------------------------------


class AppointmentView(BaseModel):
    id: int
    version: int
    created_at: datetime
    created_by: int | None
    patient_id: int
    site_id: int
    kind: str
    start: datetime
    end: datetime
    duration_min: int
    chair_id: int | None
    nurse_id: int | None
    physician_id: int | None
    plan_id: int | None
    session_id: int | None
    series_id: str | None
    series_index: int | None
    booster: bool
    status: str
    status_reason: str | None
    note: str | None

    @classmethod
    def of(cls, a: Appointment) -> AppointmentView:
        return cls(id=a.id, version=a.version, created_at=a.created_at, created_by=a.created_by, patient_id=a.patient_id,
                   site_id=a.site_id, kind=a.kind, start=a.start_at, end=a.end_at,
                   duration_min=int((a.end_at - a.start_at).total_seconds() // 60), chair_id=a.chair_id,
                   nurse_id=a.nurse_id, physician_id=a.physician_id, plan_id=a.plan_id, session_id=a.session_id,
                   series_id=a.series_id, series_index=a.series_index, booster=a.booster, status=a.status,
                   status_reason=a.status_reason, note=a.note)


class AppointmentList(BaseModel):
    items: list[AppointmentView]
    next_cursor: str | None = None


class Proposal(BaseModel):
    """One way to book the whole request: every session's start (and the chair each would take)."""

    starts: list[datetime]
    chair_ids: list[int | None]


class ProposalList(BaseModel):
    items: list[Proposal]
    clashes: list[dict[str, Any]] = Field(default_factory=list, description="Why the request as sent cannot be booked")


class SlotConflict(Conflict):
    """A clash; ``proposals`` holds the first free alternatives (the message names them too)."""

    def __init__(self, message: str, *, code: str, field: str | None, clashes: list[dict[str, Any]],
                 proposals: list[Proposal]):
        super().__init__(message, code=code, field=field)
        self.clashes = clashes
        self.proposals = proposals


class ScheduleRow(BaseModel):
    """An appointment as the day and week views show it (names resolved)."""

    id: int
    version: int
    kind: str
    kind_words: str
    status: str
    start: datetime
    end: datetime
    patient_id: int
    patient_name: str
    chair_id: int | None
    chair_name: str | None
    nurse_name: str | None
    physician_name: str | None
    session_id: int | None
    session_state: str | None
    series_index: int | None
    series_count: int | None
    booster: bool


class UpcomingView(BaseModel):
    """A patient's upcoming appointment with what to do before it."""

    id: int
    kind: str
    kind_words: str
    start: datetime
    end: datetime
    site_name: str
    site_address: str | None
    chair_name: str | None
    instructions: list[str]


# --- helpers ---------------------------------------------------------------------------------------


def zone_of(site: Site, clinic_timezone: str) -> tzinfo:
    return ZoneInfo(site.timezone or clinic_timezone)


def _lock(uow: Session, keys: Sequence[tuple[str, int]]) -> None:
    """Serialise bookings that touch the same site, nurse, physician or patient (PostgreSQL)."""
    if uow.get_bind().dialect.name != "postgresql":
        return  # SQLite: BEGIN IMMEDIATE already lets one writer in at a time
    for kind, key in sorted(set(keys)):
        uow.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"),
                    {"space": _LOCK_SPACE + zlib.crc32(kind.encode()) % 1000, "key": key})


def _live(query: Any) -> Any:
    """Booked appointments whose session (if any) is not cancelled."""
    return query.outerjoin(InfusionSession, InfusionSession.id == Appointment.session_id).where(
        Appointment.status == "booked", or_(InfusionSession.id.is_(None), InfusionSession.state != "cancelled"))


def _book_of(uow: Session, site_id: int, start: datetime, end: datetime, nurse_ids: set[int],
             patient_id: int) -> list[Booked]:
    who = [Appointment.site_id == site_id, Appointment.patient_id == patient_id]
    if nurse_ids:
        who.append(Appointment.nurse_id.in_(nurse_ids))
    rows = uow.execute(_live(select(Appointment)).where(or_(*who), Appointment.start_at < end,
                                                        Appointment.end_at > start)).scalars().all()
    return [Booked(id=a.id, patient_id=a.patient_id, kind=a.kind, start=a.start_at, end=a.end_at, chair_id=a.chair_id,
                   nurse_id=a.nurse_id, physician_id=a.physician_id) for a in rows]


def _staffing(uow: Session, site_id: int, zone: tzinfo, first_day: date, last_day: date) -> Staffing:
    members = uow.execute(select(StaffSite.user_id, StaffSite.role).where(StaffSite.site_id == site_id)).all()
    hours = [WeeklyHours(h.user_id, h.weekday, h.start_min, h.end_min) for h in uow.execute(
        select(StaffHours).where(StaffHours.site_id == site_id)).scalars()]
    lo = datetime.combine(first_day - timedelta(days=1), time.min, tzinfo=zone)
    hi = datetime.combine(last_day + timedelta(days=2), time.min, tzinfo=zone)
    absences = [(a.user_id, a.starts_at, a.ends_at) for a in uow.execute(
        select(StaffAbsence).where(StaffAbsence.starts_at < hi, StaffAbsence.ends_at > lo)).scalars()]
    shifts, open_days = shifts_between(hours, absences, zone, first_day, last_day)
    names = {k: v for k, v in staff_names(uow, [m.user_id for m in members]).items() if k is not None}
    return Staffing(shifts=shifts, physicians=frozenset(u for u, r in members if r == "physician"),
                    nurses=frozenset(u for u, r in members if r == "nurse"), open_days=open_days, names=names)


def _place(uow: Session, chair_id: int | None, site_id: int, kind: str) -> Chair | None:
    if chair_id is None:
        return None
    chair = uow.get(Chair, chair_id)
    if chair is None:
        raise ValidationFailed(f"there is no chair or room {chair_id}", field="chair_id")
    if chair.site_id != site_id:
        raise ValidationFailed(f"{chair.name} is at another site than the patient's: choose a place at the "
                               "patient's site", code="chair_other_site", field="chair_id")
    if not chair.active:
        raise ValidationFailed(f"{chair.name} is retired", code="chair_retired", field="chair_id")
    if kind == "infusion" and chair.kind != "chair":
        raise ValidationFailed(f"{chair.name} is a room: an infusion needs a treatment chair", code="wrong_place_kind",
                               field="chair_id")
    return chair


def _staff_member(uow: Session, user_id: int | None, site_id: int, role: str, field: str) -> None:
    if user_id is None:
        return
    found = uow.execute(select(StaffSite.id).where(StaffSite.user_id == user_id, StaffSite.site_id == site_id,
                                                   StaffSite.role == role)).first()
    if found is None:
        raise ValidationFailed(f"user {user_id} does not work as a {role} at the patient's site", code=f"not_a_{role}",
                               field=field)


def _minutes(uow: Session, kind: str, plan: Plan | None, policy: SchedulePolicy) -> int:
    if kind != "infusion":
        return appointment_minutes(kind, policy)
    assert plan is not None
    protocol = get_protocol(plan.protocol_id)
    steps = plan.steps or [s.__dict__ for s in protocol.steps]
    observation = max(protocol.min_observation_after_stop_min, current_minimum_observation_min(uow))
    return appointment_minutes("infusion", policy, infusion_min=infusion_minutes(steps), observation_min=observation)


def _when(value: datetime, zone: tzinfo) -> str:
    return value.astimezone(zone).strftime("%a %d %b %Y %H:%M")


def _refuse(problems: list[tuple[int, Clash]], count: int, proposals: list[list[Candidate]], zone: tzinfo) -> SlotConflict:
    index, first = problems[0]
    where = f"session {index + 1} of {count}: " if count > 1 else ""
    offered = [Proposal(starts=[c.start for c in p], chair_ids=[c.chair_id for c in p]) for p in proposals]
    if offered:
        tail = " First free: " + "; ".join(_when(p.starts[0], zone) + (f" (series of {count})" if count > 1 else "")
                                         for p in offered) + "."
    else:
        tail = " No free start in the next 14 days."
    more = f" ({len(problems) - 1} more clash(es) in this request; nothing was booked)" if len(problems) > 1 else \
        (" Nothing was booked." if count > 1 else "")
    return SlotConflict(where + first.message + "." + more + tail, code=first.code, field=first.field,
                        clashes=[{"session": i + 1, **c.as_dict()} for i, c in problems], proposals=offered)


class _Request:
    """A booking request resolved against the records: patient, site, zone, plan, candidates."""

    def __init__(self, uow: Session, actor: Actor, data: AppointmentIn, clinic_timezone: str, now: datetime):
        if data.start < now:
            raise ValidationFailed("the start is in the past: choose a time from now on", code="start_in_past",
                                   field="start")
        self.patient = load_patient(uow, actor, data.patient_id)
        self.site = uow.get(Site, self.patient.site_id)
        assert self.site is not None
        if not self.site.active:
            raise ValidationFailed(f"site {self.site.name} is closed", code="site_closed", field="patient_id")
        self.zone = zone_of(self.site, clinic_timezone)
        self.policy = current_schedule_policy(uow)
        self.plan: Plan | None = None
        if data.kind == "infusion":
            self.plan = _signed_plan(uow, data.plan_id, self.patient.id) if data.plan_id is not None else \
                _current_plan(uow, self.patient.id)
        elif data.plan_id is not None:
            plan = uow.get(Plan, data.plan_id)
            if plan is None or plan.patient_id != self.patient.id:
                raise NotFound("plan not found for this patient", field="plan_id")
            self.plan = plan
        _place(uow, data.chair_id, self.site.id, data.kind)
        _staff_member(uow, data.nurse_id, self.site.id, "nurse", "nurse_id")
        _staff_member(uow, data.physician_id, self.site.id, "physician", "physician_id")
        self.minutes = _minutes(uow, data.kind, self.plan, self.policy)
        series = data.series or SeriesIn(count=1)
        self.rule = (series.count, series.interval_days, series.weekdays_only)
        starts = series_starts(data.start, self.zone, series.count, series.interval_days, series.weekdays_only)
        length = timedelta(minutes=self.minutes)
        self.candidates = [Candidate(patient_id=self.patient.id, kind=data.kind, start=s, end=s + length,
                                     chair_id=data.chair_id, nurse_id=data.nurse_id, physician_id=data.physician_id)
                           for s in starts]
        kind = "chair" if data.kind == "infusion" else None
        self.chair_ids = [c.id for c in uow.execute(select(Chair).where(Chair.site_id == self.site.id,
                                                                        Chair.active.is_(True))
                                                    .order_by(Chair.position, Chair.name)).scalars()
                          if kind is None or c.kind == kind] if data.chair_id is None else []
        if data.kind == "infusion" and data.chair_id is None and not self.chair_ids:
            raise Conflict(f"site {self.site.name} has no treatment chair: an administrator adds chairs first",
                           code="chair_busy", field="chair_id")
        if data.kind != "infusion":
            self.chair_ids = []  # rooms are chosen, never assigned

    def window(self, extra_days: int = 0) -> tuple[datetime, datetime, date, date]:
        start = min(c.start for c in self.candidates)
        end = max(c.end for c in self.candidates) + timedelta(days=extra_days)
        return start, end, start.astimezone(self.zone).date(), end.astimezone(self.zone).date()

    def nurse_ids(self) -> set[int]:
        return {c.nurse_id for c in self.candidates if c.nurse_id is not None}

    def check(self, uow: Session, replaces: frozenset[int] = frozenset()) -> tuple[list[Candidate], list[tuple[int, Clash]]]:
        start, end, first_day, last_day = self.window()
        booked = _book_of(uow, self.site.id, start, end, self.nurse_ids(), self.patient.id)
        staffing = _staffing(uow, self.site.id, self.zone, first_day, last_day)
        candidates = [replace(c, replaces=replaces) for c in self.candidates]
        return book_all(candidates, booked, staffing, self.zone, self.policy, self.chair_ids)

    def proposals(self, uow: Session, now: datetime, limit: int = 3) -> list[list[Candidate]]:
        horizon = 14
        start, end, first_day, last_day = self.window(extra_days=horizon + 1)
        booked = _book_of(uow, self.site.id, start, end, self.nurse_ids(), self.patient.id)
        staffing = _staffing(uow, self.site.id, self.zone, first_day, last_day)
        return propose(self.candidates, booked, staffing, self.zone, self.policy, self.chair_ids, limit=limit,
                       horizon_days=horizon, not_before=now, rule=self.rule)


def _make_sessions(uow: Session, actor: Actor, patient: Patient, plan: Plan, site_id: int, starts: list[datetime],
                   now: datetime) -> list[InfusionSession]:
    """The infusion sessions the booked appointments are (state ``scheduled``), inserted together."""
    sessions = [InfusionSession(patient_id=patient.id, plan_id=plan.id, site_id=site_id, scheduled_at=start,
                                state="scheduled", checklist={}, created_by=actor.user_id, created_at=now)
                for start in starts]
    uow.add_all(sessions)
    uow.flush()
    for session in sessions:
        audit(uow, actor, "session.schedule", "session", session.id,
              {"patient_id": patient.id, "plan_id": plan.id, "scheduled_at": session.scheduled_at.isoformat(),
               "via": "appointment"})
    return sessions


# --- booking -------------------------------------------------------------------------------------------


def book(db: Database, actor: Actor, data: AppointmentIn, *, clinic_timezone: str = "UTC",
         now: datetime | None = None) -> AppointmentList:
    """Book one appointment or a whole series (all or nothing); an infusion creates its session."""
    require_role(actor, *BOOK_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        request = _Request(uow, actor, data, clinic_timezone, now)
        keys = [("site", request.site.id), ("patient", request.patient.id)]
        keys += [("user", u) for u in (data.nurse_id, data.physician_id) if u is not None]
        _lock(uow, keys)
        placed, problems = request.check(uow)
        if problems:
            raise _refuse(problems, len(placed), request.proposals(uow, now), request.zone)
        series_id = str(uuid.uuid4()) if len(placed) > 1 else None
        sessions = _make_sessions(uow, actor, request.patient, request.plan, request.site.id,
                                  [c.start for c in placed], now) if data.kind == "infusion" and request.plan else \
            [None] * len(placed)
        made: list[Appointment] = []
        for index, (c, session) in enumerate(zip(placed, sessions, strict=True)):
            appointment = Appointment(
                site_id=request.site.id, patient_id=request.patient.id, kind=data.kind, start_at=c.start, end_at=c.end,
                chair_id=c.chair_id, nurse_id=c.nurse_id, physician_id=c.physician_id,
                plan_id=request.plan.id if request.plan else None, session_id=session.id if session else None,
                series_id=series_id, series_index=index + 1 if series_id else None, booster=data.booster,
                status="booked", note=data.note, created_by=actor.user_id, created_at=now)
            uow.add(appointment)
            made.append(appointment)
        uow.flush()
        waiting = uow.execute(select(WaitingEntry).where(WaitingEntry.patient_id == request.patient.id,
                                                         WaitingEntry.kind == data.kind,
                                                         WaitingEntry.status == "waiting")).scalars().all()
        for entry in waiting:
            entry.status, entry.appointment_id, entry.closed_at = "booked", made[0].id, now
        for a in made:
            audit(uow, actor, "appointment.book", "appointment", a.id,
                  {"patient_id": a.patient_id, "kind": a.kind, "start": a.start_at.isoformat(),
                   "end": a.end_at.isoformat(), "chair_id": a.chair_id, "nurse_id": a.nurse_id,
                   "session_id": a.session_id, "series_id": a.series_id, "series_index": a.series_index})
        uow.flush()
        reminders.on_booked(uow, made, now)  # issue 13: the confirmation and reminders, in this transaction
        return AppointmentList(items=[AppointmentView.of(a) for a in made])


def book_session(db: Database, actor: Actor, session_id: int, *, chair_id: int | None = None,
                 nurse_id: int | None = None, clinic_timezone: str = "UTC") -> AppointmentView:
    """Put a session scheduled without a booking (``POST /sessions``, or before the schedule existed) on the
    schedule: its appointment is made with the booking checks (a free chair, the staff, the patient)."""
    require_role(actor, *BOOK_ROLES)
    with unit_of_work(db) as uow:
        session = uow.get(InfusionSession, session_id)
        if session is None:
            raise NotFound("session not found")
        if uow.execute(select(Appointment.id).where(Appointment.session_id == session_id)).first():
            raise Conflict("this session is already on the schedule", code="already_booked")
        if session.state == "cancelled":
            raise Conflict("a cancelled session is not booked", code="invalid_transition")
        data = AppointmentIn(patient_id=session.patient_id, kind="infusion", start=session.scheduled_at,
                             chair_id=chair_id, nurse_id=nurse_id, plan_id=session.plan_id)
        request = _Request(uow, actor, data, clinic_timezone, session.scheduled_at)
        _lock(uow, [("site", request.site.id), ("patient", request.patient.id)])
        placed, problems = request.check(uow)
        if problems:
            raise _refuse(problems, 1, [], request.zone)
        c = placed[0]
        appointment = Appointment(site_id=request.site.id, patient_id=session.patient_id, kind="infusion",
                                  start_at=c.start, end_at=c.end, chair_id=c.chair_id, nurse_id=c.nurse_id,
                                  physician_id=None, plan_id=session.plan_id, session_id=session.id, booster=False,
                                  status="booked", created_by=actor.user_id)
        uow.add(appointment)
        uow.flush()
        if c.start > utcnow():
            reminders.on_booked(uow, [appointment], utcnow())  # the confirmation and reminders, as for any booking
        audit(uow, actor, "appointment.book", "appointment", appointment.id,
              {"patient_id": appointment.patient_id, "kind": "infusion", "start": c.start.isoformat(),
               "end": c.end.isoformat(), "chair_id": c.chair_id, "session_id": session.id, "existing_session": True})
        return AppointmentView.of(appointment)


def propose_slots(db: Database, actor: Actor, data: AppointmentIn, *, clinic_timezone: str = "UTC",
                  now: datetime | None = None, limit: int = 3) -> ProposalList:
    """Whether the request fits as sent (``clashes``) and the first free ways to book it (``items``)."""
    require_role(actor, *BOOK_ROLES)
    now = now or utcnow()
    with db.reading() as uow:
        request = _Request(uow, actor, data, clinic_timezone, now)
        placed, problems = request.check(uow)
        items = [] if not problems else request.proposals(uow, now, limit)
        if not problems:
            items = [placed]
        return ProposalList(items=[Proposal(starts=[c.start for c in p], chair_ids=[c.chair_id for c in p]) for p in items],
                            clashes=[{"session": i + 1, **c.as_dict()} for i, c in problems])


def _load(uow: Session, actor: Actor, appointment_id: int) -> Appointment:
    appointment = uow.get(Appointment, appointment_id)
    if appointment is None or not may_see_site(actor, appointment.site_id) or \
            (actor.is_patient and actor.patient_id != appointment.patient_id):
        raise NotFound("appointment not found")
    load_patient(uow, actor, appointment.patient_id)
    return appointment


def _booked(appointment: Appointment, action: str) -> None:
    if appointment.status != "booked":
        raise Conflict(f"a {appointment.status.replace('_', '-')} appointment cannot be {action}",
                       code="invalid_transition")


def _session_state_change(uow: Session, actor: Actor, session: InfusionSession, target: str, now: datetime,
                          detail: dict[str, Any]) -> None:
    previous = session.state
    session.state = target
    uow.add(SessionEvent(session_id=session.id, kind="state_change", payload={"from": previous, "to": target, **detail},
                         minute=None, recorded_at=now, recorded_by=actor.user_id, created_at=now))


def reschedule(db: Database, actor: Actor, appointment_id: int, expected_version: int | None, data: RescheduleIn,
               *, clinic_timezone: str = "UTC", now: datetime | None = None) -> AppointmentView:
    """Move one appointment (and its session) to a new start, chair or nurse, with the same checks as booking."""
    require_role(actor, *BOOK_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        appointment = _load(uow, actor, appointment_id)
        check_version(appointment, expected_version)
        _booked(appointment, "moved")
        session = uow.get(InfusionSession, appointment.session_id) if appointment.session_id else None
        if session is not None and session.state != "scheduled":
            raise Conflict(f"the session is already {session.state.replace('_', ' ')}: it cannot be moved",
                           code="invalid_transition")
        request_in = AppointmentIn(patient_id=appointment.patient_id, kind=appointment.kind, start=data.start,  # type: ignore[arg-type]
                                   chair_id=data.chair_id or appointment.chair_id,
                                   nurse_id=data.nurse_id if data.nurse_id is not None else appointment.nurse_id,
                                   physician_id=data.physician_id if data.physician_id is not None else appointment.physician_id,
                                   plan_id=appointment.plan_id if appointment.kind == "infusion" else None)
        request = _Request(uow, actor, request_in, clinic_timezone, now)
        request.minutes = int((appointment.end_at - appointment.start_at).total_seconds() // 60)
        request.candidates = [replace(c, end=c.start + timedelta(minutes=request.minutes)) for c in request.candidates]
        keys = [("site", request.site.id), ("patient", appointment.patient_id)]
        keys += [("user", u) for u in (request_in.nurse_id, request_in.physician_id) if u is not None]
        _lock(uow, keys)
        placed, problems = request.check(uow, replaces=frozenset({appointment.id}))
        if problems and data.chair_id is None and appointment.kind == "infusion" and \
                all(p.code == "chair_busy" for _, p in problems):  # its chair is taken then: any free chair will do
            request.chair_ids = list(uow.execute(select(Chair.id).where(
                Chair.site_id == request.site.id, Chair.active.is_(True), Chair.kind == "chair")
                .order_by(Chair.position, Chair.name)).scalars())
            request.candidates = [replace(c, chair_id=None) for c in request.candidates]
            placed, problems = request.check(uow, replaces=frozenset({appointment.id}))
        if problems:
            raise _refuse(problems, 1, request.proposals(uow, now), request.zone)
        moved = placed[0]
        before = {"start": appointment.start_at.isoformat(), "chair_id": appointment.chair_id,
                  "nurse_id": appointment.nurse_id, "physician_id": appointment.physician_id}
        appointment.start_at, appointment.end_at = moved.start, moved.end
        appointment.chair_id, appointment.nurse_id, appointment.physician_id = moved.chair_id, moved.nurse_id, moved.physician_id
        if session is not None:
            session.scheduled_at = moved.start
        uow.flush()
        audit(uow, actor, "appointment.reschedule", "appointment", appointment.id,
              {"from": before, "to": {"start": moved.start.isoformat(), "chair_id": moved.chair_id,
                                      "nurse_id": moved.nurse_id, "physician_id": moved.physician_id},
               "reason": data.reason, "session_id": appointment.session_id})
        reminders.on_rescheduled(uow, appointment, datetime.fromisoformat(before["start"]), now)  # issue 13
        return AppointmentView.of(appointment)


def cancel(db: Database, actor: Actor, appointment_id: int, expected_version: int | None, data: CancelIn,
           *, now: datetime | None = None) -> AppointmentView:
    """Cancel with a reason; an infusion's session is cancelled with it."""
    require_role(actor, *BOOK_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        appointment = _load(uow, actor, appointment_id)
        check_version(appointment, expected_version)
        _booked(appointment, "cancelled")
        session = uow.get(InfusionSession, appointment.session_id) if appointment.session_id else None
        if session is not None and session.state not in ("scheduled", "checked_in", "cancelled"):
            raise Conflict(f"the session is already {session.state}: it cannot be cancelled", code="invalid_transition")
        if session is not None and session.state != "cancelled":
            _session_state_change(uow, actor, session, "cancelled", now, {"reason": data.reason,
                                                                          "appointment_id": appointment.id})
            audit(uow, actor, "session.cancel", "session", session.id, {"reason": data.reason, "via": "appointment"})
        appointment.status, appointment.status_reason, appointment.status_at = "cancelled", data.reason, now
        uow.flush()
        audit(uow, actor, "appointment.cancel", "appointment", appointment.id,
              {"reason": data.reason, "session_id": appointment.session_id})
        reminders.on_cancelled(uow, appointment, now)  # issue 13: pending reminders cancelled, a notice queued
        return AppointmentView.of(appointment)


def mark_no_show(db: Database, actor: Actor, appointment_id: int, expected_version: int | None, data: NoShowIn,
                 *, now: datetime | None = None) -> AppointmentView:
    """The patient did not come: only once the start has passed; an infusion's session is cancelled."""
    require_role(actor, *NO_SHOW_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        appointment = _load(uow, actor, appointment_id)
        check_version(appointment, expected_version)
        _booked(appointment, "marked a no-show")
        if appointment.start_at > now:
            raise Conflict("a no-show is recorded after the start time has passed", code="not_yet_started",
                           field="start")
        session = uow.get(InfusionSession, appointment.session_id) if appointment.session_id else None
        if session is not None and session.state != "scheduled":
            raise Conflict(f"the patient came (the session is {session.state.replace('_', ' ')})",
                           code="invalid_transition")
        if session is not None:
            _session_state_change(uow, actor, session, "cancelled", now, {"reason": "no-show",
                                                                          "appointment_id": appointment.id})
        appointment.status, appointment.status_reason, appointment.status_at = "no_show", data.note, now
        uow.flush()
        audit(uow, actor, "appointment.no_show", "appointment", appointment.id,
              {"note": data.note, "session_id": appointment.session_id})
        reminders.on_no_show(uow, appointment, now)  # issue 13: the note after a missed appointment
        return AppointmentView.of(appointment)


# --- reading -------------------------------------------------------------------------------------------------


def get_appointment(db: Database, actor: Actor, appointment_id: int) -> AppointmentView:
    require_role(actor, *READ_ROLES, *PATIENT_ROLES)
    with unit_of_work(db) as uow:
        appointment = _load(uow, actor, appointment_id)
        audit(uow, actor, "appointment.read", "appointment", appointment.id, {"patient_id": appointment.patient_id})
        return AppointmentView.of(appointment)


def appointment_for_session(db: Database, actor: Actor, session_id: int) -> AppointmentView | None:
    """The appointment an infusion session was booked by (None: booked before the schedule existed)."""
    require_role(actor, *READ_ROLES)
    with db.reading() as uow:
        row = uow.execute(select(Appointment).where(Appointment.session_id == session_id)).scalar_one_or_none()
        if row is None or not may_see_site(actor, row.site_id):
            return None
        return AppointmentView.of(row)


def list_appointments(db: Database, actor: Actor, *, start_from: datetime | None = None, start_to: datetime | None = None,
                      chair_id: int | None = None, patient_id: int | None = None, site_id: int | None = None,
                      status: str | None = None, limit: int | None = None, cursor: str | None = None) -> AppointmentList:
    """Appointments overlapping ``start_from``..``start_to`` in start order (a patient: their own)."""
    require_role(actor, *READ_ROLES, *PATIENT_ROLES)
    limit = clamp_limit(limit)
    if start_from and start_to and start_to <= start_from:
        raise ValidationFailed("'to' must be after 'from'", field="to")
    position = decode_cursor(cursor)
    with unit_of_work(db) as uow:
        query = select(Appointment).order_by(Appointment.start_at, Appointment.id).limit(limit + 1)
        if actor.is_patient:
            patient_id = actor.patient_id
        if patient_id is not None:
            load_patient(uow, actor, patient_id)
            query = query.where(Appointment.patient_id == patient_id)
        if site_id is not None:
            if not may_see_site(actor, site_id):
                raise NotFound("site not found", field="site_id")
            query = query.where(Appointment.site_id == site_id)
        elif site_bound(actor):
            query = query.where(Appointment.site_id.in_(actor.site_ids or (-1,)))
        if chair_id is not None:
            query = query.where(Appointment.chair_id == chair_id)
        if status is not None:
            query = query.where(Appointment.status == status)
        if start_from is not None:
            query = query.where(Appointment.end_at > start_from)
        if start_to is not None:
            query = query.where(Appointment.start_at < start_to)
        if position is not None:
            try:
                at, after = datetime.fromisoformat(position["at"]), int(position["id"])
            except (KeyError, TypeError, ValueError):
                raise ValidationFailed("cursor is not one this server gave out", field="cursor") from None
            query = query.where(or_(Appointment.start_at > at, and_(Appointment.start_at == at, Appointment.id > after)))
        rows = uow.execute(query).scalars().all()
        more = len(rows) > limit
        rows = rows[:limit]
        audit(uow, actor, "appointment.list", "appointment", None,
              {"patient_id": patient_id, "chair_id": chair_id, "ids": [a.id for a in rows]})
        next_cursor = encode_cursor({"at": rows[-1].start_at.isoformat(), "id": rows[-1].id}) if more and rows else None
        return AppointmentList(items=[AppointmentView.of(a) for a in rows], next_cursor=next_cursor)


def _rows(uow: Session, appointments: Sequence[Appointment]) -> list[ScheduleRow]:
    patients = {pid: f"{family}, {given}" for pid, family, given in uow.execute(
        select(Patient.id, Patient.family_name, Patient.given_name).where(
            Patient.id.in_({a.patient_id for a in appointments} or {-1}))).all()}
    chairs = dict(uow.execute(select(Chair.id, Chair.name).where(
        Chair.id.in_({a.chair_id for a in appointments if a.chair_id} or {-1}))).all())
    names = staff_names(uow, [a.nurse_id for a in appointments] + [a.physician_id for a in appointments])
    states = dict(uow.execute(select(InfusionSession.id, InfusionSession.state).where(
        InfusionSession.id.in_({a.session_id for a in appointments if a.session_id} or {-1}))).all())
    series = {a.series_id for a in appointments if a.series_id}
    counts: dict[str, int] = {}
    if series:
        for sid in uow.execute(select(Appointment.series_id).where(Appointment.series_id.in_(series))).scalars():
            counts[sid] = counts.get(sid, 0) + 1
    out = []
    for a in appointments:
        out.append(ScheduleRow(
            id=a.id, version=a.version, kind=a.kind, kind_words=KIND_WORDS[a.kind], status=a.status, start=a.start_at,
            end=a.end_at, patient_id=a.patient_id, patient_name=patients[a.patient_id],
            chair_id=a.chair_id, chair_name=chairs.get(a.chair_id) if a.chair_id else None,
            nurse_name=names.get(a.nurse_id) if a.nurse_id else None,
            physician_name=names.get(a.physician_id) if a.physician_id else None, session_id=a.session_id,
            session_state=states.get(a.session_id), series_index=a.series_index,
            series_count=counts.get(a.series_id) if a.series_id else None, booster=a.booster))
    return out


def schedule_rows(db: Database, actor: Actor, site_id: int, start: datetime, end: datetime,
                  *, include_cancelled: bool = False) -> list[ScheduleRow]:
    """The site's appointments overlapping ``start``..``end`` with names, for the day and week views (audited)."""
    require_role(actor, *READ_ROLES)
    with unit_of_work(db) as uow:
        if uow.get(Site, site_id) is None or not may_see_site(actor, site_id):
            raise NotFound("site not found", field="site_id")
        query = select(Appointment).where(Appointment.site_id == site_id, Appointment.start_at < end,
                                          Appointment.end_at > start).order_by(Appointment.start_at, Appointment.id)
        if not include_cancelled:
            query = query.where(Appointment.status != "cancelled")
        rows = uow.execute(query).scalars().all()
        audit(uow, actor, "appointment.list", "appointment", None, {"site_id": site_id, "from": start.isoformat(),
                                                                    "to": end.isoformat(), "ids": [a.id for a in rows]})
        return _rows(uow, rows)


class DayPage(BaseModel):
    """What the day view shows: the site's zone, its places (column order) and the day's appointments."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    site_id: int
    zone: Any
    places: list[Any]
    rows: list[ScheduleRow]


def day_page(db: Database, actor: Actor, site_id: int, day: date | None, clinic_timezone: str) -> tuple[date, DayPage]:
    """One site's day (``None``: today in the site's zone) in one transaction (audited like any list)."""
    require_role(actor, *READ_ROLES)
    with unit_of_work(db) as uow:
        site = uow.get(Site, site_id)
        if site is None or not may_see_site(actor, site_id):
            raise NotFound("site not found", field="site_id")
        zone = zone_of(site, clinic_timezone)
        day = day or datetime.now(zone).date()
        start, end = local_day_bounds(day, zone)
        rows = uow.execute(select(Appointment).where(Appointment.site_id == site_id, Appointment.start_at < end,
                                                     Appointment.end_at > start, Appointment.status != "cancelled")
                           .order_by(Appointment.start_at, Appointment.id)).scalars().all()
        places = uow.execute(select(Chair).where(Chair.site_id == site_id, Chair.active.is_(True))
                             .order_by(Chair.position, Chair.name)).scalars().all()
        audit(uow, actor, "appointment.list", "appointment", None, {"site_id": site_id, "from": start.isoformat(),
                                                                    "to": end.isoformat(), "ids": [a.id for a in rows]})
        return day, DayPage(site_id=site_id, zone=zone, places=[ChairView.of(c) for c in places], rows=_rows(uow, rows))


def site_zone(db: Database, site_id: int, clinic_timezone: str) -> tzinfo:
    with db.reading() as uow:
        site = uow.get(Site, site_id)
        if site is None:
            raise NotFound("site not found", field="site_id")
        return zone_of(site, clinic_timezone)


def local_day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    return at_local(day, time.min, zone), at_local(day + timedelta(days=1), time.min, zone)


def upcoming_for_patient(db: Database, actor: Actor, *, now: datetime | None = None,
                         limit: int = 10) -> list[UpcomingView]:
    """A patient's own booked appointments from now on, with what to do before each (the portal)."""
    require_role(actor, *PATIENT_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        rows = uow.execute(_live(select(Appointment)).where(Appointment.patient_id == actor.patient_id,
                                                            Appointment.end_at > now)
                               .order_by(Appointment.start_at).limit(limit)).scalars().all()
        sites = {s.id: s for s in uow.execute(select(Site).where(Site.id.in_({a.site_id for a in rows} or {-1}))).scalars()}
        chairs = {c.id: c.name for c in uow.execute(select(Chair).where(
            Chair.id.in_({a.chair_id for a in rows if a.chair_id} or {-1}))).scalars()}
        fasting = current(uow)[1].fasting_hours.model_dump()
        audit(uow, actor, "appointment.list", "appointment", None, {"patient_id": actor.patient_id,
                                                                    "ids": [a.id for a in rows]})
        return [UpcomingView(id=a.id, kind=a.kind, kind_words=KIND_WORDS[a.kind], start=a.start_at, end=a.end_at,
                             site_name=sites[a.site_id].name, site_address=sites[a.site_id].address,
                             chair_name=chairs.get(a.chair_id) if a.chair_id else None,
                             instructions=[line.format(**fasting) for line in INSTRUCTIONS[a.kind]]) for a in rows]


# --- the waiting list ------------------------------------------------------------------------------------------


class WaitingView(BaseModel):
    id: int
    version: int
    site_id: int
    patient_id: int
    patient_name: str
    kind: str
    plan_id: int | None
    earliest: datetime | None
    note: str | None
    status: str
    appointment_id: int | None
    created_at: datetime


def _waiting_view(uow: Session, e: WaitingEntry) -> WaitingView:
    p = uow.get(Patient, e.patient_id)
    assert p is not None
    return WaitingView(id=e.id, version=e.version, site_id=e.site_id, patient_id=e.patient_id,
                       patient_name=f"{p.family_name}, {p.given_name}", kind=e.kind, plan_id=e.plan_id,
                       earliest=e.earliest, note=e.note, status=e.status, appointment_id=e.appointment_id,
                       created_at=e.created_at)


def add_to_waiting_list(db: Database, actor: Actor, data: WaitingIn, *, now: datetime | None = None) -> WaitingView:
    require_role(actor, *BOOK_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, data.patient_id)
        if uow.execute(select(WaitingEntry.id).where(WaitingEntry.patient_id == patient.id, WaitingEntry.kind == data.kind,
                                                     WaitingEntry.status == "waiting")).first():
            raise Conflict("the patient is already waiting for this kind of appointment", code="already_waiting")
        entry = WaitingEntry(site_id=patient.site_id, patient_id=patient.id, kind=data.kind, plan_id=data.plan_id,
                             earliest=data.earliest, note=data.note, status="waiting", created_by=actor.user_id,
                             created_at=now)
        uow.add(entry)
        uow.flush()
        audit(uow, actor, "waiting_list.add", "waiting_entry", entry.id, {"patient_id": patient.id, "kind": data.kind})
        return _waiting_view(uow, entry)


def list_waiting(db: Database, actor: Actor, *, site_id: int | None = None) -> list[WaitingView]:
    require_role(actor, *READ_ROLES)
    with unit_of_work(db) as uow:
        query = select(WaitingEntry).where(WaitingEntry.status == "waiting").order_by(WaitingEntry.created_at)
        if site_id is not None:
            query = query.where(WaitingEntry.site_id == site_id)
        if site_bound(actor):
            query = query.where(WaitingEntry.site_id.in_(actor.site_ids or (-1,)))
        rows = uow.execute(query.limit(200)).scalars().all()
        audit(uow, actor, "waiting_list.list", "waiting_entry", None, {"ids": [e.id for e in rows]})
        return [_waiting_view(uow, e) for e in rows]


def remove_from_waiting_list(db: Database, actor: Actor, entry_id: int, expected_version: int | None,
                             *, now: datetime | None = None) -> WaitingView:
    require_role(actor, *BOOK_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        entry = get_or_404(uow, WaitingEntry, entry_id, "waiting-list entry")
        load_patient(uow, actor, entry.patient_id)
        check_version(entry, expected_version)
        if entry.status != "waiting":
            raise Conflict(f"the entry is already {entry.status}", code="invalid_transition")
        entry.status, entry.closed_at = "removed", now
        uow.flush()
        audit(uow, actor, "waiting_list.remove", "waiting_entry", entry.id, {"patient_id": entry.patient_id})
        return _waiting_view(uow, entry)
