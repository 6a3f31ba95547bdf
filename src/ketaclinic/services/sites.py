"""Sites of a clinic group and the staff who work at each (issue 17, design.md 3 "site", 7).

Any staff member lists the sites; an admin creates and edits them (If-Match) and says who works where,
with a role at each site. Every change is audited. The group always keeps one admin membership: the
last one cannot be removed or given another role (409 ``last_site_admin``).

The access rule every patient service applies lives here too: a staff member reaches the patients
of the sites they work at (``Actor.site_ids``); the system actor (terminal, demo) reaches every site;
a patient user reaches only their own chart (services/patients.py).
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from ketaclinic.records.db import Database
from ketaclinic.records.patients import Patient
from ketaclinic.records.sites import STAFF_ROLES, Site, StaffSite
from ketaclinic.records.users import User
from ketaclinic.services.common import audit, check_version, get_or_404, require_role, unit_of_work
from ketaclinic.services.context import Actor, SiteChoice
from ketaclinic.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ketaclinic.services.types import Text

CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,15}$")


def _clean_name(value: str | None) -> str | None:
    if value is None:
        return None
    value = " ".join(value.split())
    if not value:
        raise ValueError("must not be blank")
    return value


def _clean_code(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().upper()
    if not CODE.match(value):
        raise ValueError("a site code is 1-16 letters, digits or hyphens (for example MAIN or NORTH-2)")
    return value


def _clean_timezone(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone name (for example Europe/Madrid)") from None
    return value


def _clean_address(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


class SiteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=120)
    code: Text = Field(min_length=1, max_length=16, description="Short code, letters/digits/hyphens (MAIN)")
    timezone: Text | None = Field(default=None, max_length=64,
                                  description="IANA time zone name; absent: the clinic's time zone")
    address: Text | None = Field(default=None, max_length=500)

    _name = field_validator("name")(_clean_name)
    _code = field_validator("code")(_clean_code)
    _zone = field_validator("timezone")(_clean_timezone)
    _address = field_validator("address")(_clean_address)


class SitePatch(BaseModel):
    """Only the fields sent change; ``timezone`` and ``address`` may be cleared with null."""

    model_config = ConfigDict(extra="forbid")
    name: Text | None = Field(default=None, min_length=1, max_length=120)
    code: Text | None = Field(default=None, min_length=1, max_length=16)
    timezone: Text | None = Field(default=None, max_length=64)
    address: Text | None = Field(default=None, max_length=500)
    active: bool | None = None

    _name = field_validator("name")(_clean_name)
    _code = field_validator("code")(_clean_code)
    _zone = field_validator("timezone")(_clean_timezone)
    _address = field_validator("address")(_clean_address)


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str = Field(description="admin, physician, nurse or coordinator: the role at this site")

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        if value not in STAFF_ROLES:
            raise ValueError(f"role must be one of {', '.join(STAFF_ROLES)}")
        return value


class MemberView(BaseModel):
    user_id: int
    username: str
    role: str


class SiteView(BaseModel):
    id: int
    version: int
    name: str
    code: str
    timezone: str | None
    address: str | None
    active: bool
    members: list[MemberView] = []

    @classmethod
    def of(cls, site: Site, members: list[MemberView] | None = None) -> SiteView:
        return cls(id=site.id, version=site.version, name=site.name, code=site.code, timezone=site.timezone,
                   address=site.address, active=site.active, members=members or [])


# --- the access rule ------------------------------------------------------------------------


def site_bound(actor: Actor) -> bool:
    """Whether ``actor`` is limited to the sites they work at (every staff role)."""
    return actor.role in STAFF_ROLES


def may_see_site(actor: Actor, site_id: int) -> bool:
    return not site_bound(actor) or site_id in actor.site_ids


def in_sites(query: Any, actor: Actor, site_column: Any) -> Any:
    """``query`` kept to the actor's sites (as the header's picker narrowed them) by a ``site_id`` column."""
    return query.where(site_column.in_(actor.site_ids)) if site_bound(actor) else query


def patients_in_sites(query: Any, actor: Actor, patient_column: Any) -> Any:
    """``query`` kept to the patients of the actor's sites, for a table that names the patient only.

    A correlated ``EXISTS`` (each row's patient looked up by primary key), not ``patient_id IN (SELECT id
    FROM patients WHERE site_id IN ...)``: SQLite plans the ``IN`` form from the patients side, reading
    every patient of the sites and sorting, even when the query's own index (the drafts by status and
    id) would find its page in a few rows: 65 ms against 0.02 ms for the physician's drafts at 20,000
    patients (issue 17). PostgreSQL makes the same semi-join of either form."""
    if not site_bound(actor):
        return query
    return query.where(exists().where(Patient.id == patient_column, Patient.site_id.in_(actor.site_ids)))


def default_site_id(uow: Session) -> int:
    """The group's default site: the lowest id (migration 0011 made it first)."""
    found = uow.execute(select(func.min(Site.id))).scalar_one_or_none()
    if found is None:
        raise Conflict("the clinic has no site: run `ketaclinic migrate`", code="no_site")
    return int(found)


