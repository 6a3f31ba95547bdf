"""One-time account links (issue 12): a portal invitation for a patient, a password reset for any user.

Instead of an admin typing a raw patient id and a password for a patient, the admin (or the
coordinator, who registers patients: design.md 5) issues an **invitation** for a patient: a link with
256 random bits, which the database keeps only as their SHA-256, shown once to the person who issued
it (e-mail comes with design 4.9's outbox). The patient opens it, chooses a password (the same rules
as any account) and the portal account is made. An admin issues a **password reset** link for any
user the same way; using it sets the new password and ends every sign-in the user held.

A link works once, until it expires (clinic policy: invitations 72 h, resets 24 h), and only while it
is the newest of its kind for that patient or user (a new link revokes the earlier one). Issuing,
using and every refusal (unknown, used, expired, revoked) are in the audit log; a refusal says the
same "not valid" to the visitor whatever the reason, and the log keeps the reason.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Database
from ketaclinic.records.patients import Patient
from ketaclinic.records.users import AccountLink, User
from ketaclinic.services.auth import end_sign_ins, hash_password, lift_throttle
from ketaclinic.services.common import audit, get_or_404, require_role, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Conflict, NotFound, ValidationFailed
from ketaclinic.services.patients import SEARCH_LIMIT, pick_patients
from ketaclinic.services.sites import in_sites
from ketaclinic.services.staff import display_name
from ketaclinic.services.types import ID_MAX, Text
from ketaclinic.services.users import MIN_PASSWORD_LENGTH, USERNAME

INVITE_ROLES = ("admin", "coordinator")
RESET_ROLES = ("admin",)
# Clinic policy: long enough for a patient to find the message over a weekend day, short enough that a
# forgotten link does not stay usable; a reset is for someone waiting for it now.
INVITATION_LIFETIME_H = 72
RESET_LIFETIME_H = 24
TOKEN_MAX_CHARS = 200
PATHS = {"invitation": "/account/invitation/", "password_reset": "/account/reset/"}
Kind = Literal["invitation", "password_reset"]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class InvitationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient_id: int = Field(ge=1, le=ID_MAX)
    username: Text | None = Field(default=None, max_length=64,
                                  description="the portal username (default: from the patient's name)")

    @field_validator("username")
    @classmethod
    def _username(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().lower()
        if not USERNAME.match(value):
            raise ValueError("use lower-case letters, digits, '.', '_' or '-' (2 to 64 characters)")
        return value


class LinkIssued(BaseModel):
    """The answer to issuing a link: ``token`` and ``path`` are shown once and never stored."""

    kind: str
    token: str
    path: str
    expires_at: datetime
    patient_id: int | None
    user_id: int | None
    username: str
    for_name: str  # the patient's or user's name, to read back to the person who issued it


class LinkInfo(BaseModel):
    """What the page a link opens may say (nothing secret): who it is for and until when."""

    kind: str
    username: str
    for_name: str
    expires_at: datetime


class SetPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: Text = Field(min_length=1, max_length=TOKEN_MAX_CHARS)
    password: Text = Field(min_length=MIN_PASSWORD_LENGTH, max_length=1024)


def _suggested_username(uow: Session, patient: Patient) -> str:
    base = re.sub(r"[^a-z0-9]+", ".", f"{patient.given_name}.{patient.family_name}".lower()).strip(".") or "patient"
    base = base[:50].strip(".") or "patient"
    if not base[0].isalnum():
        base = "p" + base
    name, n = base, 1
    while _username_taken(uow, name):
        n += 1
        name = f"{base}{n}"
    return name


def _username_taken(uow: Session, username: str, *, except_patient: int | None = None) -> bool:
    if uow.execute(select(User.id).where(User.username == username)).first():
        return True
    pending = select(AccountLink.id).where(AccountLink.kind == "invitation", AccountLink.username == username,
                                           AccountLink.used_at.is_(None), AccountLink.revoked_at.is_(None),
                                           AccountLink.expires_at > utcnow())
    if except_patient is not None:
        pending = pending.where(AccountLink.patient_id != except_patient)
    return uow.execute(pending).first() is not None


def _portal_account(uow: Session, patient_id: int) -> User | None:
    return uow.execute(select(User).where(User.patient_id == patient_id, User.role == "patient")).scalars().first()


def _revoke_pending(uow: Session, now: datetime, **where: int) -> int:
    column, value = next(iter(where.items()))
    result = uow.execute(update(AccountLink).where(
        getattr(AccountLink, column) == value, AccountLink.used_at.is_(None), AccountLink.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False))
    return result.rowcount or 0


def _new_link(uow: Session, actor: Actor, now: datetime, *, kind: str, lifetime_h: int, **fields) -> tuple[str, AccountLink]:
    token = secrets.token_urlsafe(32)  # 256 random bits
    link = AccountLink(id=_digest(token), kind=kind, created_at=now, created_by=actor.user_id,
                       expires_at=now + timedelta(hours=lifetime_h), **fields)
    uow.add(link)
    uow.flush()
    return token, link


def issue_invitation(db: Database, actor: Actor, data: InvitationIn, *, now: datetime | None = None,
                     lifetime_h: int = INVITATION_LIFETIME_H) -> LinkIssued:
    """A one-time link that lets the patient make their portal account (admin or coordinator)."""
    require_role(actor, *INVITE_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        patient = get_or_404(uow, Patient, data.patient_id, "patient")
        if _portal_account(uow, patient.id) is not None:
            raise Conflict("this patient already has a portal account: issue a password reset for it instead",
                           code="portal_account_exists", field="patient_id")
        revoked = _revoke_pending(uow, now, patient_id=patient.id)
        username = data.username or _suggested_username(uow, patient)
        if _username_taken(uow, username, except_patient=patient.id):
            raise Conflict(f"username {username!r} is taken: choose another", code="username_taken", field="username")
        token, link = _new_link(uow, actor, now, kind="invitation", lifetime_h=lifetime_h,
                                patient_id=patient.id, username=username)
        audit(uow, actor, "invitation.issue", "patient", patient.id, {
            "link": link.id[:16], "username": username, "expires_at": link.expires_at.isoformat(),
            "revoked_earlier": revoked})
        return LinkIssued(kind="invitation", token=token, path=PATHS["invitation"] + token, expires_at=link.expires_at,
                          patient_id=patient.id, user_id=None, username=username,
                          for_name=f"{patient.given_name} {patient.family_name}")


def issue_password_reset(db: Database, actor: Actor, user_id: int, *, now: datetime | None = None,
                         lifetime_h: int = RESET_LIFETIME_H) -> LinkIssued:
    """A one-time link that sets a new password for ``user_id`` (admin)."""
    require_role(actor, *RESET_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        user = get_or_404(uow, User, user_id, "user")
        if not user.active:
            raise Conflict("the account is deactivated: activate it first", code="user_inactive", field="user_id")
        revoked = _revoke_pending(uow, now, user_id=user.id)
        token, link = _new_link(uow, actor, now, kind="password_reset", lifetime_h=lifetime_h, user_id=user.id)
        audit(uow, actor, "password_reset.issue", "user", user.id, {
            "link": link.id[:16], "expires_at": link.expires_at.isoformat(), "revoked_earlier": revoked})
        return LinkIssued(kind="password_reset", token=token, path=PATHS["password_reset"] + token,
                          expires_at=link.expires_at, patient_id=user.patient_id, user_id=user.id,
                          username=user.username, for_name=display_name(user.username, user.full_name, user.credentials))


def _invalid(kind: str) -> NotFound:
    what = "invitation" if kind == "invitation" else "password reset link"
    return NotFound(f"this {what} is not valid: it was already used, has expired or was replaced by a newer one. "
                    "Ask the clinic for a new one.", code="link_invalid")


def _why_refused(link: AccountLink | None, kind: str, now: datetime) -> str | None:
    if link is None or link.kind != kind:
        return "unknown"
    if link.used_at is not None:
        return "used"
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at <= now:
        return "expired"
    return None


def _find(uow: Session, token: str) -> AccountLink | None:
    if not token or len(token) > TOKEN_MAX_CHARS:
        return None
    return uow.get(AccountLink, _digest(token))


def _refuse(db: Database, ip: str | None, kind: str, link: AccountLink | None, reason: str) -> NotFound:
    """Log the refusal in its own transaction (so it stays when the caller's answer is an error)."""
    with unit_of_work(db) as uow:
        record = ("patient", link.patient_id) if link is not None and link.patient_id else (
            ("user", link.user_id) if link is not None else (None, None))
        audit(uow, Actor.public(ip), f"{kind}.refused", record[0], record[1],
              {"reason": reason, "link": link.id[:16] if link is not None else None})
    return _invalid(kind)


def link_info(db: Database, kind: Kind, token: str, *, ip: str | None, now: datetime | None = None) -> LinkInfo:
    """What the page behind a link shows; a link that cannot be used is refused (and the refusal logged)."""
    now = now or utcnow()
    with db.reading() as uow:
        link = _find(uow, token)
        reason = _why_refused(link, kind, now)
        if reason is None:
            assert link is not None
            if kind == "invitation":
                patient = uow.get(Patient, link.patient_id)
                name = f"{patient.given_name} {patient.family_name}" if patient else "—"
                username = link.username or ""
            else:
                user = uow.get(User, link.user_id)
                name = display_name(user.username, user.full_name, user.credentials) if user else "—"
                username = user.username if user else ""
            return LinkInfo(kind=kind, username=username, for_name=name, expires_at=link.expires_at)
    raise _refuse(db, ip, kind, link, reason)


def _claim(uow: Session, link: AccountLink, now: datetime) -> bool:
    """Mark the link used, if nobody else did first (one UPDATE: two tabs cannot both use it)."""
    result = uow.execute(update(AccountLink).where(AccountLink.id == link.id, AccountLink.used_at.is_(None),
                                                       AccountLink.revoked_at.is_(None))
                             .values(used_at=now).execution_options(synchronize_session=False))
    return bool(result.rowcount)


def accept_invitation(db: Database, data: SetPassword, *, ip: str | None, now: datetime | None = None) -> LinkInfo:
    """The patient sets a password: the portal account is made and the link is spent."""
    now = now or utcnow()
    failure: tuple[AccountLink | None, str] | None = None
    with unit_of_work(db) as uow:
        link = _find(uow, data.token)
        reason = _why_refused(link, "invitation", now)
        if reason is None and not _claim(uow, link, now):
            reason = "used"
        if reason is not None:
            failure = (link, reason)
        else:
            assert link is not None and link.patient_id is not None and link.username is not None
            if _portal_account(uow, link.patient_id) is not None:
                raise Conflict("this patient already has a portal account: sign in, or ask the clinic for a "
                               "password reset", code="portal_account_exists")
            if uow.execute(select(User.id).where(User.username == link.username)).first():
                raise Conflict(f"the username {link.username!r} was taken meanwhile: ask the clinic for a new "
                               "invitation", code="username_taken")
            user = User(username=link.username, role="patient", patient_id=link.patient_id,
                        password_hash=hash_password(data.password), created_by=link.created_by)
            uow.add(user)
            uow.flush()
            patient = uow.get(Patient, link.patient_id)
            actor = Actor(user_id=user.id, username=user.username, role="patient", patient_id=user.patient_id, ip=ip)
            audit(uow, actor, "invitation.accept", "patient", link.patient_id,
                  {"link": link.id[:16], "user_id": user.id, "username": user.username})
            info = LinkInfo(kind="invitation", username=user.username, expires_at=link.expires_at,
                            for_name=f"{patient.given_name} {patient.family_name}" if patient else "—")
    if failure is not None:
        raise _refuse(db, ip, "invitation", *failure)
    return info


def reset_password(db: Database, data: SetPassword, *, ip: str | None, now: datetime | None = None) -> LinkInfo:
    """Set the new password from a reset link; every earlier sign-in of the user ends (token_version)."""
    now = now or utcnow()
    failure: tuple[AccountLink | None, str] | None = None
    with unit_of_work(db) as uow:
        link = _find(uow, data.token)
        reason = _why_refused(link, "password_reset", now)
        user = uow.get(User, link.user_id) if reason is None and link is not None else None
        if reason is None and (user is None or not user.active):
            reason = "user_inactive"
        if reason is None and not _claim(uow, link, now):
            reason = "used"
        if reason is not None:
            failure = (link, reason)
        else:
            assert link is not None and user is not None
            uow.execute(update(User).where(User.id == user.id).values(password_hash=hash_password(data.password))
                            .execution_options(synchronize_session=False))
            end_sign_ins(uow, user.id, now)
            lift_throttle(uow, user.username)
            actor = Actor(user_id=user.id, username=user.username, role=user.role, patient_id=user.patient_id, ip=ip)
            audit(uow, actor, "password_reset.use", "user", user.id, {"link": link.id[:16]})
            info = LinkInfo(kind="password_reset", username=user.username, expires_at=link.expires_at,
                            for_name=display_name(user.username, user.full_name, user.credentials))
    if failure is not None:
        raise _refuse(db, ip, "password_reset", *failure)
    return info


def check_password_pair(password: str, again: str) -> None:
    """The web form's two fields must agree (the API sends one)."""
    if password != again:
        raise ValidationFailed("the two passwords differ: type the same password twice", field="password_again")


class InvitablePatient(BaseModel):
    id: int
    name: str
    birth_date: date
    pending_until: datetime | None  # an unused invitation's expiry, if one is out


class InvitablePatients(BaseModel):
    items: list[InvitablePatient]
    more: bool  # more patients match than the picker shows: the search should be narrower


def find_invitable(db: Database, actor: Actor, *, q: str | None = None, patient_id: int | None = None,
                   limit: int = SEARCH_LIMIT, now: datetime | None = None) -> InvitablePatients:
    """The invitation form's patient picker (issue 17): patients of the actor's sites without a portal account
    that the search ``q`` finds (name start, number, birth date; by name, at most ``limit``), or the chosen
    ``patient_id``; never the whole clinic. A search shows names and birth dates: it is audited."""
    require_role(actor, *INVITE_ROLES)
    now = now or utcnow()
    if patient_id is not None and not 1 <= patient_id <= ID_MAX:
        return InvitablePatients(items=[], more=False)
    no_account = ~exists().where(User.patient_id == Patient.id)
    searching = patient_id is None and bool(q and q.strip())
    with unit_of_work(db) if searching else db.reading() as uow:
        found, more = pick_patients(uow, actor, q=q, patient_id=patient_id, limit=limit, where=[no_account])
        ids = [p.id for p in found]
        pending = dict(uow.execute(select(AccountLink.patient_id, AccountLink.expires_at).where(
            AccountLink.patient_id.in_(ids), AccountLink.kind == "invitation", AccountLink.used_at.is_(None),
            AccountLink.revoked_at.is_(None), AccountLink.expires_at > now)).all()) if ids else {}
        if searching:
            audit(uow, actor, "patient.search", "patient", None, {"q": q.strip()[:100], "ids": ids,
                                                                  "for": "invitation"})
    return InvitablePatients(items=[InvitablePatient(id=p.id, name=p.name, birth_date=p.birth_date,
                                                     pending_until=pending.get(p.id)) for p in found], more=more)


COUNT_CAP = 1000  # the users page counts patients without a portal account up to this, then says "or more"


def without_portal_account(db: Database, actor: Actor, *, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many patients of the actor's sites have no portal account yet, counted up to ``cap`` (and whether
    there are more): the users page's one line reads at most ``cap`` patients by index, never the clinic."""
    require_role(actor, *INVITE_ROLES)
    with db.reading() as uow:
        first = in_sites(select(Patient.id).where(~exists().where(User.patient_id == Patient.id)), actor,
                         Patient.site_id).order_by(Patient.id).limit(cap + 1).subquery()
        count = uow.execute(select(func.count()).select_from(first)).scalar_one()
    return min(count, cap), count > cap
