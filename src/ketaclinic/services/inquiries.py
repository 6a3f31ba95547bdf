"""Inquiries from the public form: stored and nothing else, then answered, scheduled, converted or closed.

The public endpoint creates one row and one audit entry: no account, no patient, no e-mail.
Staff then work the queue; each step names the version it saw (If-Match).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Database
from ketaclinic.records.inquiries import Inquiry
from ketaclinic.records.sites import Site
from ketaclinic.services.business_days import answer_by
from ketaclinic.services.common import (
    AUDIT_SITE,
    Page,
    audit,
    check_version,
    clamp_limit,
    cursor_int,
    get_or_404,
    page_of,
    require_role,
    unit_of_work,
)
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Conflict, NotFound, ValidationFailed
from ketaclinic.services.patients import PatientIn, PatientView, create_patient_in
from ketaclinic.services.patients import _view as _patient_view
from ketaclinic.services.sites import default_site_id, may_see_site, site_bound
from ketaclinic.services.types import ID_MAX, ScheduledAt, Text
from ketaclinic.settings import Settings

READ_ROLES = ("coordinator", "physician", "admin")
WORK_ROLES = ("coordinator", "physician")
Status = Literal["new", "answered", "scheduled", "converted", "closed"]
NEXT: dict[str, tuple[str, ...]] = {
    "new": ("answered", "scheduled", "converted", "closed"),
    "answered": ("answered", "scheduled", "converted", "closed"),
    "scheduled": ("scheduled", "converted", "closed"),
    "converted": (),
    "closed": (),
}


class InquiryIn(BaseModel):
    """What the public form sends."""

    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=200)
    phone: Text | None = Field(default=None, max_length=40)
    email: Text | None = Field(default=None, max_length=254)
    preferred_contact: Literal["phone", "email"]
    condition: Text | None = Field(default=None, max_length=200)
    message: Text = Field(default="", max_length=5000)
    consent_to_contact: bool
    site_id: int | None = Field(default=None, ge=1, le=ID_MAX,
                                description="The clinic site asked for (GET /api/v1/inquiries/sites); absent: the main site")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("must not be blank")
        return value


class InquiryReceipt(BaseModel):
    """All the public learns back: that it was received and by when the clinic answers."""

    status: Literal["received"] = "received"
    answer_by: datetime


class InquiryView(BaseModel):
    id: int
    version: int
    created_at: datetime
    created_by: int | None
    name: str
    phone: str | None
    email: str | None
    preferred_contact: str
    condition: str | None
    message: str
    consent_to_contact: bool
    status: str
    received_at: datetime
    answer_by: datetime
    answered_at: datetime | None
    answered_by: int | None
    answer_note: str | None
    scheduled_for: datetime | None
    patient_id: int | None
    closed_reason: str | None
    site_id: int
    overdue: bool


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Text = Field(min_length=1, max_length=5000)


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scheduled_for: ScheduledAt
    note: Text | None = Field(default=None, max_length=5000)


class ConvertIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient: PatientIn


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text = Field(min_length=1, max_length=2000)


class ConvertResult(BaseModel):
    inquiry: InquiryView
    patient: PatientView


BOOKING_ROLES = ("coordinator", "physician", "nurse")


class BookedEvaluation(BaseModel):
    """An evaluation the coordinator booked from an inquiry (issue 12: it appeared on no chart and no
    dashboard). Only what scheduling needs: who, when, and the chart once the inquiry is converted."""

    inquiry_id: int
    name: str
    scheduled_for: datetime
    patient_id: int | None


def booked_evaluations(db: Database, actor: Actor, *, start: datetime, end: datetime,
                       patient_id: int | None = None) -> list[BookedEvaluation]:
    """Evaluations booked for ``start`` ≤ time < ``end`` (scheduled inquiries, and converted ones whose
    booking stands), soonest first; for one patient's chart with ``patient_id``."""
    require_role(actor, *BOOKING_ROLES)
    with db.reading() as uow:
        query = (select(Inquiry).where(Inquiry.status.in_(("scheduled", "converted")),
                                       Inquiry.scheduled_for.is_not(None), Inquiry.scheduled_for >= start,
                                       Inquiry.scheduled_for < end)
                 .order_by(Inquiry.scheduled_for, Inquiry.id).limit(200))
        if patient_id is not None:
            query = query.where(Inquiry.patient_id == patient_id)
        rows = uow.execute(_in_sites(query, actor)).scalars().all()
        return [BookedEvaluation(inquiry_id=i.id, name=i.name, scheduled_for=i.scheduled_for, patient_id=i.patient_id)
                for i in rows]


