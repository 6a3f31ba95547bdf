"""The clinic's day, decided without a database or a clock (issue 13, design.md 4.9).

- **How long** an appointment takes (:func:`appointment_minutes`): an infusion is its plan's infusion
  time (boluses and infusion steps, one after the other) + the observation after the stop (the longer
  of the protocol's and the clinic's) + the chair's turnover; evaluations and follow-ups take the
  clinic's set minutes.
- **When** a series falls (:func:`series_starts`): the same local wall-clock time on each day, so a 09:00
  series stays at 09:00 across a daylight-saving change; ``weekdays_only`` moves a Saturday or Sunday to
  the Monday after. A local time that does not exist (the spring-forward hour) moves forward by the gap.
- **Whether** a time is free (:func:`clashes`): the chair, the nurse (on shift, and watching no more
  running infusions than the clinic allows), a physician on site for the whole of every infusion, and
  the patient (never booked twice at once). Each refusal has a stable code, the API's ``error.code``.
- **Where else** it would fit (:func:`propose`): the first starts, stepping forward, at which every
  session of the request is free.

All times are aware datetimes in UTC; the site's zone (a ``tzinfo``) is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from ketaclinic.evidence.sources import CLINIC_POLICY, ref

KINDS = ("evaluation", "infusion", "follow_up")
TIMED_STEP_KINDS = ("bolus", "infusion")

#: Where the staffing rules come from. A physician on site for every infusion: several state boards
#: require the ordering practitioner to be reachable and the APNA checklist asks each clinic to check
#: its state's rules; in the building for the whole infusion is this clinic's policy.
PHYSICIAN_ON_SITE_SOURCE = ref("apna_ketamine_checklist")
#: One running infusion per nurse by default (clinic policy); the clinic may raise it to at most two,
#: the ratio California sets for post-anaesthesia recovery (an analogy for a sedated, monitored patient).
NURSE_RATIO_SOURCE = ref("ca_title22_70217")
MAX_INFUSIONS_PER_NURSE = 2


@dataclass(frozen=True)
class SchedulePolicy:
    """The clinic's scheduling numbers (clinic settings; every default is clinic policy)."""

    evaluation_min: int = 60
    follow_up_min: int = 30
    turnover_min: int = 15
    infusions_per_nurse: int = 1
    physician_on_site: bool = True
    slot_step_min: int = 15
    source: str = CLINIC_POLICY


DEFAULT_POLICY = SchedulePolicy()


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end


@dataclass(frozen=True)
class Booked:
    """An appointment already in the book (cancelled and no-show ones are left out by the caller)."""

    id: int
    patient_id: int
    kind: str
    start: datetime
    end: datetime
    chair_id: int | None = None
    nurse_id: int | None = None
    physician_id: int | None = None


@dataclass(frozen=True)
class Candidate:
    """One appointment someone wants to book (``replaces``: its own id when it is being moved)."""

    patient_id: int
    kind: str
    start: datetime
    end: datetime
    chair_id: int | None = None
    nurse_id: int | None = None
    physician_id: int | None = None
    replaces: frozenset[int] = frozenset()


@dataclass(frozen=True)
class WeeklyHours:
    user_id: int
    weekday: int  # 0 Monday
    start_min: int  # minutes after local midnight
    end_min: int


@dataclass(frozen=True)
class Staffing:
    """Who works when at one site: concrete UTC shifts (absences taken out) and each person's role."""

    shifts: dict[int, tuple[Interval, ...]]
    physicians: frozenset[int]
    nurses: frozenset[int]
    open_days: frozenset[date]  # local days on which anyone works at the site
    names: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Clash:
    code: str
    message: str
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "field": self.field}


# --- durations ------------------------------------------------------------------------------


def infusion_minutes(steps: Iterable[dict[str, Any]]) -> float:
    """Minutes from the first push to the end of the last infusion step (steps run one after another)."""
    return sum(float(s.get("duration_min") or 0) for s in steps if s.get("kind") in TIMED_STEP_KINDS)


