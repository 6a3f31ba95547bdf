"""User accounts: create, list, change role / deactivate / unlock / reset password, full name and
credentials (admin work, design.md 5; names as signed, issue 12).

A change of password, role (or linked patient) and deactivation end every sign-in the user holds
(design.md 4.10). No change may leave the clinic without an active admin (409 ``last_admin``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, or_, select

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Database
from ketaclinic.records.patients import Patient
from ketaclinic.records.users import LoginThrottle, User
from ketaclinic.services.auth import end_sign_ins, hash_password, lift_throttle, throttle_keys
from ketaclinic.services.common import (
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
from ketaclinic.services.sites import add_default_membership, follow_role_change
from ketaclinic.services.staff import display_name
from ketaclinic.services.types import ID_MAX, RecordId, Text

RoleName = Literal["admin", "physician", "nurse", "coordinator", "patient"]
MIN_PASSWORD_LENGTH = 10  # NIST SP 800-63B asks for at least 8; the clinic asks for 10
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
FULL_NAME_MAX = 120
CREDENTIALS_MAX = 40
# One credential: letters first, then letters, digits, '.', '-' or '/' ("MD", "RN", "PharmD", "APRN-BC")
_CREDENTIAL = re.compile(r"^[A-Za-z][A-Za-z0-9./-]{0,11}$")
CREDENTIALS_HELP = "letters such as MD, RN, NP or DO; several separated by commas (MD, PhD)"


def clean_full_name(value: str | None) -> str | None:
    """A person's name as it is signed: spaces collapsed; letters needed, digits refused; blank means none."""
    if value is None:
        return None
    value = " ".join(value.split())
    if not value:
        return None
    if len(value) > FULL_NAME_MAX:
        raise ValueError(f"a full name has at most {FULL_NAME_MAX} characters")
    if not any(c.isalpha() for c in value) or any(c.isdigit() for c in value):
        raise ValueError("write the person's name in letters, as it is signed (for example Ana Ruiz)")
    if any(c in value for c in "<>@;\\{}[]"):
        raise ValueError("a full name has letters, spaces, hyphens, apostrophes and full stops only")
    return value


def clean_credentials(value: str | None) -> str | None:
    """"md , phd" → "MD, PhD"-style list: each credential checked, joined with ", "; blank means none."""
    if value is None:
        return None
    parts = [p.strip() for p in value.replace(";", ",").split(",")]
    parts = [p for p in parts if p]
    if not parts:
        return None
    for part in parts:
        if not _CREDENTIAL.match(part):
            raise ValueError(f"“{part}” is not a credential: use {CREDENTIALS_HELP}")
    # all-lower typing ("md") reads as the usual capitals; mixed case ("PharmD", "PhD") is kept as typed
    joined = ", ".join(p.upper() if p.islower() else p for p in parts)
    if len(joined) > CREDENTIALS_MAX:
        raise ValueError(f"credentials have at most {CREDENTIALS_MAX} characters")
    return joined


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Text = Field(min_length=2, max_length=64)
    role: RoleName
    password: Text = Field(min_length=MIN_PASSWORD_LENGTH, max_length=1024)
    patient_id: RecordId | None = None
    full_name: Text | None = Field(default=None, max_length=400)
    credentials: Text | None = Field(default=None, max_length=200)

    _full_name = field_validator("full_name")(classmethod(lambda cls, v: clean_full_name(v)))
    _credentials = field_validator("credentials")(classmethod(lambda cls, v: clean_credentials(v)))

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        value = value.strip().lower()
        if not USERNAME.match(value):
            raise ValueError("use lower-case letters, digits, '.', '_' or '-'")
        return value


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: RoleName | None = None
    active: bool | None = None
    unlock: bool | None = None
    password: Text | None = Field(default=None, min_length=MIN_PASSWORD_LENGTH, max_length=1024)
    patient_id: RecordId | None = None
    full_name: Text | None = Field(default=None, max_length=400, description="blank or null clears it")
    credentials: Text | None = Field(default=None, max_length=200, description="blank or null clears it")
    npi: Text | None = Field(default=None, max_length=20, description="National Provider Identifier (10 digits, "
                             "CMS Luhn check; issue 15); blank or null clears it")

    _full_name = field_validator("full_name")(classmethod(lambda cls, v: clean_full_name(v)))
    _credentials = field_validator("credentials")(classmethod(lambda cls, v: clean_credentials(v)))
    _npi = field_validator("npi")(classmethod(lambda cls, v: _clean_npi(v)))


def _clean_npi(value: str | None) -> str | None:
    from ketaclinic.clinical.billing_codes import BillingInputError, clean_npi  # issue 15 (billing)

    try:
        return clean_npi(value)
    except BillingInputError as error:
        raise ValueError(str(error)) from None


class UserView(BaseModel):
    id: int
    version: int
    created_at: datetime
    created_by: int | None
    username: str
    role: str
    patient_id: int | None
    active: bool
    locked_until: datetime | None
    last_login_at: datetime | None
    full_name: str | None = None
    credentials: str | None = None
    npi: str | None = None
    display_name: str = ""

    @classmethod
    def of(cls, user: User, locked_until: datetime | None = None) -> UserView:
        """The account; ``locked_until`` is when its sign-in throttle ends (None when none holds)."""
        view = cls.model_validate(user, from_attributes=True)
        view.display_name = display_name(user.username, user.full_name, user.credentials)
        view.locked_until = locked_until if locked_until is not None and locked_until > utcnow() else None
        return view


