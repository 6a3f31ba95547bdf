"""User accounts: create, list, change role / deactivate / unlock / reset password (admin work, design.md 5).

A change of password, role (or linked patient) and deactivation end every sign-in the user holds
(design.md 4.10). No change may leave the clinic without an active admin (409 ``last_admin``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select

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
from ketaclinic.services.errors import Conflict, ValidationFailed
from ketaclinic.services.types import Text

RoleName = Literal["admin", "physician", "nurse", "coordinator", "patient"]
MIN_PASSWORD_LENGTH = 10  # NIST SP 800-63B asks for at least 8; the clinic asks for 10
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Text = Field(min_length=2, max_length=64)
    role: RoleName
    password: Text = Field(min_length=MIN_PASSWORD_LENGTH, max_length=1024)
    patient_id: int | None = None

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
    patient_id: int | None = None


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

    @classmethod
    def of(cls, user: User, locked_until: datetime | None = None) -> UserView:
        """The account; ``locked_until`` is when its sign-in throttle ends (None when none holds)."""
        view = cls.model_validate(user, from_attributes=True)
        view.locked_until = locked_until if locked_until is not None and locked_until > utcnow() else None
        return view


def _throttles(session, usernames: list[str]) -> dict[str, datetime | None]:
    keys = {throttle_keys(name, None)["account"]: name for name in usernames}
    rows = session.execute(select(LoginThrottle).where(LoginThrottle.key.in_(list(keys)))).scalars().all() if keys else []
    return {keys[row.key]: row.blocked_until for row in rows}


def _check_patient_link(session, role: str, patient_id: int | None) -> None:
    if role == "patient":
        if patient_id is None:
            raise ValidationFailed("a patient account must name its patient", field="patient_id")
        if session.get(Patient, patient_id) is None:
            raise ValidationFailed("no such patient", field="patient_id")
    elif patient_id is not None:
        raise ValidationFailed("only a patient account links to a patient", field="patient_id")


def create_user(db: Database, actor: Actor, data: UserCreate) -> UserView:
    require_role(actor, "admin")
    with unit_of_work(db) as session:
        if session.execute(select(User.id).where(User.username == data.username)).first():
            raise Conflict(f"username {data.username!r} is taken", code="username_taken", field="username")
        _check_patient_link(session, data.role, data.patient_id)
        user = User(
            username=data.username, role=data.role, password_hash=hash_password(data.password),
            patient_id=data.patient_id, created_by=actor.user_id,
        )
        session.add(user)
        session.flush()
        audit(session, actor, "user.create", "user", user.id, {"username": user.username, "role": user.role})
        return UserView.of(user)


def list_users(db: Database, actor: Actor, *, limit: int | None = None, cursor: str | None = None) -> Page[UserView]:
    require_role(actor, "admin")
    limit = clamp_limit(limit)
    after = cursor_int(cursor) or 0
    with unit_of_work(db) as session:
        rows = session.execute(select(User).where(User.id > after).order_by(User.id).limit(limit + 1)).scalars().all()
        throttled = _throttles(session, [user.username for user in rows[:limit]])
        audit(session, actor, "user.list", "user", None, {"count": min(len(rows), limit)})
        return page_of(rows, limit, lambda user: UserView.of(user, throttled.get(user.username)))


def _other_active_admins(session, user_id: int) -> int:
    query = select(User.id).where(User.role == "admin", User.active.is_(True), User.id != user_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()  # two admins demoting each other at once: the second waits and sees it
    return len(session.execute(query).all())


def update_user(db: Database, actor: Actor, user_id: int, expected_version: int | None, data: UserUpdate) -> UserView:
    require_role(actor, "admin")
    with unit_of_work(db) as session:
        user = get_or_404(session, User, user_id, "user")
        check_version(user, expected_version)
        changed: list[str] = []
        role = data.role or user.role
        patient_id = data.patient_id if "patient_id" in data.model_fields_set else user.patient_id
        if role != "patient" and "patient_id" not in data.model_fields_set:
            patient_id = None
        _check_patient_link(session, role, patient_id)
        active = user.active if data.active is None else data.active
        if user.role == "admin" and user.active and (role != "admin" or not active) \
                and _other_active_admins(session, user.id) == 0:
            raise Conflict("this is the last active admin: make another admin first", code="last_admin")
        if role != user.role or patient_id != user.patient_id:
            user.role, user.patient_id = role, patient_id
            changed += ["role", "patient_id"]
        if active != user.active:
            if user.id == actor.user_id and not active:
                raise Conflict("you cannot deactivate your own account", code="self_deactivation")
            user.active = active
            changed.append("active")
        if data.unlock and lift_throttle(session, user.username):
            changed.append("unlock")
        if data.password is not None:
            user.password_hash = hash_password(data.password)
            changed.append("password")
        if changed:
            session.flush()
        if {"role", "active", "password"} & set(changed):
            end_sign_ins(session, user.id)
        audit(session, actor, "user.update", "user", user.id, {"changed": changed})
        return UserView.of(user, _throttles(session, [user.username]).get(user.username))