def _view(inquiry: Inquiry, now: datetime) -> InquiryView:
    overdue = inquiry.answered_at is None and inquiry.status == "new" and now > inquiry.answer_by
    return InquiryView.model_validate({**{k: getattr(inquiry, k) for k in InquiryView.model_fields if k != "overdue"},
                                       "overdue": overdue})


def submit_inquiry(db: Database, settings: Settings, actor: Actor, data: InquiryIn, *,
                   now: datetime | None = None) -> InquiryReceipt:
    """Store the request (nothing else) and say when the clinic will answer."""
    now = now or utcnow()
    if not data.consent_to_contact:
        raise ValidationFailed("we can only answer if you agree to be contacted", field="consent_to_contact")
    channel = data.preferred_contact
    if not getattr(data, channel):
        raise ValidationFailed(f"give a {channel} to be contacted by {channel}", field=channel)
    due = answer_by(now, settings.timezone)
    with unit_of_work(db) as uow:
        site_id = _site_for_inquiry(uow, data.site_id)
        inquiry = Inquiry(
            name=data.name, phone=data.phone, email=data.email, preferred_contact=channel,
            condition=data.condition, message=data.message, consent_to_contact=True, status="new",
            received_at=now, answer_by=due, created_at=now, created_by=actor.user_id, site_id=site_id,
        )
        uow.add(inquiry)
        uow.flush()
        audit(uow, actor, "inquiry.create", "inquiry", inquiry.id, {"site_id": site_id}, site_id=site_id)
    return InquiryReceipt(answer_by=due)


def _site_for_inquiry(uow: Session, site_id: int | None) -> int:
    """The site a public request goes to: an open site asked for, else the group's default site."""
    if site_id is None:
        return default_site_id(uow)
    site = uow.get(Site, site_id)
    if site is None or not site.active:
        raise ValidationFailed("choose one of the clinic's open sites", field="site_id")
    return site.id


class PublicSite(BaseModel):
    """What the public form shows of a site: its name and where it is."""

    id: int
    name: str
    address: str | None


def public_sites(db: Database) -> list[PublicSite]:
    """The open sites a member of the public may ask to be seen at (no sign-in; nothing private)."""
    with db.reading() as uow:
        rows = uow.execute(select(Site.id, Site.name, Site.address).where(Site.active.is_(True))
                           .order_by(Site.id)).all()
        return [PublicSite(id=r.id, name=r.name, address=r.address) for r in rows]


def _in_sites(query: Any, actor: Actor) -> Any:
    """Only the inquiries of the actor's sites (issue 17; the header's site picker narrows them)."""
    return query.where(Inquiry.site_id.in_(actor.site_ids)) if site_bound(actor) else query


def list_inquiries(db: Database, actor: Actor, *, status: Status | None = None, overdue: bool | None = None,
                   limit: int | None = None, cursor: str | None = None, now: datetime | None = None) -> Page[InquiryView]:
    require_role(actor, *READ_ROLES)
    now = now or utcnow()
    limit = clamp_limit(limit)
    after = cursor_int(cursor) or 0
    with unit_of_work(db) as uow:
        query = _in_sites(select(Inquiry).where(Inquiry.id > after).order_by(Inquiry.id).limit(limit + 1), actor)
        if status:
            query = query.where(Inquiry.status == status)
        if overdue is True:
            query = query.where(Inquiry.status == "new", Inquiry.answered_at.is_(None), Inquiry.answer_by < now)
        rows = uow.execute(query).scalars().all()
        audit(uow, actor, "inquiry.list", "inquiry", None, {"ids": [i.id for i in rows[:limit]]})
        return page_of(rows, limit, lambda i: _view(i, now))


class WaitingInquiries(BaseModel):
    """The new inquiries of the actor's sites, the ones to answer first (soonest deadline) first."""

    items: list[InquiryView]
    total: int


def waiting_inquiries(db: Database, actor: Actor, *, limit: int = 8, now: datetime | None = None) -> WaitingInquiries:
    """What the dashboard shows: the first ``limit`` new inquiries by deadline and how many there are, read by
    the ``(site_id, status, answer_by)`` index (two statements, whatever the size of the queue)."""
    require_role(actor, *READ_ROLES)
    now = now or utcnow()
    limit = clamp_limit(limit)
    with unit_of_work(db) as uow:
        waiting = _in_sites(select(Inquiry).where(Inquiry.status == "new"), actor)
        rows = uow.execute(waiting.order_by(Inquiry.answer_by, Inquiry.id).limit(limit)).scalars().all()
        total = uow.execute(_in_sites(select(func.count()).select_from(Inquiry).where(Inquiry.status == "new"),
                                      actor)).scalar_one()
        audit(uow, actor, "inquiry.list", "inquiry", None, {"ids": [i.id for i in rows], "waiting": total})
        return WaitingInquiries(items=[_view(i, now) for i in rows], total=total)


