"""Chairs and rooms of each site, and when the staff work (issue 13, design.md 4.9).

- **Chairs and rooms**: any staff member lists the places of their sites (``GET /api/v1/chairs``:
  treatment chairs); an admin or a coordinator adds, renames, reorders or retires one (If-Match).
- **Working hours**: weekly stretches per person and site in the site's local minutes (09:00 stays
  09:00 across a daylight-saving change); an admin or coordinator sets a person's week at a site.
- **Absences**: a stretch (UTC) when a person does not work; added and withdrawn by an admin or a
  coordinator. The booking checks (:mod:`ketaclinic.services.appointments`) read both.

Every change is audited. Places and hours belong to a site: a coordinator edits only their own sites.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Database
from ketaclinic.records.schedule import Chair, StaffAbsence, StaffHours
from ketaclinic.records.sites import Site, StaffSite
from ketaclinic.records.users import User
from ketaclinic.services.common import audit, check_version, get_or_404, require_role, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Conflict, NotFound, ValidationFailed
from ketaclinic.services.evaluations import RecordId
from ketaclinic.services.sites import may_see_site, site_bound
from ketaclinic.services.staff import staff_names
from ketaclinic.services.types import Text

READ_ROLES = ("admin", "physician", "nurse", "coordinator")
EDIT_ROLES = ("admin", "coordinator")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_FORBID = ConfigDict(extra="forbid")


def _clean(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("must not be blank")
    return value


class ChairIn(BaseModel):
    model_config = _FORBID
    site_id: RecordId
    name: Text = Field(min_length=1, max_length=80)
    kind: Literal["chair", "room"] = "chair"
    position: int = Field(default=0, ge=0, le=999)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _clean(value)


class ChairPatch(BaseModel):
    model_config = _FORBID
    name: Text | None = Field(default=None, min_length=1, max_length=80)
    position: int | None = Field(default=None, ge=0, le=999)
    active: bool | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else _clean(value)


class ChairView(BaseModel):
    id: int
    version: int
    created_at: datetime
    created_by: int | None
    name: str
    site_id: int
    kind: str
    active: bool
    position: int

    @classmethod
    def of(cls, chair: Chair) -> ChairView:
        return cls(id=chair.id, version=chair.version, created_at=chair.created_at, created_by=chair.created_by,
                   name=chair.name, site_id=chair.site_id, kind=chair.kind, active=chair.active, position=chair.position)


class ChairList(BaseModel):
    items: list[ChairView]


class Stretch(BaseModel):
    """One working stretch on a weekday, local clock time (``09:00``-``17:30``)."""

    model_config = _FORBID
    weekday: int = Field(ge=0, le=6, description="0 Monday … 6 Sunday")
    start: time
    end: time

    @model_validator(mode="after")
    def _order(self) -> Stretch:
        if self.start.tzinfo or self.end.tzinfo:
            raise ValueError("working hours are local clock times without an offset")
        if self.end <= self.start:
            raise ValueError("a working stretch ends after it starts (split a night shift in two)")
        return self


class HoursIn(BaseModel):
    """A person's whole week at one site (replaces what was there)."""

    model_config = _FORBID
    site_id: RecordId
    stretches: list[Stretch] = Field(max_length=28)


class HoursView(BaseModel):
    user_id: int
    name: str
    role: str
    site_id: int
    stretches: list[dict[str, str | int]]


class AbsenceIn(BaseModel):
    model_config = _FORBID
    user_id: RecordId
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: Text = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _order(self) -> AbsenceIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("an absence ends after it starts")
        return self


class AbsenceView(BaseModel):
    id: int
    version: int
    user_id: int
    name: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_at: datetime
    created_by: int | None


def _minutes(value: time) -> int:
    return value.hour * 60 + value.minute


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _site(uow: Session, actor: Actor, site_id: int) -> Site:
    site = uow.get(Site, site_id)
    if site is None or (actor.role != "admin" and not may_see_site(actor, site_id)):  # admins keep every site
        raise NotFound("site not found", field="site_id")
    return site


# --- chairs ----------------------------------------------------------------------------------


def visible_places(uow: Session, actor: Actor, *, site_id: int | None = None, kind: str | None = "chair",
                   active_only: bool = True) -> list[Chair]:
    query = select(Chair).order_by(Chair.site_id, Chair.position, Chair.name)
    if site_id is not None:
        query = query.where(Chair.site_id == site_id)
    elif site_bound(actor):
        query = query.where(Chair.site_id.in_(actor.site_ids or (-1,)))
    if kind is not None:
        query = query.where(Chair.kind == kind)
    if active_only:
        query = query.where(Chair.active.is_(True))
    return list(uow.execute(query).scalars())