def site_for_new_patient(uow: Session, actor: Actor, site_id: int | None) -> int:
    """The site a new patient goes to: the one asked for (where the actor works), else the actor's
    only site, else the lowest id of the actor's sites (the default site for the system actor)."""
    if site_id is None:
        if not site_bound(actor):
            return default_site_id(uow)
        if not actor.site_ids:
            raise Forbidden("you work at no site yet: an administrator adds you to one", code="no_site")
        return min(actor.site_ids)
    site = uow.get(Site, site_id)
    if site is None:
        raise ValidationFailed(f"there is no site {site_id}", field="site_id")
    if not may_see_site(actor, site.id):
        raise Forbidden(f"you do not work at site {site.name} ({site.code}): patients are added at your own sites",
                        code="site_not_yours", field="site_id")
    if not site.active:
        raise ValidationFailed(f"site {site.name} is closed: choose an open site", field="site_id")
    return site.id


# --- the site a request works at, and the role there ------------------------------------------


class SiteNotYours(Forbidden):
    """A request asked to work at a site the user does not work at (403 ``site_not_yours``)."""

    def __init__(self, site_id: int):
        super().__init__(f"you do not work at site {site_id}: pick one of your own sites (or none for all of them)",
                         code="site_not_yours", field="site_id")


def site_choices(uow: Session, user_id: int) -> tuple[SiteChoice, ...]:
    """Every site ``user_id`` works at with the role there, by site id (one query)."""
    rows = uow.execute(select(Site.id, Site.name, Site.code, StaffSite.role)
                       .join(StaffSite, StaffSite.site_id == Site.id).where(StaffSite.user_id == user_id)
                       .order_by(Site.id)).all()
    return tuple(SiteChoice(id=row.id, name=row.name, code=row.code, role=row.role) for row in rows)


def scope_of(account_role: str, choices: tuple[SiteChoice, ...], picked: int | None) -> tuple[str, tuple[int, ...], int | None]:
    """(role, site_ids, site_id) of one request (pure; docs/decisions.md "Per-site roles").

    - A site picked (header picker, ``X-Site-Id``): the role is the role **at that site** and the request
      reaches that site only. A site the user does not work at: :class:`SiteNotYours`.
    - One site only: as if it were picked (no picker to choose from).
    - "All sites": the account's role (``users.role``), over the sites where the user holds that same role;
      a site where they hold another role is reached by picking it, so no request ever acts with one
      site's role on another site's patients.
    """
    if picked is not None:
        found = next((c for c in choices if c.id == picked), None)
        if found is None:
            raise SiteNotYours(picked)
        return found.role, (found.id,), found.id
    if len(choices) == 1:
        return choices[0].role, (choices[0].id,), choices[0].id
    return account_role, tuple(c.id for c in choices if c.role == account_role), None