def appointment_minutes(kind: str, policy: SchedulePolicy = DEFAULT_POLICY, *, infusion_min: float = 0.0,
                        observation_min: float = 0.0) -> int:
    """How long ``kind`` holds its chair or room, whole minutes (an infusion: infusion + observation + turnover)."""
    if kind == "evaluation":
        return policy.evaluation_min
    if kind == "follow_up":
        return policy.follow_up_min
    if kind != "infusion":
        raise ValueError(f"unknown appointment kind {kind!r} (one of {', '.join(KINDS)})")
    if infusion_min < 0 or observation_min < 0:
        raise ValueError("minutes cannot be negative")
    return int(math.ceil(infusion_min + observation_min + policy.turnover_min))


# --- local times ----------------------------------------------------------------------------


def at_local(day: date, wall: time, zone: tzinfo) -> datetime:
    """``day`` at ``wall`` in ``zone``, in UTC. A wall time in the spring-forward gap moves forward by
    the gap (02:30 → 03:30); an ambiguous one (fall-back) is its first occurrence."""
    local = datetime.combine(day, wall.replace(tzinfo=None), tzinfo=zone)  # fold 0: the offset before a change
    return local.astimezone(UTC)


def local_day(value: datetime, zone: tzinfo) -> date:
    return value.astimezone(zone).date()


def series_starts(first: datetime, zone: tzinfo, count: int, interval_days: int = 1,
                  weekdays_only: bool = False) -> list[datetime]:
    """The UTC starts of a series: ``count`` sessions ``interval_days`` apart at ``first``'s local time."""
    if count < 1:
        raise ValueError("a series has at least one session")
    if interval_days < 1:
        raise ValueError("sessions of a series are at least one day apart")
    local = first.astimezone(zone)
    wall = local.time().replace(tzinfo=None)
    day = local.date()
    starts: list[datetime] = []
    while len(starts) < count:
        if weekdays_only and day.weekday() >= 5:
            day += timedelta(days=7 - day.weekday())
        starts.append(at_local(day, wall, zone))
        day += timedelta(days=interval_days)
    return starts


