"""The patient banner every clinical page carries (issue 12): who this is, at a glance, before anything
is given — name, age, sex, weight and dosing weight, allergies (ketamine first), the care profile of
the current plan and whether consent was recorded.

Allergies are the chart's structured entries (services/allergies.py) and, after them, any the signed
evaluation's free text names that the chart does not; "No known allergies" only when the chart says
so explicitly (nothing recorded reads "not recorded": unknown is not none).

Read-only and built from the records the page already shows; the page's own read of the chart or the
session is what the audit log records.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy import select

from ketaclinic.clinical.dosing import dosing_weight
from ketaclinic.clinical.screening import KETAMINE_ALLERGY_TERMS
from ketaclinic.records.db import Database
from ketaclinic.records.plans import Plan
from ketaclinic.services.allergies import allergy_list
from ketaclinic.services.common import require_role
from ketaclinic.services.context import Actor
from ketaclinic.services.evaluations import current_signed_evaluation
from ketaclinic.services.patients import latest_weight, load_patient

ROLES = ("physician", "nurse")


class PatientBanner(BaseModel):
    patient_id: int
    name: str
    age_years: int
    sex: str
    weight_kg: float | None
    weight_measured_at: datetime | None
    height_cm: float | None
    dosing_weight: str | None
    allergies: list[str]  # the chart's active allergies, then the signed evaluation's free text: ketamine first
    allergies_state: str  # the chart's: not_recorded (unknown) | none_known | recorded
    allergies_recorded: bool  # anything said about allergies, on the chart or in the signed evaluation
    evaluation_allergies: list[str]  # those only the evaluation's free text names (not yet on the chart)
    evaluation_signed_at: datetime | None
    ketamine_allergy: bool
    profile: str | None
    consent_recorded_at: datetime | None
    consent_state: str = "none"  # valid | outdated (an earlier version) | withdrawn | none (services/consent.py)


def _age(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def patient_banner(db: Database, actor: Actor, patient_id: int, *, today: date | None = None) -> PatientBanner:
    """The banner of one patient (physicians and nurses: the clinical pages)."""
    require_role(actor, *ROLES)
    with db.reading() as uow:
        patient = load_patient(uow, actor, patient_id)
        weight = latest_weight(uow, patient_id)
        evaluation = current_signed_evaluation(uow, patient_id)
        chart = allergy_list(uow, patient_id)
        on_chart = [v.label for v in chart.current if v.kind == "allergy"]
        substances = {(v.substance or "").casefold() for v in chart.current}
        typed = list((evaluation.screening_input or {}).get("allergies") or []) if evaluation else []
        from_evaluation = [a for a in typed if a.strip() and a.strip().casefold() not in substances]
        allergies = on_chart + from_evaluation
        ketamine = [a for a in allergies if any(t in a.casefold() for t in KETAMINE_ALLERGY_TERMS)]
        plans = uow.execute(select(Plan).where(Plan.patient_id == patient_id, Plan.status == "signed")
                                .order_by(Plan.signed_at.desc(), Plan.id.desc())).scalars().all()
        superseded = {p.supersedes_id for p in plans if p.supersedes_id is not None}
        current = next((p for p in plans if p.id not in superseded), None)
        from ketaclinic.services.consent import (
            status_in as consent_status,  # issue 13: the signed consent document
        )

        signed = consent_status(uow, patient_id)
        consent = signed.signature.signed_at if signed.signature and signed.state in ("valid", "outdated") else None
        dosing = None
        if weight is not None and 30 <= weight.weight_kg <= 250:
            sex = patient.sex if patient.sex in ("female", "male") else None
            dosing = dosing_weight(weight.weight_kg, patient.height_cm, sex).describe()
        return PatientBanner(
            patient_id=patient.id, name=f"{patient.given_name} {patient.family_name}",
            age_years=_age(patient.birth_date, today or date.today()), sex=patient.sex,
            weight_kg=weight.weight_kg if weight else None, weight_measured_at=weight.measured_at if weight else None,
            height_cm=patient.height_cm, dosing_weight=dosing,
            allergies=ketamine + [a for a in allergies if a not in ketamine], allergies_state=chart.state,
            allergies_recorded=chart.state != "not_recorded" or bool(from_evaluation),
            evaluation_allergies=from_evaluation, evaluation_signed_at=evaluation.signed_at if evaluation else None,
            ketamine_allergy=bool(ketamine) or chart.ketamine_allergy, profile=(current.pump_program or {}).get("profile", "low_dose") if current
            else None, consent_recorded_at=consent, consent_state=signed.state)
