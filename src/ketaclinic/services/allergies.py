"""Allergies on the chart (issue 12): structured, append-only, with amendments.

A physician or nurse records an allergy (substance, reaction, severity) or the explicit statement
"no known allergies". Nothing is overwritten or deleted: correcting an entry, or marking it entered
in error, appends a new version that names the one it replaces; every version stays readable with
who recorded it and when. Unknown is not none: with nothing recorded the chart says "not recorded",
and only a current "no known allergies" statement reads "No known allergies".

Substances are coded where the clinic can: any name of ketamine or esketamine (generic or brand:
Ketalar, Spravato; the same words the screening rule matches) is coded ``ketamine`` or
``esketamine``, so the banner lists it first and a plan for the patient is refused (the ketamine
label contraindicates it in known hypersensitivity to ketamine: ``ketalar_pi``, section 4). RxNorm and
SNOMED CT codes for ketamine were not confirmed (see interop/fhir_codes.py), so none is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.clinical.screening import KETAMINE_ALLERGY_TERMS
from ketaclinic.clock import utcnow
from ketaclinic.evidence.sources import get_source
from ketaclinic.records.allergies import AllergyEntry
from ketaclinic.records.db import Database
from ketaclinic.services.common import audit, get_or_404, require_role, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Conflict, ValidationFailed
from ketaclinic.services.patients import load_patient
from ketaclinic.services.staff import staff_names
from ketaclinic.services.types import Text

ROLES = ("physician", "nurse")
KETAMINE_CODES = ("ketamine", "esketamine")
#: The ketamine label's contraindication a plan refusal cites (Ketalar PI section 4: known hypersensitivity
#: to ketamine or to any excipient).
KETAMINE_LABEL_SOURCE = "ketalar_pi"
ESKETAMINE_TERMS = ("esketamine", "s-ketamine", "spravato")
Severity = Literal["mild", "moderate", "severe", "unknown"]
SEVERITY_WORDS = {"mild": "mild", "moderate": "moderate", "severe": "severe (anaphylaxis or worse)",
                  "unknown": "severity not known"}


def substance_code(substance: str) -> str | None:
    """The clinic's code of a typed substance: ``ketamine`` / ``esketamine`` (any generic or brand name), else None."""
    text = substance.casefold()
    if any(term in text for term in ESKETAMINE_TERMS):
        return "esketamine"
    if any(term in text for term in KETAMINE_ALLERGY_TERMS):
        return "ketamine"
    return None


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = " ".join(value.split())
    return value or None


class AllergyIn(BaseModel):
    """A new allergy statement: an allergy (``substance`` required) or ``no_known_allergies``."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["allergy", "no_known_allergies"] = "allergy"
    substance: Text | None = Field(default=None, max_length=200, description="what the patient reacts to")
    reaction: Text | None = Field(default=None, max_length=500, description="what happened (rash, anaphylaxis ...)")
    severity: Severity | None = None

    _trim = field_validator("substance", "reaction")(classmethod(lambda cls, v: _clean(v)))

    @model_validator(mode="after")
    def _consistent(self) -> AllergyIn:
        if self.kind == "allergy":
            if not self.substance:
                raise ValueError("name the substance the patient is allergic to")
            if self.severity is None:
                self.severity = "unknown"
        elif self.substance or self.reaction or self.severity:
            raise ValueError("'no known allergies' names no substance, reaction or severity")
        return self


class AllergyAmend(BaseModel):
    """A correction of the current version of an entry, or marking it entered in error; ``note`` says why."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["correct", "entered_in_error"]
    note: Text = Field(min_length=1, max_length=500, description="why the entry is corrected or withdrawn")
    substance: Text | None = Field(default=None, max_length=200)
    reaction: Text | None = Field(default=None, max_length=500)
    severity: Severity | None = None

    _trim = field_validator("substance", "reaction", "note")(classmethod(lambda cls, v: _clean(v)))

    @model_validator(mode="after")
    def _consistent(self) -> AllergyAmend:
        if not self.note:
            raise ValueError("say why the entry is corrected or withdrawn")
        if self.action == "entered_in_error" and (self.substance or self.reaction or self.severity):
            raise ValueError("marking an entry entered in error changes nothing else: leave the other fields out")
        return self