def follow_role_change(uow: Session, actor: Actor, user: User, old_role: str, new_role: str) -> None:
    """Keep memberships consistent when an account's role changes (services/users.update_user).

    The memberships that held the old account role take the new one (the sites where the user held
    another role keep it); a staff account made a patient account leaves every site; a patient account
    made staff starts at the default site. The group's last admin membership is never changed away."""
    if old_role == new_role:
        return
    if old_role == "patient":
        add_default_membership(uow, actor, user, new_role)
        return
    memberships = list(uow.execute(select(StaffSite).where(StaffSite.user_id == user.id)
                                   .order_by(StaffSite.site_id)).scalars())
    for membership in memberships:
        if new_role != "patient" and membership.role != old_role:
            continue
        if _last_admin_membership(uow, membership):
            raise Conflict("this is the group's last admin membership: make someone else admin at a site first",
                           code="last_site_admin")
        if new_role == "patient":
            audit(uow, actor, "site.member.remove", "site", membership.site_id,
                  {"user_id": user.id, "role": membership.role}, site_id=membership.site_id)
            uow.delete(membership)
        else:
            audit(uow, actor, "site.member.role", "site", membership.site_id,
                  {"user_id": user.id, "from": membership.role, "to": new_role}, site_id=membership.site_id)
            membership.role = new_role
    uow.flush()


def site_ids_of(uow: Session, user_id: int) -> tuple[int, ...]:
    return tuple(uow.execute(select(StaffSite.site_id).where(StaffSite.user_id == user_id)
                             .order_by(StaffSite.site_id)).scalars())


# --- operations ------------------------------------------------------------------------------


def _members(uow: Session, site_ids: list[int]) -> dict[int, list[MemberView]]:
    found: dict[int, list[MemberView]] = {site_id: [] for site_id in site_ids}
    rows = uow.execute(select(StaffSite.site_id, StaffSite.user_id, User.username, StaffSite.role)
                       .join(User, User.id == StaffSite.user_id).where(StaffSite.site_id.in_(site_ids))
                       .order_by(StaffSite.site_id, User.username)).all()
    for site_id, user_id, username, role in rows:
        found[site_id].append(MemberView(user_id=user_id, username=username, role=role))
    return found


def list_sites(db: Database, actor: Actor, *, members: bool = False) -> list[SiteView]:
    """Every site of the group (any staff member); ``members`` (admin only) adds who works at each."""
    require_role(actor, *STAFF_ROLES)
    if members:
        require_role(actor, "admin")
    with db.reading() as uow:
        sites = list(uow.execute(select(Site).order_by(Site.id)).scalars())
        who = _members(uow, [s.id for s in sites]) if members else {}
        return [SiteView.of(site, who.get(site.id)) for site in sites]


def get_site(db: Database, actor: Actor, site_id: int) -> SiteView:
    require_role(actor, "admin")
    with db.reading() as uow:
        site = get_or_404(uow, Site, site_id, "site")
        return SiteView.of(site, _members(uow, [site.id])[site.id])


def _check_unique(uow: Session, name: str | None, code: str | None, site_id: int | None) -> None:
    for column, value, field in ((Site.name, name, "name"), (Site.code, code, "code")):
        if value is None:
            continue
        query = select(Site.id).where(func.lower(column) == value.lower())
        if site_id is not None:
            query = query.where(Site.id != site_id)
        if uow.execute(query).first():
            raise Conflict(f"another site already has the {field} {value!r}", code=f"site_{field}_taken", field=field)


def create_site(db: Database, actor: Actor, data: SiteIn) -> SiteView:
    require_role(actor, "admin")
    with unit_of_work(db) as uow:
        _check_unique(uow, data.name, data.code, None)
        site = Site(name=data.name, code=data.code, timezone=data.timezone, address=data.address, active=True,
                    created_by=actor.user_id)
        uow.add(site)
        uow.flush()
        audit(uow, actor, "site.create", "site", site.id, data.model_dump(), site_id=site.id)
        return SiteView.of(site)