def shifts_between(hours: Iterable[WeeklyHours], absences: Iterable[tuple[int, datetime, datetime]],
                   zone: tzinfo, first_day: date, last_day: date) -> tuple[dict[int, tuple[Interval, ...]], frozenset[date]]:
    """Each person's UTC working stretches on the local days ``first_day``..``last_day`` (absences cut
    out), and the local days on which anyone works."""
    by_weekday: dict[int, list[WeeklyHours]] = {}
    for h in hours:
        by_weekday.setdefault(h.weekday, []).append(h)
    away: dict[int, list[tuple[datetime, datetime]]] = {}
    for user_id, start, end in absences:
        away.setdefault(user_id, []).append((start, end))
    shifts: dict[int, list[Interval]] = {}
    open_days: set[date] = set()
    day = first_day
    while day <= last_day:
        for h in by_weekday.get(day.weekday(), ()):
            start = at_local(day, time(h.start_min // 60, h.start_min % 60), zone)
            end = at_local(day + timedelta(days=h.end_min // 1440), time((h.end_min % 1440) // 60, h.end_min % 60), zone)
            open_days.add(day)
            for piece in _minus(Interval(start, end), away.get(h.user_id, ())):
                shifts.setdefault(h.user_id, []).append(piece)
        day += timedelta(days=1)
    return {u: tuple(sorted(v, key=lambda i: i.start)) for u, v in shifts.items()}, frozenset(open_days)


def _minus(stretch: Interval, cuts: Iterable[tuple[datetime, datetime]]) -> list[Interval]:
    pieces = [stretch]
    for cut_start, cut_end in cuts:
        next_pieces: list[Interval] = []
        for p in pieces:
            if not p.overlaps(cut_start, cut_end):
                next_pieces.append(p)
                continue
            if p.start < cut_start:
                next_pieces.append(Interval(p.start, cut_start))
            if cut_end < p.end:
                next_pieces.append(Interval(cut_end, p.end))
        pieces = next_pieces
    return pieces


def covered(shifts: Sequence[Interval], start: datetime, end: datetime) -> bool:
    """Whether ``start``..``end`` lies wholly inside the (merged) shifts."""
    reach = start
    for s in sorted(shifts, key=lambda i: i.start):
        if s.start > reach:
            break
        reach = max(reach, s.end)
        if reach >= end:
            return True
    return reach >= end


# --- clashes ---------------------------------------------------------------------------------


def _when(value: datetime, zone: tzinfo) -> str:
    return value.astimezone(zone).strftime("%a %d %b %Y %H:%M")


def clashes(candidate: Candidate, booked: Iterable[Booked], staffing: Staffing, zone: tzinfo,
            policy: SchedulePolicy = DEFAULT_POLICY) -> list[Clash]:
    """Every reason ``candidate`` cannot be booked (empty: it can), most basic first."""
    c = candidate
    found: list[Clash] = []
    day = local_day(c.start, zone)
    if day not in staffing.open_days:
        found.append(Clash("site_closed", f"the site is closed on {day.strftime('%a %d %b %Y')}: nobody works there "
                           "that day", "start"))
        return found
    overlapping = [b for b in booked if b.id not in c.replaces and b.start < c.end and c.start < b.end]
    if c.chair_id is not None:
        taken = [b for b in overlapping if b.chair_id == c.chair_id]
        if taken:
            found.append(Clash("chair_busy", f"the chair is booked from {_when(taken[0].start, zone)} to "
                               f"{_when(taken[0].end, zone)[-5:]} (appointment {taken[0].id})", "chair_id"))
    if c.nurse_id is not None:
        name = staffing.names.get(c.nurse_id, f"nurse {c.nurse_id}")
        if c.nurse_id not in staffing.nurses:
            found.append(Clash("nurse_off_shift", f"{name} does not work as a nurse at this site", "nurse_id"))
        elif not covered(staffing.shifts.get(c.nurse_id, ()), c.start, c.end):
            found.append(Clash("nurse_off_shift", f"{name} is not on shift for the whole of "
                               f"{_when(c.start, zone)}–{_when(c.end, zone)[-5:]} (working hours or an absence)",
                               "nurse_id"))
        else:
            theirs = [b for b in overlapping if b.nurse_id == c.nurse_id]
            limit = policy.infusions_per_nurse if c.kind == "infusion" else 1
            others = [b for b in theirs if b.kind != "infusion"]
            if others or len(theirs) >= limit:
                first = (others or theirs)[0]
                found.append(Clash("nurse_busy", f"{name} already has {len(theirs)} appointment(s) then (from "
                                   f"{_when(first.start, zone)}); one nurse watches at most "
                                   f"{policy.infusions_per_nurse} running infusion(s) (clinic setting)", "nurse_id"))
    if c.kind == "infusion" and policy.physician_on_site:
        if c.physician_id is not None:
            ok = c.physician_id in staffing.physicians and covered(staffing.shifts.get(c.physician_id, ()), c.start, c.end)
        else:
            ok = any(covered(staffing.shifts.get(p, ()), c.start, c.end) for p in staffing.physicians)
        if not ok:
            span = f"{_when(c.start, zone)}–{_when(c.end, zone)[-5:]}"
            who = staffing.names.get(c.physician_id, f"physician {c.physician_id}") if c.physician_id else None
            found.append(Clash("physician_not_on_site",
                               (f"{who} is not" if who else "no physician is") + f" on site for the whole infusion "
                               f"{span}: a physician must be in the building from the start to the end of every "
                               "infusion (clinic policy)", "physician_id" if who else "start"))
    double = [b for b in overlapping if b.patient_id == c.patient_id]
    if double:
        found.append(Clash("patient_double_booked", f"the patient already has an appointment from "
                           f"{_when(double[0].start, zone)} to {_when(double[0].end, zone)[-5:]} "
                           f"(appointment {double[0].id})", "start"))
    if not found and not covered([p for pieces in staffing.shifts.values() for p in pieces], c.start, c.end):
        # open that day, but not for the whole appointment: nobody named, and nobody works then (a 22:00 follow-up)
        found.append(Clash("site_closed", f"the site is closed for part of {_when(c.start, zone)}–"
                           f"{_when(c.end, zone)[-5:]}: nobody works there then (staff working hours)", "start"))
    return found


def free_chair(candidate: Candidate, chair_ids: Sequence[int], booked: Iterable[Booked]) -> int | None:
    """The first of ``chair_ids`` free for the whole of ``candidate`` (None: all taken)."""
    taken = {b.chair_id for b in booked
             if b.id not in candidate.replaces and b.start < candidate.end and candidate.start < b.end}
    return next((c for c in chair_ids if c not in taken), None)


def book_all(candidates: Sequence[Candidate], booked: Sequence[Booked], staffing: Staffing, zone: tzinfo,
             policy: SchedulePolicy = DEFAULT_POLICY, chair_ids: Sequence[int] = ()) -> tuple[list[Candidate], list[tuple[int, Clash]]]:
    """Check a whole series together: each session against the book *and* the sessions before it.

    Infusions without a chair get the first free one of ``chair_ids``. Returns the candidates (chairs
    filled in) and every (index, clash)."""
    placed: list[Candidate] = []
    problems: list[tuple[int, Clash]] = []
    book = list(booked)
    for index, candidate in enumerate(candidates):
        if candidate.kind == "infusion" and candidate.chair_id is None and chair_ids:
            chair = free_chair(candidate, chair_ids, book)
            if chair is None:
                problems.append((index, Clash("chair_busy", f"every chair is booked at "
                                              f"{_when(candidate.start, zone)}", "chair_id")))
                chair = chair_ids[0]
            candidate = replace(candidate, chair_id=chair)
        for clash in clashes(candidate, book, staffing, zone, policy):
            if clash.code == "chair_busy" and any(i == index and p.code == "chair_busy" for i, p in problems):
                continue
            problems.append((index, clash))
        placed.append(candidate)
        book.append(Booked(id=-1 - index, patient_id=candidate.patient_id, kind=candidate.kind, start=candidate.start,
                           end=candidate.end, chair_id=candidate.chair_id, nurse_id=candidate.nurse_id,
                           physician_id=candidate.physician_id))
    return placed, problems


def propose(candidates: Sequence[Candidate], booked: Sequence[Booked], staffing: Staffing, zone: tzinfo,
            policy: SchedulePolicy = DEFAULT_POLICY, chair_ids: Sequence[int] = (), *, limit: int = 3,
            horizon_days: int = 14, not_before: datetime | None = None,
            rule: tuple[int, int, bool] | None = None) -> list[list[Candidate]]:
    """The first ``limit`` ways to book the whole request, trying later first starts in steps of
    ``policy.slot_step_min`` (only on days someone works), up to ``horizon_days`` later. With the series
    ``rule`` (count, interval_days, weekdays_only) the series is laid out again from each first start;
    without it every session moves by the same local shift."""
    if not candidates:
        return []
    first = candidates[0]
    found: list[list[Candidate]] = []
    step = timedelta(minutes=policy.slot_step_min)
    local_first = first.start.astimezone(zone)
    offsets = [(c.start.astimezone(zone).date() - local_first.date()).days for c in candidates]
    lengths = [c.end - c.start for c in candidates]
    shift_starts = sorted({s.start for intervals in staffing.shifts.values() for s in intervals})
    cursor = first.start + step if not_before is None else max(first.start + step, not_before)
    limit_at = first.start + timedelta(days=horizon_days)
    tries = 0
    while cursor <= limit_at and len(found) < limit and tries < 4000:
        tries += 1
        local = cursor.astimezone(zone)
        if local.date() not in staffing.open_days:
            later = [s for s in shift_starts if s > cursor]
            if not later:
                break
            cursor = later[0]
            continue
        moved = []
        starts = series_starts(cursor, zone, *rule) if rule else \
            [at_local(local.date() + timedelta(days=offset), local.time(), zone) for offset in offsets]
        for start, length, c in zip(starts, lengths, candidates, strict=True):
            moved.append(replace(c, start=start, end=start + length,
                                 chair_id=None if c.kind == "infusion" and chair_ids else c.chair_id))
        placed, problems = book_all(moved, booked, staffing, zone, policy, chair_ids)
        if not problems:
            found.append(placed)
        cursor += step
    return found
