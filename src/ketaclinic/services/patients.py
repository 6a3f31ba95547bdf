"""Patients: demographics (with history), weights over time, and who may see which chart.

A patient-role user reaches only their own record; any other id answers 404 exactly like a
record that does not exist (contract 4.5). Every read of a chart is audited.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.orm import Session

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Database
from ketaclinic.records.patients import DEMO_MARK, DEMOGRAPHIC_FIELDS, Patient, PatientVersion, PatientWeight
from ketaclinic.services.common import (
    AUDIT_SITE,
    Page,
    audit,
    check_version,
    clamp_limit,
    cursor_int,
    page_of,
    require_role,
    unit_of_work,
)
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Forbidden, NotFound, ValidationFailed
from ketaclinic.services.sites import in_sites, may_see_site, site_bound, site_for_new_patient
from ketaclinic.services.types import ID_MAX, WEIGHT_MAX_KG, WEIGHT_MIN_KG, Text

Sex = Literal["female", "male", "other", "unknown"]
READ_ROLES = ("physician", "nurse", "coordinator", "patient")
WRITE_ROLES = ("physician", "nurse", "coordinator")
CREATE_ROLES = ("physician", "coordinator")
WEIGHT_ROLES = ("physician", "nurse")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Weight change that makes a dose worth a second look (issue 5: flagged before dosing). Clinic policy.
WEIGHT_CHANGE_FLAG_FRACTION = 0.20


def _clean_name(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("must not be blank")
    return value


def _clean_email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not EMAIL.match(value):
        raise ValueError("is not an e-mail address")
    return value


def _clean_optional_text(value: str | None) -> str | None:
    """Blank means "not known" (stored as null), like an empty phone field."""
    if value is None:
        return None
    value = " ".join(value.split())
    return value or None


def _check_birth_date(value: date | None) -> date | None:
    if value is not None and (value > date.today() or value.year < 1900):
        raise ValueError("must be a real past date")
    return value


class PatientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    given_name: Text = Field(min_length=1, max_length=100)
    family_name: Text = Field(min_length=1, max_length=100)
    birth_date: date
    sex: Sex
    phone: Text | None = Field(default=None, max_length=40)
    email: Text | None = Field(default=None, max_length=254)
    referring_physician: Text | None = Field(default=None, max_length=200, description="Name of the referring physician")
    referring_physician_contact: Text | None = Field(default=None, max_length=500,
                                                    description="Practice address, phone or secure e-mail for letters")
    weight_kg: float | None = Field(default=None, ge=WEIGHT_MIN_KG, le=WEIGHT_MAX_KG)
    height_cm: float | None = Field(default=None, ge=120, le=230, allow_inf_nan=False,
                                    description="Height in cm (120-230): gives the dosing weight (design 4.3 v2)")
    site_id: int | None = Field(default=None, ge=1, le=ID_MAX,
                                description="The clinic site; absent: your site (the lowest id if you work at several)")

    _names = field_validator("given_name", "family_name")(_clean_name)
    _referrer = field_validator("referring_physician", "referring_physician_contact")(_clean_optional_text)
    _email = field_validator("email")(_clean_email)
    _birth = field_validator("birth_date")(_check_birth_date)


class PatientPatch(BaseModel):
    """Only the fields sent are changed; ``phone``, ``email`` and the referrer may be cleared with null."""

    model_config = ConfigDict(extra="forbid")
    given_name: Text | None = Field(default=None, min_length=1, max_length=100)
    family_name: Text | None = Field(default=None, min_length=1, max_length=100)
    birth_date: date | None = None
    sex: Sex | None = None
    phone: Text | None = Field(default=None, max_length=40)
    email: Text | None = Field(default=None, max_length=254)
    referring_physician: Text | None = Field(default=None, max_length=200, description="Name of the referring physician")
    referring_physician_contact: Text | None = Field(default=None, max_length=500,
                                                    description="Practice address, phone or secure e-mail for letters")
    weight_kg: float | None = Field(default=None, ge=WEIGHT_MIN_KG, le=WEIGHT_MAX_KG)
    height_cm: float | None = Field(default=None, ge=120, le=230, allow_inf_nan=False,
                                    description="Height in cm (120-230): gives the dosing weight (design 4.3 v2)")

    _names = field_validator("given_name", "family_name")(lambda v: None if v is None else _clean_name(v))
    _referrer = field_validator("referring_physician", "referring_physician_contact")(_clean_optional_text)
    _email = field_validator("email")(_clean_email)
    _birth = field_validator("birth_date")(_check_birth_date)


class PatientView(BaseModel):
    id: int
    version: int
    created_at: datetime
    created_by: int | None
    updated_at: datetime
    updated_by: int | None
    given_name: str
    family_name: str
    birth_date: date
    sex: str
    phone: str | None
    email: str | None
    referring_physician: str | None = None
    referring_physician_contact: str | None = None
    height_cm: float | None = None
    site_id: int | None = None
    weight_kg: float | None
    weight_measured_at: datetime | None


class WeightView(BaseModel):
    id: int
    patient_id: int
    weight_kg: float
    measured_at: datetime
    source: str
    created_at: datetime
    created_by: int | None
    change_from_previous_fraction: float | None = None
    flagged: bool = False


class PatientVersionView(BaseModel):
    version: int
    data: dict[str, Any]
    recorded_at: datetime
    recorded_by: int | None


# --- loading with the access rule ---------------------------------------------------------


def load_patient(uow: Session, actor: Actor, patient_id: int) -> Patient:
    """The patient, if ``actor`` may see this chart; otherwise the same 404 as a missing one."""
    if actor.is_patient and actor.patient_id != patient_id:
        raise NotFound("patient not found")
    patient = uow.get(Patient, patient_id)
    if patient is None or not may_see_site(actor, patient.site_id):  # another site's chart: not found (issue 17)
        raise NotFound("patient not found")
    uow.info.setdefault(AUDIT_SITE, patient.site_id)  # the transaction's audit entries name the chart's site
    return patient


def latest_weight(uow: Session, patient_id: int) -> PatientWeight | None:
    return uow.execute(
        select(PatientWeight)
        .where(PatientWeight.patient_id == patient_id)
        .order_by(PatientWeight.measured_at.desc(), PatientWeight.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def latest_weights(uow: Session, patient_ids: list[int]) -> dict[int, PatientWeight]:
    """The latest weight of each of ``patient_ids`` in one query (a list page: no query per patient)."""
    if not patient_ids:
        return {}
    found: dict[int, PatientWeight] = {}
    rows = uow.execute(select(PatientWeight).where(PatientWeight.patient_id.in_(patient_ids))
                       .order_by(PatientWeight.patient_id, PatientWeight.measured_at.desc(), PatientWeight.id.desc()))
    for weight in rows.scalars():
        found.setdefault(weight.patient_id, weight)
    return found


_NO_WEIGHT = object()


def _view(uow: Session, patient: Patient, known: Any = _NO_WEIGHT) -> PatientView:
    weight = latest_weight(uow, patient.id) if known is _NO_WEIGHT else known
    return PatientView(
        id=patient.id, version=patient.version, created_at=patient.created_at, created_by=patient.created_by,
        updated_at=patient.updated_at, updated_by=patient.updated_by, site_id=patient.site_id,
        **{name: getattr(patient, name) for name in DEMOGRAPHIC_FIELDS},
        weight_kg=weight.weight_kg if weight else None,
        weight_measured_at=weight.measured_at if weight else None,
    )


def _snapshot(uow: Session, patient: Patient, actor: Actor, now: datetime) -> None:
    weight = latest_weight(uow, patient.id)
    data = {name: getattr(patient, name) for name in DEMOGRAPHIC_FIELDS}
    data["birth_date"] = patient.birth_date.isoformat()
    data["weight_kg"] = weight.weight_kg if weight else None
    uow.add(PatientVersion(patient_id=patient.id, version=patient.version, data=data, recorded_at=now,
                               recorded_by=actor.user_id))


def _add_weight(uow: Session, actor: Actor, patient_id: int, weight_kg: float, measured_at: datetime,
                source: str) -> WeightView:
    previous = latest_weight(uow, patient_id)
    weight = PatientWeight(patient_id=patient_id, weight_kg=weight_kg, measured_at=measured_at, source=source,
                           created_by=actor.user_id)
    uow.add(weight)
    uow.flush()
    change = None if previous is None else (weight_kg - previous.weight_kg) / previous.weight_kg
    return WeightView.model_validate(
        {**{c: getattr(weight, c) for c in ("id", "patient_id", "weight_kg", "measured_at", "source", "created_at", "created_by")},
         "change_from_previous_fraction": change,
         "flagged": change is not None and abs(change) > WEIGHT_CHANGE_FLAG_FRACTION}
    )


# --- operations ---------------------------------------------------------------------------


def create_patient(db: Database, actor: Actor, data: PatientIn, *, now: datetime | None = None) -> PatientView:
    require_role(actor, *CREATE_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        patient = create_patient_in(uow, actor, data, now=now)
        return _view(uow, patient)


def create_patient_in(uow: Session, actor: Actor, data: PatientIn, *, now: datetime) -> Patient:
    """Create inside an existing transaction (used by inquiry conversion)."""
    site_id = site_for_new_patient(uow, actor, data.site_id)
    patient = Patient(
        **{name: getattr(data, name) for name in DEMOGRAPHIC_FIELDS}, site_id=site_id,
        created_by=actor.user_id, updated_by=actor.user_id, created_at=now, updated_at=now,
    )
    uow.add(patient)
    uow.flush()
    if data.weight_kg is not None:
        _add_weight(uow, actor, patient.id, data.weight_kg, now, "chart")
    _snapshot(uow, patient, actor, now)
    audit(uow, actor, "patient.create", "patient", patient.id, {"site_id": site_id})
    return patient


def get_patient(db: Database, actor: Actor, patient_id: int) -> PatientView:
    require_role(actor, *READ_ROLES)
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, patient_id)
        audit(uow, actor, "patient.read", "patient", patient.id)
        return _view(uow, patient)


SEARCH_LIMIT = 20  # patients a picker shows at once (issue 17): more say "type more", never the whole clinic
SEARCH_HELP = "The start of the family or given name (or of both: “smi jo”), the patient number (#1234) or the birth date " \
              "(1975, 1975-03 or 1975-03-14)."
_BIRTH = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")


def _name_starts(column: Any, word: str) -> Any:
    """``column`` (case folded) starts with ``word``: a range on the lower-cased name, which the indexes
    ix_patients_family_lower / ix_patients_given_lower answer (migration 0021), and the LIKE for exactness."""
    folded = func.lower(column)
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return and_(folded >= word, folded < word[:-1] + chr(ord(word[-1]) + 1), folded.like(escaped + "%", escape="\\"))


def _birth_range(text: str) -> Any | None:
    """1975, 1975-03 or 1975-03-14 as a range of birth dates (None: not a date)."""
    match = _BIRTH.match(text)
    if not match:
        return None
    year, month, day = (int(g) if g else None for g in match.groups())
    try:
        if month is None:
            start, end = date(year, 1, 1), date(year + 1, 1, 1) if year < 9999 else date.max
        elif day is None:
            start = date(year, month, 1)
            end = date(year + (month == 12), month % 12 + 1, 1) if year < 9999 or month < 12 else date.max
        else:
            start = date(year, month, day)
            return Patient.birth_date == start
    except ValueError:
        return false()
    return and_(Patient.birth_date >= start, Patient.birth_date < end)


def _search_parts(q: str | None) -> list[tuple[Any, Any]] | None:
    """What a typed search means, as (condition, the indexed order it reads in) pairs whose union is the
    search: words match the start of the family or given name (case folded: the whole text, as in "van der
    berg", or each word one of the names, as in "jo smith"); digits are the patient number (``#`` optional);
    a year, year-month or full ISO date is the birth date (four digits: the number or the year of birth).
    None: nothing typed."""
    text = " ".join((q or "").split())[:100]
    if not text:
        return None
    number = text.removeprefix("#").strip()
    birth = _birth_range(number if number.isdigit() else text)
    if number.isdigit():
        parts = [(Patient.id == int(number), Patient.id)] if len(number) <= 9 else []
        if len(number) == 4 and birth is not None:
            parts.append((birth, Patient.birth_date))
        return parts or [(false(), Patient.id)]
    if birth is not None:
        return [(birth, Patient.birth_date)]
    whole = text.lower()
    family, given = func.lower(Patient.family_name), func.lower(Patient.given_name)
    parts = [(_name_starts(Patient.family_name, whole), family), (_name_starts(Patient.given_name, whole), given)]
    words = whole.replace(",", " ").split()[:3]
    if len(words) > 1:  # read from the longest word's index range (the narrowest, most likely), the others filter
        lead = max(range(len(words)), key=lambda i: len(words[i]))
        rest = [or_(_name_starts(Patient.family_name, w), _name_starts(Patient.given_name, w))
                for i, w in enumerate(words) if i != lead]
        parts += [(and_(_name_starts(Patient.family_name, words[lead]), *rest), family),
                  (and_(_name_starts(Patient.given_name, words[lead]), *rest), given)]
    return parts


def search_condition(q: str | None) -> Any | None:
    """The patient search of the list and of every patient picker (issue 17) as one WHERE clause read by
    index (``_search_parts`` says what it matches). None: nothing typed (no filter)."""
    parts = _search_parts(q)
    return None if parts is None else or_(*[condition for condition, _ in parts])


class PatientChoice(BaseModel):
    """One patient as a picker offers it: enough to tell two namesakes apart."""

    id: int
    name: str  # "Family, Given"
    birth_date: date


def pick_patients(uow: Session, actor: Actor, *, q: str | None = None, patient_id: int | None = None,
                  limit: int = SEARCH_LIMIT, where: Iterable[Any] = ()) -> tuple[list[PatientChoice], bool]:
    """A patient picker's rows (issue 17): the patients of the actor's sites that ``q`` finds
    (``search_condition``), by name, at most ``limit`` (and whether more match), or the one ``patient_id``
    (the choice already made). Nothing typed and nothing chosen: none (a picker never lists the clinic).
    The calling service checks the role and audits what it shows."""
    parts = [(Patient.id == patient_id, Patient.id)] if patient_id is not None else _search_parts(q)
    if parts is None:
        return [], False
    found: dict[int, Any] = {}
    more = False
    for condition, order in parts:  # each part in its index's order, stopping at limit + 1: a broad search is cheap too
        query = in_sites(select(Patient.id, Patient.given_name, Patient.family_name, Patient.birth_date)
                         .where(condition, *where), actor, Patient.site_id)
        rows = uow.execute(query.order_by(order, Patient.id).limit(limit + 1)).all()
        more = more or len(rows) > limit
        found.update((r.id, r) for r in rows[:limit])
    rows = sorted(found.values(), key=lambda r: (r.family_name.lower(), r.given_name.lower(), r.id))
    return ([PatientChoice(id=r.id, name=f"{r.family_name}, {r.given_name}", birth_date=r.birth_date)
             for r in rows[:limit]], more or len(rows) > limit)


def list_patients(db: Database, actor: Actor, *, limit: int | None = None, cursor: str | None = None,
                  q: str | None = None, site_id: int | None = None) -> Page[PatientView]:
    """Patients by id; ``q`` is a search (``search_condition``: name starts, number, birth date). A patient sees only themself;
    staff see the patients of the sites they work at (``site_id``: one of them; 403 for another site)."""
    require_role(actor, *READ_ROLES)
    limit = clamp_limit(limit)
    after = cursor_int(cursor) or 0
    if site_id is not None and not may_see_site(actor, site_id):
        raise Forbidden("you do not work at that site: choose one of your sites", code="site_not_yours",
                        field="site_id")
    with unit_of_work(db) as uow:
        query = select(Patient).where(Patient.id > after).order_by(Patient.id).limit(limit + 1)
        if actor.is_patient:
            query = query.where(Patient.id == actor.patient_id)
        elif site_bound(actor):
            query = query.where(Patient.site_id.in_(actor.site_ids))
        if site_id is not None:
            query = query.where(Patient.site_id == site_id)
        matches = search_condition(q)
        if matches is not None:
            query = query.where(matches)
        rows = uow.execute(query).scalars().all()
        detail: dict[str, Any] = {"ids": [p.id for p in rows[:limit]]}
        if q:
            detail["q"] = q
        if site_id is not None:
            detail["site_id"] = site_id
        audit(uow, actor, "patient.list", "patient", None, detail)
        weights = latest_weights(uow, [p.id for p in rows[:limit]])
        return page_of(rows, limit, lambda p: _view(uow, p, weights.get(p.id)))


def names_of(db: Database, actor: Actor, patient_ids: Iterable[int]) -> dict[int, str]:
    """"Given Family" of the patients a screen mentions (the dashboard), one query, only those of the actor's
    sites (others are left out). Not audited on its own: the screen's own reads are."""
    require_role(actor, *READ_ROLES)
    ids = sorted({int(i) for i in patient_ids})
    if not ids:
        return {}
    with db.reading() as uow:
        query = select(Patient.id, Patient.given_name, Patient.family_name).where(Patient.id.in_(ids))
        if actor.is_patient:
            query = query.where(Patient.id == actor.patient_id)
        elif site_bound(actor):
            query = query.where(Patient.site_id.in_(actor.site_ids))
        return {row.id: f"{row.given_name} {row.family_name}" for row in uow.execute(query)}


def update_patient(db: Database, actor: Actor, patient_id: int, expected_version: int | None, patch: PatientPatch,
                   *, now: datetime | None = None) -> PatientView:
    require_role(actor, *WRITE_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, patient_id)
        check_version(patient, expected_version)
        sent = patch.model_fields_set
        for required in ("given_name", "family_name", "birth_date", "sex"):
            if required in sent and getattr(patch, required) is None:
                raise ValidationFailed(f"{required} cannot be cleared", field=required)
        changed = {name: getattr(patch, name) for name in DEMOGRAPHIC_FIELDS
                   if name in sent and getattr(patch, name) != getattr(patient, name)}
        if "weight_kg" in sent and patch.weight_kg is None:
            raise ValidationFailed("weights are never removed; record a new measurement", field="weight_kg")
        weight = None
        if patch.weight_kg is not None:
            weight = _add_weight(uow, actor, patient.id, patch.weight_kg, now, "chart")
        if changed or weight:
            for name, value in changed.items():
                setattr(patient, name, value)
            patient.updated_at, patient.updated_by = now, actor.user_id
            uow.flush()  # bumps the version
            _snapshot(uow, patient, actor, now)
        detail: dict[str, Any] = {"changed": sorted(changed), "version": patient.version}
        if weight:
            detail["weight_kg"] = weight.weight_kg
            detail["weight_flagged"] = weight.flagged
        audit(uow, actor, "patient.update", "patient", patient.id, detail)
        return _view(uow, patient)


def record_weight(db: Database, actor: Actor, patient_id: int, weight_kg: float, *, measured_at: datetime | None = None,
                  source: str = "chart") -> WeightView:
    """A new measurement (never an edit). ``flagged`` when it is more than 20 % from the previous one."""
    require_role(actor, *WEIGHT_ROLES)
    if not 0 < weight_kg < 700:
        raise ValidationFailed("weight_kg must be between 0 and 700", field="weight_kg")
    now = utcnow()
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, patient_id)
        weight = _add_weight(uow, actor, patient.id, weight_kg, measured_at or now, source)
        patient.updated_at, patient.updated_by = now, actor.user_id
        uow.flush()
        _snapshot(uow, patient, actor, now)
        audit(uow, actor, "patient.weight", "patient", patient.id,
              {"weight_kg": weight_kg, "flagged": weight.flagged})
        return weight


