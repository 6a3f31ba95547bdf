"""Importing a referral (FHIR Bundle) into a new chart: patient, weights, a draft evaluation, all or nothing.

The draft evaluation holds what the referral tells (pain conditions, how long, current medicines,
age, sex, weight) and leaves the rest — vitals and the screening history — for the clinician to
measure and ask: it cannot be signed until the screening is complete. The bundle as received, the
kept resources and the report of what was taken and ignored are stored (append-only) and audited.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from ketaclinic.interop.fhir import full_url
from ketaclinic.interop.fhir_import import ReferralError, read_referral
from ketaclinic.records.db import Database, utcnow
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.patients import PatientWeight
from ketaclinic.records.referrals import ReferralImport
from ketaclinic.services.common import audit, get_or_404, require_role, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ValidationFailed
from ketaclinic.services.patients import PatientIn, create_patient_in, load_patient

IMPORT_ROLES = ("physician", "coordinator")  # who registers new patients (coordinators: demographics)
READ_ROLES = ("physician", "nurse", "coordinator")
MAX_BUNDLE_BYTES = 5_000_000


class ReferralImportView(BaseModel):
    id: int
    patient_id: int
    evaluation_id: int | None
    bundle_identifier: str | None
    received_at: datetime
    received_by: int | None
    report: dict[str, Any]


def _age_years(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def draft_document(referral: Any, demographics: PatientIn, today: date) -> dict[str, Any]:
    """The partial screening document a referral can honestly fill (no vitals, no history)."""
    document: dict[str, Any] = {"patient": {"age_years": _age_years(demographics.birth_date, today),
                                            "sex": demographics.sex},
                                "pain": {"conditions": referral.pain_conditions, "prior_treatments": []},
                                "allergies": [], "medications": referral.medications}
    if referral.weights:
        document["patient"]["weight_kg"] = max(referral.weights, key=lambda w: w[1])[0]
    if referral.duration_weeks is not None:
        document["pain"]["duration_weeks"] = referral.duration_weeks
    return document


def _notes(referral: Any, received: datetime) -> str:
    lines = [f"Started from a referral received {received:%d %b %Y}"
             + (f" (bundle {referral.identifier})" if referral.identifier else "")
             + ". Measure the vitals and ask the screening history before signing."]
    lines += referral.flags
    return "\n".join(lines)


def import_referral(db: Database, actor: Actor, document: Any, *, now: datetime | None = None) -> ReferralImportView:
    """Create the patient, their weights and a draft evaluation from a referral bundle, or nothing."""
    require_role(actor, *IMPORT_ROLES)
    now = now or utcnow()
    try:
        referral = read_referral(document, today=now.date())
        demographics = PatientIn.model_validate({k: v for k, v in referral.demographics.items() if v is not None})
    except ReferralError as exc:
        raise ValidationFailed(exc.message, field=exc.field, code="invalid_referral") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "Patient." + ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(f"the Patient cannot be registered: {where}: {first['msg']}", field=where,
                               code="invalid_referral") from None
    with unit_of_work(db) as session:
        patient = create_patient_in(session, actor, demographics, now=now)
        for kg, measured_at in sorted(referral.weights, key=lambda w: w[1]):
            session.add(PatientWeight(patient_id=patient.id, weight_kg=kg, measured_at=measured_at, source="referral",
                                      created_by=actor.user_id, created_at=now))
        evaluation = None
        if referral.pain_conditions or referral.medications or referral.flags:
            evaluation = Evaluation(patient_id=patient.id, screening_input=draft_document(referral, demographics, now.date()),
                                    screening_result=None, rule_version=None, notes=_notes(referral, now), status="draft",
                                    created_by=actor.user_id, created_at=now)
            session.add(evaluation)
            session.flush()
        subject = {"reference": full_url("patient", patient.id)}
        kept = [{**resource, **({"patient": subject} if "patient" in resource else {"subject": subject})}
                for resource in referral.kept]
        report = {**referral.report(), "evaluation_id": evaluation.id if evaluation else None}
        row = ReferralImport(patient_id=patient.id, evaluation_id=evaluation.id if evaluation else None,
                             bundle_identifier=(referral.identifier or None) and str(referral.identifier)[:500],
                             bundle=document, resources=kept, report=report, received_at=now,
                             received_by=actor.user_id, created_at=now)
        session.add(row)
        session.flush()
        audit(session, actor, "referral.import", "patient", patient.id,
              {"referral_import_id": row.id, "evaluation_id": report["evaluation_id"], "taken": len(referral.taken),
               "ignored": len(referral.ignored)})
        return _view(row)


def _view(row: ReferralImport) -> ReferralImportView:
    return ReferralImportView(id=row.id, patient_id=row.patient_id, evaluation_id=row.evaluation_id,
                              bundle_identifier=row.bundle_identifier, received_at=row.received_at,
                              received_by=row.received_by, report=row.report)


def get_referral_import(db: Database, actor: Actor, import_id: int) -> ReferralImportView:
    require_role(actor, *READ_ROLES)
    with unit_of_work(db) as session:
        row = get_or_404(session, ReferralImport, import_id, "referral import")
        load_patient(session, actor, row.patient_id)
        audit(session, actor, "referral.read", "patient", row.patient_id, {"referral_import_id": row.id})
        return _view(row)


def list_patient_referrals(db: Database, actor: Actor, patient_id: int) -> list[ReferralImportView]:
    """The referrals a chart was started from (or received later), oldest first."""
    require_role(actor, *READ_ROLES)
    with unit_of_work(db) as session:
        load_patient(session, actor, patient_id)
        rows = session.execute(select(ReferralImport).where(ReferralImport.patient_id == patient_id)
                               .order_by(ReferralImport.id)).scalars().all()
        return [_view(r) for r in rows]