class AllergyView(BaseModel):
    id: int
    patient_id: int
    replaces_id: int | None
    kind: str
    substance: str | None
    substance_code: str | None
    reaction: str | None
    severity: str | None
    status: str
    note: str | None
    recorded_at: datetime
    recorded_by: int | None
    recorded_by_name: str
    current: bool
    ketamine: bool

    @property
    def label(self) -> str:
        if self.kind == "no_known_allergies":
            return "No known allergies"
        parts = [self.substance or ""]
        if self.reaction:
            parts.append(f"({self.reaction})")
        return " ".join(parts)


class AllergyList(BaseModel):
    """A patient's allergies: ``state`` is ``not_recorded`` (unknown), ``none_known`` or ``recorded``."""

    patient_id: int
    state: Literal["not_recorded", "none_known", "recorded"]
    ketamine_allergy: bool
    current: list[AllergyView]  # active entries, ketamine first
    history: list[AllergyView]  # every version, newest first (withdrawn and corrected ones included)


def _views(uow: Session, rows: list[AllergyEntry]) -> list[AllergyView]:
    names = staff_names(uow, [r.recorded_by for r in rows])
    replaced = {r.replaces_id for r in rows if r.replaces_id is not None}
    return [AllergyView(
        id=r.id, patient_id=r.patient_id, replaces_id=r.replaces_id, kind=r.kind, substance=r.substance,
        substance_code=r.substance_code, reaction=r.reaction, severity=r.severity, status=r.status, note=r.note,
        recorded_at=r.recorded_at, recorded_by=r.recorded_by, recorded_by_name=names.get(r.recorded_by, "—"),
        current=r.id not in replaced, ketamine=r.substance_code in KETAMINE_CODES and r.status == "active",
    ) for r in rows]


def allergy_list(uow: Session, patient_id: int) -> AllergyList:
    """The chart's allergies in a session the caller opened (the banner, the plan check); no audit entry."""
    rows = list(uow.execute(select(AllergyEntry).where(AllergyEntry.patient_id == patient_id)
                                .order_by(AllergyEntry.id.desc())).scalars())
    views = _views(uow, rows)
    active = [v for v in views if v.current and v.status == "active"]
    allergies = [v for v in active if v.kind == "allergy"]
    allergies.sort(key=lambda v: (not v.ketamine, v.id))
    if allergies:
        state, current = "recorded", allergies
    elif any(v.kind == "no_known_allergies" for v in active):
        state, current = "none_known", [v for v in active if v.kind == "no_known_allergies"][:1]
    else:
        state, current = "not_recorded", []
    return AllergyList(patient_id=patient_id, state=state, ketamine_allergy=any(v.ketamine for v in allergies),
                       current=current, history=views)


def ketamine_allergy_refusal(uow: Session, patient_id: int) -> Conflict | None:
    """The refusal of a ketamine plan for a patient with an active ketamine (or esketamine) allergy on the chart."""
    found = [v for v in allergy_list(uow, patient_id).current if v.ketamine]
    if not found:
        return None
    source = get_source(KETAMINE_LABEL_SOURCE)
    return Conflict(
        f"Ketamine allergy on the chart ({', '.join(v.label for v in found)}): ketamine is contraindicated in "
        f"patients with known hypersensitivity to ketamine ({source.title}, section 4 Contraindications). No "
        "ketamine plan can be made or signed while the allergy is active; if it was entered in error, mark it so "
        "on the chart first.", code="ketamine_allergy", field="patient_id")


def list_allergies(db: Database, actor: Actor, patient_id: int) -> AllergyList:
    """A patient's allergies, current and every version (physicians and nurses; the read is audited)."""
    require_role(actor, *ROLES)
    with unit_of_work(db) as uow:
        load_patient(uow, actor, patient_id)
        result = allergy_list(uow, patient_id)
        audit(uow, actor, "allergy.list", "patient", patient_id, {"count": len(result.current)})
        return result


def _current_entries(uow: Session, patient_id: int) -> list[AllergyEntry]:
    rows = list(uow.execute(select(AllergyEntry).where(AllergyEntry.patient_id == patient_id)).scalars())
    replaced = {r.replaces_id for r in rows if r.replaces_id is not None}
    return [r for r in rows if r.id not in replaced and r.status == "active"]