def list_weights(db: Database, actor: Actor, patient_id: int) -> list[WeightView]:
    require_role(actor, *READ_ROLES)
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, patient_id)
        rows = uow.execute(
            select(PatientWeight).where(PatientWeight.patient_id == patient.id)
            .order_by(PatientWeight.measured_at, PatientWeight.id)
        ).scalars().all()
        audit(uow, actor, "patient.weights.read", "patient", patient.id)
        return [WeightView.model_validate(w, from_attributes=True) for w in rows]


def list_patient_versions(db: Database, actor: Actor, patient_id: int) -> list[PatientVersionView]:
    """Every saved version of the demographics, oldest first."""
    require_role(actor, "physician", "coordinator")
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, patient_id)
        rows = uow.execute(
            select(PatientVersion).where(PatientVersion.patient_id == patient.id).order_by(PatientVersion.version)
        ).scalars().all()
        audit(uow, actor, "patient.history.read", "patient", patient.id)
        return [PatientVersionView.model_validate(v, from_attributes=True) for v in rows]


def has_demo(db: Database) -> bool:
    """Whether the database holds the synthetic demo clinic (its patients' family names carry the demo mark)."""
    with db.reading() as uow:
        return uow.execute(select(Patient.id).where(Patient.family_name.like(f"%{DEMO_MARK}"))).first() is not None