def list_chairs(db: Database, actor: Actor, *, site_id: int | None = None, kind: str | None = "chair",
                include_retired: bool = False) -> ChairList:
    """The chairs (or rooms) of the actor's sites, in the day view's column order."""
    require_role(actor, *READ_ROLES)
    with db.reading() as uow:
        if site_id is not None:
            _site(uow, actor, site_id)
        return ChairList(items=[ChairView.of(c) for c in visible_places(uow, actor, site_id=site_id, kind=kind,
                                                                         active_only=not include_retired)])


def create_chair(db: Database, actor: Actor, data: ChairIn) -> ChairView:
    require_role(actor, *EDIT_ROLES)
    with unit_of_work(db) as uow:
        _site(uow, actor, data.site_id)
        if uow.execute(select(Chair.id).where(Chair.site_id == data.site_id, Chair.name == data.name)).first():
            raise Conflict(f"this site already has a place named {data.name!r}", code="duplicate_name", field="name")
        chair = Chair(site_id=data.site_id, name=data.name, kind=data.kind, position=data.position, active=True,
                      created_by=actor.user_id)
        uow.add(chair)
        uow.flush()
        audit(uow, actor, "chair.create", "chair", chair.id, {"site_id": chair.site_id, "name": chair.name,
                                                              "kind": chair.kind})
        return ChairView.of(chair)


def update_chair(db: Database, actor: Actor, chair_id: int, expected_version: int | None, patch: ChairPatch) -> ChairView:
    require_role(actor, *EDIT_ROLES)
    with unit_of_work(db) as uow:
        chair = get_or_404(uow, Chair, chair_id, "chair")
        _site(uow, actor, chair.site_id)
        check_version(chair, expected_version)
        changes = {}
        for name in ("name", "position", "active"):
            value = getattr(patch, name)
            if value is not None and value != getattr(chair, name):
                changes[name] = {"from": getattr(chair, name), "to": value}
                setattr(chair, name, value)
        if not changes:
            raise ValidationFailed("nothing changed", code="no_change")
        if "name" in changes and uow.execute(select(Chair.id).where(Chair.site_id == chair.site_id, Chair.name == chair.name,
                                                                   Chair.id != chair.id)).first():
            raise Conflict(f"this site already has a place named {chair.name!r}", code="duplicate_name", field="name")
        uow.flush()
        audit(uow, actor, "chair.update", "chair", chair.id, changes)
        return ChairView.of(chair)


# --- working hours and absences ----------------------------------------------------------------


def _member(uow: Session, user_id: int, site_id: int) -> StaffSite:
    member = uow.execute(select(StaffSite).where(StaffSite.user_id == user_id, StaffSite.site_id == site_id)).scalar_one_or_none()
    if member is None:
        raise ValidationFailed("this person does not work at this site: an administrator adds them first",
                               code="not_a_member", field="user_id")
    return member


def list_hours(db: Database, actor: Actor, site_id: int) -> list[HoursView]:
    """Everyone who works at the site (physicians, nurses) and their weekly hours."""
    require_role(actor, *READ_ROLES)
    with db.reading() as uow:
        _site(uow, actor, site_id)
        members = uow.execute(select(StaffSite).join(User, User.id == StaffSite.user_id)
                                  .where(StaffSite.site_id == site_id, StaffSite.role.in_(("physician", "nurse")),
                                         User.active.is_(True))
                                  .order_by(StaffSite.role.desc(), StaffSite.user_id)).scalars().all()
        hours = uow.execute(select(StaffHours).where(StaffHours.site_id == site_id)
                                .order_by(StaffHours.weekday, StaffHours.start_min)).scalars().all()
        names = staff_names(uow, [m.user_id for m in members])
        return [HoursView(user_id=m.user_id, name=names[m.user_id], role=m.role, site_id=site_id,
                          stretches=[{"weekday": h.weekday, "day": WEEKDAYS[h.weekday], "start": _hhmm(h.start_min),
                                      "end": _hhmm(h.end_min)} for h in hours if h.user_id == m.user_id])
                for m in members]