def record_allergy(db: Database, actor: Actor, patient_id: int, data: AllergyIn,
                   *, now: datetime | None = None) -> AllergyView:
    """Record an allergy or "no known allergies" on the chart.

    Recording an allergy while the chart says "no known allergies" withdraws that statement (a new
    version, entered in error, naming the allergy); "no known allergies" is refused while an allergy
    is active (409 ``allergies_recorded``), and the same active substance twice is refused
    (409 ``allergy_recorded``).
    """
    require_role(actor, *ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        load_patient(uow, actor, patient_id)
        current = _current_entries(uow, patient_id)
        allergies = [r for r in current if r.kind == "allergy"]
        if data.kind == "no_known_allergies":
            if allergies:
                raise Conflict("allergies are recorded on this chart: mark each one entered in error before "
                               "recording 'no known allergies'", code="allergies_recorded", field="kind")
            if current:
                raise Conflict("the chart already says 'no known allergies'", code="allergy_recorded", field="kind")
        else:
            assert data.substance is not None
            same = [r for r in allergies if (r.substance or "").casefold() == data.substance.casefold()]
            if same:
                raise Conflict(f"an allergy to {same[0].substance} is already recorded: correct that entry instead",
                               code="allergy_recorded", field="substance")
            for statement in (r for r in current if r.kind == "no_known_allergies"):
                uow.add(AllergyEntry(
                    patient_id=patient_id, replaces_id=statement.id, kind=statement.kind, status="entered_in_error",
                    note=f"withdrawn: an allergy to {data.substance} was recorded", recorded_at=now,
                    recorded_by=actor.user_id))
        entry = AllergyEntry(patient_id=patient_id, kind=data.kind, substance=data.substance,
                             substance_code=substance_code(data.substance) if data.substance else None,
                             reaction=data.reaction, severity=data.severity, status="active",
                             recorded_at=now, recorded_by=actor.user_id)
        uow.add(entry)
        uow.flush()
        audit(uow, actor, "allergy.record", "patient", patient_id, {
            "allergy_id": entry.id, "kind": entry.kind, "substance": entry.substance,
            "substance_code": entry.substance_code, "severity": entry.severity})
        return _views(uow, [entry])[0]


def amend_allergy(db: Database, actor: Actor, allergy_id: int, data: AllergyAmend,
                  *, now: datetime | None = None) -> AllergyView:
    """Correct the current version of an entry, or mark it entered in error: a new version; the old one stays.

    Only the current version can be amended (409 ``allergy_superseded`` otherwise, also when two
    people amend the same version at once), and an entry marked entered in error stays so.
    """
    require_role(actor, *ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        old = get_or_404(uow, AllergyEntry, allergy_id, "allergy entry")
        load_patient(uow, actor, old.patient_id)
        newer = uow.execute(select(AllergyEntry.id).where(AllergyEntry.replaces_id == old.id)).first()
        if newer is not None:
            raise Conflict(f"this version was already amended (by entry {newer[0]}): amend the current version",
                           code="allergy_superseded")
        if old.status == "entered_in_error":
            raise Conflict("this entry is marked entered in error: record the allergy again instead",
                           code="allergy_withdrawn")
        if data.action == "entered_in_error":
            fields = {"substance": old.substance, "substance_code": old.substance_code, "reaction": old.reaction,
                      "severity": old.severity, "status": "entered_in_error"}
        else:
            if old.kind == "no_known_allergies":
                raise ValidationFailed("'no known allergies' is not corrected: mark it entered in error, then record "
                                       "the allergy", field="action")
            substance = data.substance or old.substance
            assert substance is not None
            fields = {"substance": substance, "substance_code": substance_code(substance),
                      "reaction": data.reaction if data.reaction is not None else old.reaction,
                      "severity": data.severity or old.severity, "status": "active"}
            if all(fields[k] == getattr(old, k) for k in ("substance", "reaction", "severity")):
                raise ValidationFailed("the correction changes nothing: change the substance, reaction or severity",
                                       field="substance")
        entry = AllergyEntry(patient_id=old.patient_id, replaces_id=old.id, kind=old.kind, note=data.note,
                             recorded_at=now, recorded_by=actor.user_id, **fields)
        uow.add(entry)
        uow.flush()  # a second amendment of the same version breaks replaces_id's uniqueness: 409
        action = "allergy.entered_in_error" if data.action == "entered_in_error" else "allergy.correct"
        audit(uow, actor, action, "patient", old.patient_id, {
            "allergy_id": entry.id, "replaces_id": old.id, "substance": entry.substance, "note": data.note})
        return _views(uow, [entry])[0]
