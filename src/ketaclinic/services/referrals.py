"""Importing a referral (FHIR Bundle) into a new chart: patient, weights, a draft evaluation, all or nothing.

The draft evaluation holds what the referral tells (pain conditions, how long, current medicines,
age, sex, weight) and leaves the rest — vitals and the screening history — for the clinician to
measure and ask: it cannot be signed until the screening is complete. The bundle as received, the
kept resources and the report of what was taken and ignored are stored (append-only) and audited.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select

from ketaclinic.clock import utcnow
from ketaclinic.interop.fhir import full_url
from ketaclinic.interop.fhir_import import ReferralError, read_referral
from ketaclinic.records.db import Database
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.installation import installation_uuid
from ketaclinic.records.patients import Patient, PatientWeight
from ketaclinic.records.referrals import ReferralImport
from ketaclinic.services.common import audit, get_or_404, require_role, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Conflict, TooLarge, ValidationFailed
from ketaclinic.services.patients import PatientIn, create_patient_in, load_patient
from ketaclinic.services.types import bad_json_text

IMPORT_ROLES = ("physician", "coordinator")
CLINICAL_ROLES = ("physician", "nurse")
ATTACH_ROLES = ("physician",)  # adds clinical facts to a chart
OPTIONAL_CONTACT = ("phone", "email")  # who registers new patients (coordinators: demographics)
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
    """The partial screening document a referral can honestly fill: conditions, duration, current
    medicines, age and sex. Weight, vitals, allergies, prior treatments and the history are measured
    or asked at the evaluation (``allergies: null`` so an empty list is a choice, not a default)."""
    document: dict[str, Any] = {"patient": {"age_years": _age_years(demographics.birth_date, today),
                                            "sex": demographics.sex},
                                "pain": {"conditions": referral.pain_conditions},
                                "allergies": None, "medications": referral.medications}
    if referral.duration_weeks is not None:
        document["pain"]["duration_weeks"] = referral.duration_weeks
    return document


def _registrable(referral: Any) -> PatientIn:
    """The Patient as the clinic registers it. An unreadable phone or e-mail is left out and listed,
    not a reason to refuse the referral; a bad name, birth date or sex is."""
    data = {k: v for k, v in referral.demographics.items() if v is not None}
    for _ in range(len(data)):
        try:
            return PatientIn.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = str(first["loc"][0]) if first["loc"] else ""
            if name in OPTIONAL_CONTACT and name in data:
                referral.ignored.append({"resource": "Patient", "entry": None,
                                         "reason": f"{name} '{data.pop(name)}' is not usable: {first['msg']}"})
                continue
            where = "Patient." + ".".join(str(p) for p in first["loc"])
            raise ReferralError(f"the Patient cannot be registered: {where}: {first['msg']}", where) from None
    raise ReferralError("the Patient cannot be registered", "Patient")


def _refuse_duplicate(uow: Any, referral: Any, demographics: PatientIn, document: dict[str, Any]) -> None:
    identifier = document.get("identifier") or {}
    if identifier.get("value"):
        for row in uow.execute(select(ReferralImport).where(
                ReferralImport.bundle_identifier == str(identifier["value"])[:500])).scalars():
            if ((row.bundle or {}).get("identifier") or {}).get("system") == identifier.get("system"):
                raise Conflict(f"this Bundle was imported already (chart {row.patient_id}); import it again only "
                               "to start a second chart on purpose (confirm_new_chart)", code="duplicate_referral",
                               field="identifier")
    same = uow.execute(select(Patient.id).where(
        func.lower(Patient.family_name) == demographics.family_name.lower(),
        func.lower(Patient.given_name) == demographics.given_name.lower(),
        Patient.birth_date == demographics.birth_date)).scalars().first()
    if same is not None:
        raise Conflict(f"a patient with this name and birth date has chart {same}: if it is the same person, attach "
                       f"the referral to that chart (POST /api/v1/patients/{same}/referrals, or the chart's page); "
                       "import with confirm_new_chart to start a second chart", code="duplicate_referral",
                       field="Patient")


def redacted(view: ReferralImportView, actor: Actor) -> ReferralImportView:
    """Coordinators register referrals but see no clinical detail (design.md section 5): counts only."""
    if actor.role in CLINICAL_ROLES:
        return view
    report = view.report
    return view.model_copy(update={"report": {
        "identifier": report.get("identifier"), "taken": len(report.get("taken", [])),
        "ignored": len(report.get("ignored", [])), "flags": len(report.get("flags", [])),
        "evaluation_id": report.get("evaluation_id"),
        "note": "clinical detail is for physicians and nurses"}})


def _notes(referral: Any, received: datetime) -> str:
    lines = [f"Started from a referral received {received:%d %b %Y}"
             + (f" (bundle {referral.identifier})" if referral.identifier else "")
             + ". Measure the vitals and ask the screening history before signing."]
    lines += referral.flags
    return "\n".join(lines)


def import_referral(db: Database, actor: Actor, document: Any, *, confirm_new_chart: bool = False,
                    now: datetime | None = None) -> ReferralImportView:
    """Create the patient, their weights and a draft evaluation from a referral bundle, or nothing.

    The same bundle, or a patient with the same name and birth date, is refused (409
    ``duplicate_referral``, naming the chart) unless ``confirm_new_chart``: two charts for one
    person split their record."""
    require_role(actor, *IMPORT_ROLES)
    now = now or utcnow()
    referral, demographics = _read(document, now)
    with unit_of_work(db) as uow:
        if not confirm_new_chart:
            _refuse_duplicate(uow, referral, demographics, document)
        patient = create_patient_in(uow, actor, demographics, now=now)
        evaluation = None
        if referral.pain_conditions or referral.medications or referral.flags:
            evaluation = Evaluation(patient_id=patient.id, screening_input=draft_document(referral, demographics, now.date()),
                                    screening_result=None, rule_version=None, notes=_notes(referral, now), status="draft",
                                    created_by=actor.user_id, created_at=now)
            uow.add(evaluation)
            uow.flush()
        row = _store(uow, actor, patient.id, evaluation, referral, document, now)
        audit(uow, actor, "referral.import", "patient", patient.id,
              {"referral_import_id": row.id, "evaluation_id": row.evaluation_id, "taken": len(referral.taken),
               "ignored": len(referral.ignored)})
        return redacted(_view(row), actor)


def attach_referral(db: Database, actor: Actor, patient_id: int, document: Any, *,
                    now: datetime | None = None) -> ReferralImportView:
    """A later referral for a patient the clinic already has: its weights and facts join the chart.

    The referral's Patient must be this patient (same birth date and family name), or it is refused
    (409 ``referral_for_another_patient``); the chart's demographics are not changed by it, and no
    draft is started (its flags wait in the report for the next evaluation)."""
    require_role(actor, *ATTACH_ROLES)
    now = now or utcnow()
    referral, demographics = _read(document, now)
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, patient_id)
        differs = [name for name, ours, theirs in (
            ("birth date", patient.birth_date, demographics.birth_date),
            ("family name", patient.family_name.casefold(), demographics.family_name.casefold())) if ours != theirs]
        if differs:
            raise Conflict(f"the referral's patient is not this chart's ({' and '.join(differs)} differ): "
                           "check you have the right chart, or import it as a new patient",
                           code="referral_for_another_patient", field="Patient")
        row = _store(uow, actor, patient.id, None, referral, document, now)
        audit(uow, actor, "referral.attach", "patient", patient.id,
              {"referral_import_id": row.id, "taken": len(referral.taken), "ignored": len(referral.ignored)})
        return redacted(_view(row), actor)


def _read(document: Any, now: datetime) -> tuple[Any, PatientIn]:
    bad = bad_json_text(document)  # a NUL or lone surrogate cannot be stored (nor measured in UTF-8)
    if bad is not None:
        where, problem = bad
        raise ValidationFailed(f"the Bundle cannot be read{' at ' + where if where else ''}: a control character "
                               f"or broken Unicode (text {problem})"
                               if where or "nested" not in problem else f"the Bundle is {problem}", field="bundle",
                               code="invalid_referral")
    size = len(json.dumps(document, ensure_ascii=False).encode("utf-8"))
    if size > MAX_BUNDLE_BYTES:
        raise TooLarge(f"the Bundle is {size / 1e6:.1f} MB; a referral may be at most {MAX_BUNDLE_BYTES / 1e6:g} MB",
                       field="bundle")
    try:
        referral = read_referral(document, today=now.date())
        return referral, _registrable(referral)
    except ReferralError as exc:
        raise ValidationFailed(exc.message, field=exc.field, code="invalid_referral") from None


def _store(uow: Any, actor: Actor, patient_id: int, evaluation: Evaluation | None, referral: Any,
           document: Any, now: datetime) -> ReferralImport:
    """The weights, and the referral as received with its kept facts re-pointed at the chart."""
    for kg, measured_at in sorted(referral.weights, key=lambda w: w[1]):
        uow.add(PatientWeight(patient_id=patient_id, weight_kg=kg, measured_at=measured_at, source="referral",
                                  created_by=actor.user_id, created_at=now))
    subject = {"reference": full_url("patient", patient_id, installation_uuid(uow))}
    kept = [{**resource, **({"patient": subject} if "patient" in resource else {"subject": subject})}
            for resource in referral.kept]
    report = {**referral.report(), "evaluation_id": evaluation.id if evaluation else None}
    row = ReferralImport(patient_id=patient_id, evaluation_id=evaluation.id if evaluation else None,
                         bundle_identifier=(referral.identifier or None) and str(referral.identifier)[:500],
                         bundle=document, resources=kept, report=report, received_at=now,
                         received_by=actor.user_id, created_at=now)
    uow.add(row)
    uow.flush()
    return row


def _view(row: ReferralImport) -> ReferralImportView:
    return ReferralImportView(id=row.id, patient_id=row.patient_id, evaluation_id=row.evaluation_id,
                              bundle_identifier=row.bundle_identifier, received_at=row.received_at,
                              received_by=row.received_by, report=row.report)


def get_referral_import(db: Database, actor: Actor, import_id: int) -> ReferralImportView:
    require_role(actor, *READ_ROLES)
    with unit_of_work(db) as uow:
        row = get_or_404(uow, ReferralImport, import_id, "referral import")
        load_patient(uow, actor, row.patient_id)
        audit(uow, actor, "referral.read", "patient", row.patient_id, {"referral_import_id": row.id})
        return redacted(_view(row), actor)


def list_patient_referrals(db: Database, actor: Actor, patient_id: int) -> list[ReferralImportView]:
    """The referrals a chart was started from (or received later), oldest first."""
    require_role(actor, *READ_ROLES)
    with unit_of_work(db) as uow:
        load_patient(uow, actor, patient_id)
        rows = uow.execute(select(ReferralImport).where(ReferralImport.patient_id == patient_id)
                               .order_by(ReferralImport.id)).scalars().all()
        return [redacted(_view(r), actor) for r in rows]


def flags_for_evaluation(db: Database, actor: Actor, evaluation_id: int) -> list[str]:
    """What the referral behind a draft evaluation asks the clinician to check (shown beside "Sign")."""
    require_role(actor, *CLINICAL_ROLES)
    with db.reading() as uow:
        rows = uow.execute(select(ReferralImport.report).where(ReferralImport.evaluation_id == evaluation_id)
                               ).scalars().all()
    return [flag for report in rows for flag in (report or {}).get("flags", [])]