def _throttles(uow, usernames: list[str]) -> dict[str, datetime | None]:
    keys = {throttle_keys(name, None)["account"]: name for name in usernames}
    rows = uow.execute(select(LoginThrottle).where(LoginThrottle.key.in_(list(keys)))).scalars().all() if keys else []
    return {keys[row.key]: row.blocked_until for row in rows}


def _check_credentials_role(role: str, credentials: str | None) -> None:
    if role == "patient" and credentials:
        raise ValidationFailed("a patient account carries no professional credentials", field="credentials")


def _check_patient_link(uow, role: str, patient_id: int | None) -> None:
    if role == "patient":
        if patient_id is None:
            raise ValidationFailed("a patient account must name its patient", field="patient_id")
        if uow.get(Patient, patient_id) is None:
            raise ValidationFailed("no such patient", field="patient_id")
    elif patient_id is not None:
        raise ValidationFailed("only a patient account links to a patient", field="patient_id")


def create_user(db: Database, actor: Actor, data: UserCreate) -> UserView:
    require_role(actor, "admin")
    with unit_of_work(db) as uow:
        if uow.execute(select(User.id).where(User.username == data.username)).first():
            raise Conflict(f"username {data.username!r} is taken", code="username_taken", field="username")
        _check_patient_link(uow, data.role, data.patient_id)
        _check_credentials_role(data.role, data.credentials)
        user = User(
            username=data.username, role=data.role, password_hash=hash_password(data.password),
            patient_id=data.patient_id, created_by=actor.user_id, full_name=data.full_name,
            credentials=data.credentials,
        )
        uow.add(user)
        uow.flush()
        add_default_membership(uow, actor, user)  # issue 17: a new staff account starts at the default site
        audit(uow, actor, "user.create", "user", user.id, {"username": user.username, "role": user.role,
                                                               "full_name": user.full_name,
                                                               "credentials": user.credentials})
        return UserView.of(user)


def list_users(db: Database, actor: Actor, *, limit: int | None = None, cursor: str | None = None,
               q: str | None = None, kind: Literal["staff", "patient"] | None = None) -> Page[UserView]:
    """Accounts by id, keyset (``cursor``); ``q`` matches the start of the username or full name (case folded),
    ``kind`` keeps the staff or the patient portal accounts (issue 17: a group has 100,000 patients, many
    with an account: a page is a screenful, never every account)."""
    require_role(actor, "admin")
    limit = clamp_limit(limit)
    after = cursor_int(cursor) or 0
    with unit_of_work(db) as uow:
        query = select(User).where(User.id > after).order_by(User.id).limit(limit + 1)
        if kind is not None:
            query = query.where(User.role == "patient" if kind == "patient" else User.role != "patient")
        text = (q or "").strip().lower()[:64]
        if text:
            pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(or_(User.username.like(pattern, escape="\\"),
                                    func.lower(User.full_name).like(pattern, escape="\\")))
        rows = uow.execute(query).scalars().all()
        throttled = _throttles(uow, [user.username for user in rows[:limit]])
        audit(uow, actor, "user.list", "user", None, {"count": min(len(rows), limit)})
        return page_of(rows, limit, lambda user: UserView.of(user, throttled.get(user.username)))


def get_user(db: Database, actor: Actor, user_id: int) -> UserView:
    """One account (its name page), by id."""
    require_role(actor, "admin")
    with db.reading() as uow:
        user = uow.get(User, user_id) if 1 <= user_id <= ID_MAX else None
        if user is None:
            raise NotFound("account not found")
        return UserView.of(user, _throttles(uow, [user.username]).get(user.username))


def _other_active_admins(uow, user_id: int) -> int:
    query = select(User.id).where(User.role == "admin", User.active.is_(True), User.id != user_id)
    if uow.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()  # two admins demoting each other at once: the second waits and sees it
    return len(uow.execute(query).all())


def update_user(db: Database, actor: Actor, user_id: int, expected_version: int | None, data: UserUpdate) -> UserView:
    require_role(actor, "admin")
    with unit_of_work(db) as uow:
        user = get_or_404(uow, User, user_id, "user")
        check_version(user, expected_version)
        changed: list[str] = []
        role = data.role or user.role
        patient_id = data.patient_id if "patient_id" in data.model_fields_set else user.patient_id
        if role != "patient" and "patient_id" not in data.model_fields_set:
            patient_id = None
        _check_patient_link(uow, role, patient_id)
        active = user.active if data.active is None else data.active
        if user.role == "admin" and user.active and (role != "admin" or not active) \
                and _other_active_admins(uow, user.id) == 0:
            raise Conflict("this is the last active admin: make another admin first", code="last_admin")
        if role != user.role or patient_id != user.patient_id:
            follow_role_change(uow, actor, user, user.role, role)  # issue 17: memberships follow the account role
            user.role, user.patient_id = role, patient_id
            changed += ["role", "patient_id"]
        if active != user.active:
            if user.id == actor.user_id and not active:
                raise Conflict("you cannot deactivate your own account", code="self_deactivation")
            user.active = active
            changed.append("active")
        if data.unlock and lift_throttle(uow, user.username):
            changed.append("unlock")
        if data.password is not None:
            user.password_hash = hash_password(data.password)
            changed.append("password")
        for name in ("full_name", "credentials", "npi"):
            if name in data.model_fields_set and getattr(data, name) != getattr(user, name):
                setattr(user, name, getattr(data, name))
                changed.append(name)
        _check_credentials_role(user.role, user.credentials)
        if changed:
            uow.flush()
        if {"role", "active", "password"} & set(changed):
            end_sign_ins(uow, user.id)
        audit(uow, actor, "user.update", "user", user.id, {"changed": changed})
        return UserView.of(user, _throttles(uow, [user.username]).get(user.username))