def set_hours(db: Database, actor: Actor, user_id: int, data: HoursIn) -> HoursView:
    """Replace ``user_id``'s week at ``data.site_id`` (stretches on one day may not overlap)."""
    require_role(actor, *EDIT_ROLES)
    with unit_of_work(db) as uow:
        _site(uow, actor, data.site_id)
        member = _member(uow, user_id, data.site_id)
        stretches = sorted(data.stretches, key=lambda s: (s.weekday, s.start))
        for a, b in zip(stretches, stretches[1:], strict=False):
            if a.weekday == b.weekday and b.start < a.end:
                raise ValidationFailed(f"two stretches overlap on {WEEKDAYS[a.weekday]}", field="stretches")
        old = uow.execute(select(StaffHours).where(StaffHours.user_id == user_id,
                                                   StaffHours.site_id == data.site_id)).scalars().all()
        before = [[h.weekday, _hhmm(h.start_min), _hhmm(h.end_min)] for h in old]
        for row in old:
            uow.delete(row)
        uow.flush()
        for s in stretches:
            uow.add(StaffHours(user_id=user_id, site_id=data.site_id, weekday=s.weekday, start_min=_minutes(s.start),
                               end_min=_minutes(s.end), created_by=actor.user_id))
        uow.flush()
        after = [[s.weekday, s.start.strftime("%H:%M"), s.end.strftime("%H:%M")] for s in stretches]
        audit(uow, actor, "staff_hours.set", "user", user_id, {"site_id": data.site_id, "from": before, "to": after})
        names = staff_names(uow, [user_id])
        return HoursView(user_id=user_id, name=names[user_id], role=member.role, site_id=data.site_id,
                         stretches=[{"weekday": s.weekday, "day": WEEKDAYS[s.weekday], "start": s.start.strftime("%H:%M"),
                                     "end": s.end.strftime("%H:%M")} for s in stretches])


def _absence_view(row: StaffAbsence, names: dict[int | None, str]) -> AbsenceView:
    return AbsenceView(id=row.id, version=row.version, user_id=row.user_id, name=names.get(row.user_id, "—"),
                       starts_at=row.starts_at, ends_at=row.ends_at, reason=row.reason, created_at=row.created_at,
                       created_by=row.created_by)


def _shares_a_site(uow: Session, actor: Actor, user_id: int) -> None:
    if not site_bound(actor):
        return
    sites = set(uow.execute(select(StaffSite.site_id).where(StaffSite.user_id == user_id)).scalars())
    if not sites & set(actor.site_ids):
        raise NotFound("staff member not found", field="user_id")


def add_absence(db: Database, actor: Actor, data: AbsenceIn) -> AbsenceView:
    require_role(actor, *EDIT_ROLES)
    with unit_of_work(db) as uow:
        if uow.get(User, data.user_id) is None:
            raise NotFound("staff member not found", field="user_id")
        _shares_a_site(uow, actor, data.user_id)
        row = StaffAbsence(user_id=data.user_id, starts_at=data.starts_at, ends_at=data.ends_at, reason=data.reason,
                           created_by=actor.user_id, created_at=utcnow())
        uow.add(row)
        uow.flush()
        audit(uow, actor, "staff_absence.add", "user", data.user_id,
              {"absence_id": row.id, "starts_at": data.starts_at.isoformat(), "ends_at": data.ends_at.isoformat(),
               "reason": data.reason})
        return _absence_view(row, staff_names(uow, [row.user_id]))


def remove_absence(db: Database, actor: Actor, absence_id: int) -> None:
    require_role(actor, *EDIT_ROLES)
    with unit_of_work(db) as uow:
        row = get_or_404(uow, StaffAbsence, absence_id, "absence")
        _shares_a_site(uow, actor, row.user_id)
        detail = {"absence_id": row.id, "starts_at": row.starts_at.isoformat(), "ends_at": row.ends_at.isoformat(),
                  "reason": row.reason}
        uow.delete(row)
        audit(uow, actor, "staff_absence.remove", "user", row.user_id, detail)


def list_absences(db: Database, actor: Actor, *, site_id: int, since: datetime) -> list[AbsenceView]:
    """Absences of the site's staff that end after ``since``."""
    require_role(actor, *READ_ROLES)
    with db.reading() as uow:
        _site(uow, actor, site_id)
        users = select(StaffSite.user_id).where(StaffSite.site_id == site_id)
        rows = uow.execute(select(StaffAbsence).where(StaffAbsence.user_id.in_(users), StaffAbsence.ends_at > since)
                               .order_by(StaffAbsence.starts_at)).scalars().all()
        names = staff_names(uow, [r.user_id for r in rows])
        return [_absence_view(r, names) for r in rows]