def update_site(db: Database, actor: Actor, site_id: int, expected_version: int | None, patch: SitePatch) -> SiteView:
    require_role(actor, "admin")
    sent = patch.model_fields_set
    for required in ("name", "code", "active"):
        if required in sent and getattr(patch, required) is None:
            raise ValidationFailed(f"{required} cannot be cleared", field=required)
    with unit_of_work(db) as uow:
        site = get_or_404(uow, Site, site_id, "site")
        check_version(site, expected_version)
        _check_unique(uow, patch.name if "name" in sent else None, patch.code if "code" in sent else None, site.id)
        changes = {}
        for field in ("name", "code", "timezone", "address", "active"):
            if field in sent and getattr(patch, field) != getattr(site, field):
                changes[field] = {"from": getattr(site, field), "to": getattr(patch, field)}
                setattr(site, field, getattr(patch, field))
        if changes:
            uow.flush()
            audit(uow, actor, "site.update", "site", site.id, changes, site_id=site.id)
        return SiteView.of(site, _members(uow, [site.id])[site.id])


def _last_admin_membership(uow: Session, membership: StaffSite) -> bool:
    if membership.role != "admin":
        return False
    query = select(StaffSite.id).where(StaffSite.role == "admin", StaffSite.id != membership.id)
    if uow.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()  # two admins removing each other at once: the second waits and sees it
    return uow.execute(query).first() is None


def set_member(db: Database, actor: Actor, site_id: int, user_id: int, data: MemberIn) -> SiteView:
    """``user_id`` works at ``site_id`` with ``data.role`` (added, or the role changed)."""
    require_role(actor, "admin")
    with unit_of_work(db) as uow:
        site = get_or_404(uow, Site, site_id, "site")
        user = get_or_404(uow, User, user_id, "user")
        if user.role == "patient":
            raise ValidationFailed("a patient account works at no site: it reaches only its own chart",
                                   code="patient_not_staff", field="user_id")
        membership = uow.execute(select(StaffSite).where(StaffSite.user_id == user.id,
                                                         StaffSite.site_id == site.id)).scalar_one_or_none()
        if membership is None:
            uow.add(StaffSite(user_id=user.id, site_id=site.id, role=data.role, created_by=actor.user_id))
            uow.flush()
            audit(uow, actor, "site.member.add", "site", site.id, {"user_id": user.id, "role": data.role}, site_id=site.id)
        elif membership.role != data.role:
            if _last_admin_membership(uow, membership):
                raise Conflict("this is the group's last admin membership: make someone else admin at a site first",
                               code="last_site_admin")
            audit(uow, actor, "site.member.role", "site", site.id,
                  {"user_id": user.id, "from": membership.role, "to": data.role}, site_id=site.id)
            membership.role = data.role
            uow.flush()
        return SiteView.of(site, _members(uow, [site.id])[site.id])


def remove_member(db: Database, actor: Actor, site_id: int, user_id: int) -> SiteView:
    require_role(actor, "admin")
    with unit_of_work(db) as uow:
        site = get_or_404(uow, Site, site_id, "site")
        membership = uow.execute(select(StaffSite).where(StaffSite.user_id == user_id,
                                                         StaffSite.site_id == site.id)).scalar_one_or_none()
        if membership is None:
            raise NotFound("that user does not work at this site")
        if _last_admin_membership(uow, membership):
            raise Conflict("this is the group's last admin membership: make someone else admin at a site first",
                           code="last_site_admin")
        audit(uow, actor, "site.member.remove", "site", site.id, {"user_id": user_id, "role": membership.role}, site_id=site.id)
        uow.delete(membership)
        uow.flush()
        return SiteView.of(site, _members(uow, [site.id])[site.id])


def add_default_membership(uow: Session, actor: Actor, user: User, role: str | None = None) -> None:
    """A new staff account starts at the default site with its role (an admin moves it on /admin/sites)."""
    role = role or user.role
    if role not in STAFF_ROLES:
        return
    site_id = default_site_id(uow)
    uow.add(StaffSite(user_id=user.id, site_id=site_id, role=role, created_by=actor.user_id))
    uow.flush()
    audit(uow, actor, "site.member.add", "site", site_id, {"user_id": user.id, "role": role}, site_id=site_id)