def get_inquiry(db: Database, actor: Actor, inquiry_id: int) -> InquiryView:
    require_role(actor, *READ_ROLES)
    with unit_of_work(db) as uow:
        inquiry = _load(uow, actor, inquiry_id)
        audit(uow, actor, "inquiry.read", "inquiry", inquiry.id)
        return _view(inquiry, utcnow())


def _load(uow: Session, actor: Actor, inquiry_id: int) -> Inquiry:
    """The inquiry, if it is for one of the actor's sites; otherwise the same 404 as a missing one."""
    inquiry = get_or_404(uow, Inquiry, inquiry_id, "inquiry")
    if not may_see_site(actor, inquiry.site_id):
        raise NotFound("inquiry not found")
    uow.info.setdefault(AUDIT_SITE, inquiry.site_id)
    return inquiry


def _step(uow: Session, actor: Actor, inquiry_id: int, expected_version: int | None, to: str) -> Inquiry:
    inquiry = _load(uow, actor, inquiry_id)
    check_version(inquiry, expected_version)
    if to not in NEXT[inquiry.status]:
        raise Conflict(f"an inquiry that is {inquiry.status} cannot become {to}", code="invalid_transition")
    return inquiry


def _responded(inquiry: Inquiry, actor: Actor, now: datetime) -> None:
    if inquiry.answered_at is None:
        inquiry.answered_at, inquiry.answered_by = now, actor.user_id


def answer_inquiry(db: Database, actor: Actor, inquiry_id: int, expected_version: int | None, data: AnswerIn,
                   *, now: datetime | None = None) -> InquiryView:
    require_role(actor, *WORK_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        inquiry = _step(uow, actor, inquiry_id, expected_version, "answered")
        _responded(inquiry, actor, now)
        inquiry.answer_note = data.note
        if inquiry.status == "new":
            inquiry.status = "answered"
        uow.flush()
        audit(uow, actor, "inquiry.answer", "inquiry", inquiry.id, {"late": now > inquiry.answer_by})
        return _view(inquiry, now)


def schedule_inquiry(db: Database, actor: Actor, inquiry_id: int, expected_version: int | None, data: ScheduleIn,
                     *, now: datetime | None = None) -> InquiryView:
    require_role(actor, *WORK_ROLES)
    now = now or utcnow()
    if data.scheduled_for.tzinfo is None:
        raise ValidationFailed("scheduled_for needs a time zone (e.g. 2026-01-05T09:00:00+01:00)", field="scheduled_for")
    with unit_of_work(db) as uow:
        inquiry = _step(uow, actor, inquiry_id, expected_version, "scheduled")
        _responded(inquiry, actor, now)
        inquiry.status, inquiry.scheduled_for = "scheduled", data.scheduled_for
        if data.note:
            inquiry.answer_note = data.note
        uow.flush()
        audit(uow, actor, "inquiry.schedule", "inquiry", inquiry.id, {"scheduled_for": data.scheduled_for.isoformat()})
        return _view(inquiry, now)


def convert_inquiry(db: Database, actor: Actor, inquiry_id: int, expected_version: int | None, data: ConvertIn,
                    *, now: datetime | None = None) -> ConvertResult:
    """Create the patient from the inquiry (the only way an inquiry leads to a chart)."""
    require_role(actor, *WORK_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        inquiry = _step(uow, actor, inquiry_id, expected_version, "converted")
        patient_in = data.patient.model_copy(update={
            "phone": data.patient.phone or inquiry.phone, "email": data.patient.email or inquiry.email,
            "site_id": data.patient.site_id or inquiry.site_id,  # the chart opens at the site asked for
        })
        patient = create_patient_in(uow, actor, patient_in, now=now)
        _responded(inquiry, actor, now)
        inquiry.status, inquiry.patient_id = "converted", patient.id
        uow.flush()
        audit(uow, actor, "inquiry.convert", "inquiry", inquiry.id, {"patient_id": patient.id})
        return ConvertResult(inquiry=_view(inquiry, now), patient=_patient_view(uow, patient))


def close_inquiry(db: Database, actor: Actor, inquiry_id: int, expected_version: int | None, data: CloseIn,
                  *, now: datetime | None = None) -> InquiryView:
    require_role(actor, *WORK_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        inquiry = _step(uow, actor, inquiry_id, expected_version, "closed")
        inquiry.status, inquiry.closed_reason = "closed", data.reason
        uow.flush()
        audit(uow, actor, "inquiry.close", "inquiry", inquiry.id)
        return _view(inquiry, now)

