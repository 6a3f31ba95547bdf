"""A patient's record as a FHIR R4 Bundle (``fhir.resources``, R4B models), for another EHR.

:func:`export_patient_bundle` is a pure function of the loaded records; :func:`export_patient`
is the service around it (access rule, audit entry, one transaction). What goes in:

- ``Patient`` (demographics) and a ``Practitioner`` for the referring physician
  (``Patient.generalPractitioner``);
- ``Condition`` for each condition of the current *signed* evaluation, coded in ICD-10-CM and
  SNOMED CT from :mod:`ketaclinic.clinical.conditions`, with the onset the evaluation recorded
  (a draft is not yet the clinic's assertion, so it is not exported as a diagnosis);
- ``MedicationStatement`` for each current medication the signed evaluation lists;
- ``Observation`` for vital signs (evaluation and session vitals), weights and pain, with LOINC
  codes and UCUM units (:mod:`ketaclinic.interop.fhir_codes`);
- ``CarePlan`` for each plan (draft, active, or revoked when superseded) with the pump program;
- ``Encounter`` and ``Procedure`` for each infusion session;
- ``MedicationAdministration`` for every ketamine bolus and infusion step as the pump gave it
  (the program with the nurse's rate changes and the stop: :func:`doses_as_given`), with dose,
  rate, route, period and the lot number read off the syringe, and for every medication event;
- ``QuestionnaireResponse`` for each diary entry (against the diary ``Questionnaire``);
- ``Provenance`` for every signature (evaluation, plan) and every amendment (evaluation,
  session event, diary entry), naming who, when, and why;
- the facts received with a referral (:mod:`ketaclinic.interop.fhir_import`), as they came.

Every ``fullUrl`` is a stable ``urn:uuid`` (UUID 5 of the record's kind and id), so exporting twice
gives the same identifiers and references inside the bundle resolve.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from ketaclinic.clinical.conditions import get_condition
from ketaclinic.clinical.dosing import program_weight_text
from ketaclinic.clinical.protocols import get_protocol
from ketaclinic.clinical.record import corrections_by_event, rate_changes_given
from ketaclinic.clock import utcnow
from ketaclinic.interop import fhir_codes as codes
from ketaclinic.interop.fhir_codes import ICD10CM, LOINC, SNOMED, UCUM, Code
from ketaclinic.pharmacology.regimen import Bolus, doses_as_given
from ketaclinic.records.db import Database
from ketaclinic.records.diary import DiaryEntry
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.installation import installation_uuid
from ketaclinic.records.patients import Patient, PatientWeight
from ketaclinic.records.plans import Plan
from ketaclinic.records.referrals import ReferralImport
from ketaclinic.records.sessions import InfusionSession, SessionEvent
from ketaclinic.records.users import User
from ketaclinic.services.common import audit, require_role, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.patients import load_patient

__all__ = ["ICD10CM", "LOINC", "SNOMED", "Chart", "export_patient", "export_patient_bundle", "full_url"]

# Identifier systems carry the installation's UUID (records.installation): two clinics' patient #1
# are different people, and a receiving system must never merge them.
PATIENT_SYSTEM = "urn:ketaclinic:{installation}:patient"
USER_SYSTEM = "urn:ketaclinic:{installation}:user"
DIARY_QUESTIONNAIRE = "urn:ketaclinic:questionnaire:pain-diary"
DIARY_QUESTIONNAIRE_VERSION = "1"
NAMESPACE = uuid.UUID("5b0f0e4e-3f7c-4a51-9d59-7d1f4b6c2a10")

ENCOUNTER_STATUS = {"scheduled": "planned", "checked_in": "arrived", "running": "in-progress",
                    "observing": "in-progress", "discharged": "finished", "cancelled": "cancelled"}
GENDER = {"female": "female", "male": "male", "other": "other", "unknown": "unknown"}
UCUM_OF_UNIT = {"mg": "mg", "mcg": "ug", "g": "g", "mL": "mL", "units": "{unit}"}
VITAL_QUANTITIES = (  # (key in our vitals, LOINC, human unit, UCUM)
    ("heart_rate_bpm", codes.HEART_RATE, "beats/minute", "/min"),
    ("spo2_pct", codes.SPO2, "%", "%"),
    ("respiratory_rate_per_min", codes.RESP_RATE, "breaths/minute", "/min"),
)
# the diary questionnaire: (linkId, text, answer type, LOINC code or None)
DIARY_ITEMS = (
    ("pain", "Pain now, 0-10", "integer", codes.PAIN_NRS),
    ("mood", "Mood, 0 (worst) to 10 (best)", "integer", None),
    ("sleep", "Sleep quality, 0 (worst) to 10 (best)", "integer", None),
    ("function", "Daily function, 0 (worst) to 10 (best)", "integer", None),
    ("urinary", "Bladder symptoms (frequency, urgency, bladder pain, blood in urine)", "group", None),
    ("opioids", "Opioid doses taken that day", "group", None),
    ("note", "Anything else", "string", None),
)


@dataclass
class Chart:
    """Everything the export reads, loaded by the caller."""

    patient: Any
    weights: Sequence[Any] = ()
    evaluations: Sequence[Any] = ()
    plans: Sequence[Any] = ()
    sessions: Sequence[Any] = ()
    events: dict[int, Sequence[Any]] = field(default_factory=dict)
    diary: Sequence[Any] = ()
    referrals: Sequence[Any] = ()
    users: dict[int, str] = field(default_factory=dict)  # user id -> username (signers, authors)
    patient_users: frozenset[int] = frozenset()  # user ids that are this patient (diary authors)
    installation: str = "unknown"  # records.installation: scopes every identifier


def full_url(kind: str, record_id: Any, installation: str) -> str:
    """A stable ``urn:uuid`` for one record of one installation (the same on every export)."""
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'ketaclinic:{installation}:{kind}:{record_id}')}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _qty(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def _route(route: str | None) -> dict[str, Any]:
    code = codes.ROUTES.get(route or "iv")
    return code.concept(code.display) if code else {"text": route or "unknown"}


def current_evaluation(evaluations: Sequence[Any]) -> Any | None:
    """The signed evaluation no later signed amendment replaces (None before any is signed)."""
    signed = [e for e in evaluations if e.status == "signed"]
    replaced = {e.amends_id for e in signed if e.amends_id is not None}
    current = [e for e in signed if e.id not in replaced]
    return max(current, key=lambda e: (e.signed_at or e.created_at, e.id)) if current else None


class _Builder:
    def __init__(self, chart: Chart, generated_at: datetime):
        self.chart = chart
        self.generated_at = generated_at
        self.entries: list[dict[str, Any]] = []
        self.patient_ref = {"reference": self.url("patient", chart.patient.id)}
        self.practitioners: dict[int, str] = {}

    def url(self, kind: str, record_id: Any) -> str:
        return full_url(kind, record_id, self.chart.installation)

    def add(self, kind: str, record_id: Any, resource: dict[str, Any]) -> str:
        url = self.url(kind, record_id)
        resource.setdefault("id", str(uuid.UUID(url.removeprefix("urn:uuid:"))))
        self.entries.append({"fullUrl": url, "resource": resource})
        return url

    def practitioner(self, user_id: int | None) -> dict[str, Any] | None:
        """A clinic user as a Practitioner (once per bundle), for signatures and authorship."""
        if user_id is None:
            return None
        if user_id in self.chart.patient_users:  # the patient wrote it (their diary): the agent is the Patient
            return {**self.patient_ref, "display": "the patient"}
        if user_id not in self.practitioners:
            username = self.chart.users.get(user_id, f"user {user_id}")
            system = USER_SYSTEM.format(installation=self.chart.installation)
            self.practitioners[user_id] = self.add("practitioner", user_id, {
                "resourceType": "Practitioner", "identifier": [{"system": system, "value": str(user_id)}],
                "name": [{"text": username}]})
        return {"reference": self.practitioners[user_id], "display": self.chart.users.get(user_id, f"user {user_id}")}

    def provenance(self, key: str, targets: list[str], when: datetime | None, who: int | None, *, activity: Code,
                   role: Code, signature: Code | None = None, reason: str | None = None,
                   revises: tuple[str, str, str] | None = None, source: tuple[str, str, str] | None = None) -> None:
        """Who signed or amended what, and when (``revises``: the replaced record's system, id and text)."""
        if not targets or when is None:
            return
        agent_ref = self.practitioner(who)
        resource: dict[str, Any] = {
            "resourceType": "Provenance", "target": [{"reference": t} for t in targets], "recorded": _iso(when),
            "activity": activity.concept(), "agent": [{"type": role.concept(), "who": agent_ref or {"display": "unknown"}}],
        }
        if signature is not None and agent_ref is not None:
            resource["signature"] = [{"type": [signature.coding()], "when": _iso(when), "who": agent_ref}]
        if reason:
            resource["reason"] = [{"text": reason}]
        for role_name, entity in (("revision", revises), ("source", source)):
            if entity:
                system, value, text = entity
                resource.setdefault("entity", []).append(
                    {"role": role_name, "what": {"identifier": {"system": system, "value": value}, "display": text}})
        self.add("provenance", key, resource)

    def observation(self, key: str, code: Code, when: datetime | None, *, value: dict[str, Any] | None = None,
                    value_integer: int | None = None, components: list[dict[str, Any]] | None = None,
                    extra_codes: Iterable[Code] = (), encounter: str | None = None, category: Code = codes.VITAL_SIGNS,
                    status: str = "final", derived_from: str | None = None) -> str:
        resource: dict[str, Any] = {
            "resourceType": "Observation", "status": status, "category": [category.concept()],
            "code": {"coding": [code.coding(), *(c.coding() for c in extra_codes)], "text": code.display},
            "subject": self.patient_ref, "effectiveDateTime": _iso(when),
        }
        if value is not None:
            resource["valueQuantity"] = value
        if value_integer is not None:
            resource["valueInteger"] = value_integer
        if components:
            resource["component"] = components
        if encounter:
            resource["encounter"] = {"reference": encounter}
        if derived_from:
            resource["derivedFrom"] = [{"reference": derived_from}]
        return self.add("observation", key, resource)

    def vitals(self, key: str, vitals: dict[str, Any], when: datetime | None, encounter: str | None = None,
               status: str = "final") -> list[str]:
        urls = []
        if "systolic_mmhg" in vitals and "diastolic_mmhg" in vitals:
            urls.append(self.observation(f"{key}:bp", codes.BP_PANEL, when, encounter=encounter, status=status, components=[
                {"code": codes.SYSTOLIC.concept(), "valueQuantity": _qty(vitals["systolic_mmhg"], "mmHg", "mm[Hg]")},
                {"code": codes.DIASTOLIC.concept(), "valueQuantity": _qty(vitals["diastolic_mmhg"], "mmHg", "mm[Hg]")},
            ]))
        for name, code, unit, ucum in VITAL_QUANTITIES:
            if vitals.get(name) is not None:
                extra = [codes.SPO2_PULSE_OX] if name == "spo2_pct" else []
                urls.append(self.observation(f"{key}:{name}", code, when, value=_qty(vitals[name], unit, ucum),
                                             extra_codes=extra, encounter=encounter, status=status))
        return urls


# --- the chart, section by section ------------------------------------------------------------


def _patient(b: _Builder) -> None:
    p = b.chart.patient
    telecom = [t for t in ({"system": "phone", "value": p.phone}, {"system": "email", "value": p.email}) if t["value"]]
    patient: dict[str, Any] = {
        "resourceType": "Patient", "active": True,
        "identifier": [{"type": codes.MEDICAL_RECORD_NUMBER.concept(), "value": str(p.id),
                        "system": PATIENT_SYSTEM.format(installation=b.chart.installation)}],
        "name": [{"family": p.family_name, "given": p.given_name.split()}], "gender": GENDER.get(p.sex, "unknown"),
        "birthDate": p.birth_date.isoformat(),
    }
    if telecom:
        patient["telecom"] = telecom
    referrer = getattr(p, "referring_physician", None)
    if referrer:
        practitioner: dict[str, Any] = {"resourceType": "Practitioner", "name": [{"text": referrer}]}
        contact = getattr(p, "referring_physician_contact", None)
        if contact:
            practitioner["address"] = [{"text": contact}]
        patient["generalPractitioner"] = [{"reference": b.add("practitioner", f"referrer:{p.id}", practitioner),
                                           "display": referrer}]
    url = b.url("patient", p.id)
    b.entries.insert(0, {"fullUrl": url, "resource": {**patient, "id": url.removeprefix("urn:uuid:")}})


def _evaluation(b: _Builder, evaluation: Any) -> None:
    """The current signed evaluation: its conditions and current medications, and its signature."""
    document = evaluation.screening_input or {}
    pain = document.get("pain") or {}
    recorded = evaluation.signed_at or evaluation.created_at
    targets = []
    onset = None
    if pain.get("duration_weeks") is not None and recorded is not None:
        onset = (recorded - timedelta(weeks=float(pain["duration_weeks"]))).date().isoformat()
    for condition_id in pain.get("conditions", []):
        condition = get_condition(condition_id)
        coding = [{"system": ICD10CM, "code": c.code, "display": c.display} for c in condition.icd10cm]
        coding += [{"system": SNOMED, "code": c.code, "display": c.display} for c in condition.snomed]
        resource: dict[str, Any] = {
            "resourceType": "Condition", "clinicalStatus": codes.ACTIVE.concept(),
            "verificationStatus": codes.CONFIRMED.concept(), "category": [codes.PROBLEM_LIST_ITEM.concept()],
            "code": {"coding": coding, "text": condition.name}, "subject": b.patient_ref, "recordedDate": _iso(recorded),
        }
        if onset:
            resource["onsetDateTime"] = onset
        targets.append(b.add("condition", f"{evaluation.id}:{condition_id}", resource))
    for index, name in enumerate(document.get("medications") or []):
        targets.append(b.add("medication-statement", f"{evaluation.id}:{index}", {
            "resourceType": "MedicationStatement", "status": "active", "medicationCodeableConcept": {"text": name},
            "subject": b.patient_ref, "dateAsserted": _iso(recorded),
            "note": [{"text": "Current medication listed at the clinic's evaluation"}]}))
    b.provenance(f"evaluation-sign:{evaluation.id}", targets, evaluation.signed_at, evaluation.signed_by,
                 activity=codes.CREATE, role=codes.VERIFIER, signature=codes.VERIFICATION_SIGNATURE)
    if evaluation.amends_id is not None:
        b.provenance(f"evaluation-amend:{evaluation.id}", targets, evaluation.signed_at, evaluation.signed_by,
                     activity=codes.UPDATE, role=codes.AUTHOR, reason=evaluation.notes,
                     revises=("urn:ketaclinic:evaluation", str(evaluation.amends_id),
                              f"evaluation {evaluation.amends_id}, replaced by this amendment"))


def _evaluation_observations(b: _Builder, evaluation: Any) -> None:
    document = evaluation.screening_input or {}
    status = "final" if evaluation.status == "signed" else "preliminary"
    b.vitals(f"evaluation:{evaluation.id}", document.get("vitals") or {}, evaluation.created_at, status=status)
    nrs = (document.get("pain") or {}).get("nrs_now")
    if nrs is not None:
        b.observation(f"evaluation:{evaluation.id}:pain", codes.PAIN_NRS, evaluation.created_at, value_integer=int(nrs),
                      category=codes.SURVEY, status=status)


def _care_plan(b: _Builder, plan: Any, superseded: bool, evaluation_conditions: dict[int, list[str]]) -> str:
    try:
        protocol_name = get_protocol(plan.protocol_id).name
    except (KeyError, ValueError):
        protocol_name = plan.protocol_id
    program = plan.pump_program or {}
    status = "draft" if plan.status != "signed" else ("revoked" if superseded else "active")
    steps = "; ".join(_step_text(s) for s in program.get("program", []))
    series = plan.series_rule or {}
    resource: dict[str, Any] = {
        "resourceType": "CarePlan", "status": status, "intent": "plan", "title": protocol_name,
        "description": f"{protocol_name} for {program_weight_text(program, plan.weight_kg)} at "
                       f"{plan.concentration_mg_per_ml:g} mg/mL ({program.get('profile', 'low_dose').replace('_', ' ')} "
                       f"profile): {steps}",
        "subject": b.patient_ref, "created": _iso(plan.created_at),
        "activity": [{"detail": {
            "kind": "MedicationRequest", "status": "scheduled" if status == "active" else "not-started",
            "productCodeableConcept": {"coding": [codes.KETAMINE_ATC.coding()],
                                       "text": "Ketamine"},
            "dailyAmount": _qty(float(program.get("total_dose_mg", 0.0)), "mg", "mg"),
            "description": steps + (f". Series: {series.get('sessions')} sessions." if series.get("sessions") else ""),
        }}],
    }
    if plan.signed_at:
        resource["period"] = {"start": _iso(plan.signed_at)}
    addresses = evaluation_conditions.get(plan.evaluation_id or -1)
    if addresses:
        resource["addresses"] = [{"reference": ref} for ref in addresses]
    if plan.signed_by:
        resource["author"] = b.practitioner(plan.signed_by)
    url = b.add("care-plan", plan.id, resource)
    b.provenance(f"plan-sign:{plan.id}", [url], plan.signed_at, plan.signed_by, activity=codes.CREATE,
                 role=codes.VERIFIER, signature=codes.VERIFICATION_SIGNATURE)
    return url


def _step_text(step: dict[str, Any]) -> str:
    if step.get("kind") == "infusion":
        return (f"infusion {step.get('rate_mg_per_h', 0):g} mg/h ({step.get('rate_ml_per_h', 0):g} mL/h) "
                f"for {step.get('duration_min', 0):g} min")
    return f"{step.get('kind', 'dose')} {step.get('dose_mg', 0):g} mg ({step.get('route', 'iv')})"


def _administrations(b: _Builder, visit: Any, events: Sequence[Any], encounter: str) -> None:
    """One MedicationAdministration per bolus and per infusion segment, as the pump gave it."""
    program = visit.pump_program or {}
    if not program.get("program") or visit.started_at is None:
        return
    changes = rate_changes_given(events)
    # what has been given: up to the stop, or, while the infusion runs, up to the moment of the export
    until = visit.ended_at or max(b.generated_at, visit.started_at)
    stopped = (until - visit.started_at).total_seconds() / 60
    given, _ = doses_as_given(program["program"], changes, stopped)
    lot = program.get("ketamine_lot_number")
    concentration = program.get("concentration_mg_per_ml")
    medication: dict[str, Any] = {"resourceType": "Medication", "id": "ketamine",
                                  "code": {"coding": [codes.KETAMINE_ATC.coding()],
                                           "text": "Ketamine"}}
    if lot:
        medication["batch"] = {"lotNumber": lot}
    if concentration:
        medication["ingredient"] = [{"itemCodeableConcept": {"text": "ketamine"},
                                     "strength": {"numerator": _qty(float(concentration), "mg", "mg"),
                                                  "denominator": _qty(1, "mL", "mL")}}]
    for index, dose in enumerate(sorted(given, key=lambda d: d.at_min if isinstance(d, Bolus) else d.start_min)):
        if isinstance(dose, Bolus):
            when = visit.started_at + timedelta(minutes=dose.at_min)
            dosage: dict[str, Any] = {"route": _route(dose.route), "dose": _qty(round(dose.dose_mg, 3), "mg", "mg"),
                                      "text": f"ketamine {dose.dose_mg:g} mg {dose.route} (programmed step)"}
            period: dict[str, Any] = {"effectiveDateTime": _iso(when)}
            status = "completed"
        else:
            start = visit.started_at + timedelta(minutes=dose.start_min)
            end = visit.started_at + timedelta(minutes=dose.start_min + dose.duration_min)
            running = visit.ended_at is None and dose.end_min >= stopped - 1e-9
            mg = dose.dose_mg
            push = any(st.get("kind") == "bolus" and float(st.get("start_min", -1)) == dose.start_min
                       and float(st.get("duration_min") or 0) == dose.duration_min for st in program["program"])
            what = "slow bolus" if push else "infusion"
            dosage = {"route": _route("iv"), "dose": _qty(round(mg, 3), "mg", "mg"),
                      "rateQuantity": _qty(round(dose.rate_mg_per_h, 4), "mg/h", "mg/h"),
                      "text": f"ketamine {what} {dose.rate_mg_per_h:g} mg/h for {dose.duration_min:g} min ({mg:.4g} mg)"}
            if concentration:
                dosage["text"] += f" ({dose.rate_mg_per_h / float(concentration):.4g} mL/h at {float(concentration):g} mg/mL)"
            period = {"effectivePeriod": {"start": _iso(start)} if running else {"start": _iso(start), "end": _iso(end)}}
            status = "in-progress" if running else "completed"
            if running:
                dosage["text"] += " so far (running at the time of this export)"
        b.add("medication-administration", f"{visit.id}:step:{index}", {
            "resourceType": "MedicationAdministration", "status": status, "contained": [copy.deepcopy(medication)],
            "medicationReference": {"reference": "#ketamine"}, "subject": b.patient_ref,
            "context": {"reference": encounter}, "dosage": dosage, **period,
            "note": [{"text": f"From signed plan {program.get('plan_id')} (pump program step as given)"}]})


def _session(b: _Builder, visit: Any, events: Sequence[Any]) -> None:
    inpatient = (visit.pump_program or {}).get("setting") == "inpatient"
    period: dict[str, Any] = {"start": _iso(visit.started_at or visit.scheduled_at)}
    if visit.discharged_at or visit.ended_at:
        period["end"] = _iso(visit.discharged_at or visit.ended_at)
    klass = codes.INPATIENT if inpatient else codes.AMBULATORY
    encounter = b.add("encounter", visit.id, {
        "resourceType": "Encounter", "status": ENCOUNTER_STATUS[visit.state], "class": klass.coding(),
        "type": [{"text": "Low-dose ketamine infusion visit"}], "subject": b.patient_ref, "period": period,
    })
    if visit.started_at is None:
        return
    done = visit.state in ("observing", "discharged")
    b.add("procedure", visit.id, {
        "resourceType": "Procedure", "status": "completed" if done else "in-progress",
        "code": {"text": "Low-dose ketamine infusion for chronic pain (monitored)"},
        "subject": b.patient_ref, "encounter": {"reference": encounter},
        "performedPeriod": {k: v for k, v in (("start", _iso(visit.started_at)), ("end", _iso(visit.ended_at))) if v},
    })
    _administrations(b, visit, events, encounter)
    fixes = corrections_by_event(events)
    amendments: dict[int, list[Any]] = {}
    for event in events:
        if event.kind == "amendment" and event.amends_event_id is not None:
            amendments.setdefault(event.amends_event_id, []).append(event)
    for event in events:
        payload = event.payload or {}
        fix = fixes.get(event.id, {})
        targets: list[str] = []
        if event.kind == "vitals":
            targets = b.vitals(f"event:{event.id}", {**payload.get("observation", {}), **fix}, event.recorded_at,
                               encounter, status="amended" if event.id in amendments else "final")
        elif event.kind == "medication":
            payload = {**payload, **fix}
            drug = payload.get("drug", "medication")
            is_ketamine = drug.strip().lower().startswith("ketamine")
            coded = ({"coding": [codes.KETAMINE_ATC.coding()], "text": drug}
                     if is_ketamine else {"text": drug})
            unit = payload.get("unit") or "mg"
            resource: dict[str, Any] = {
                "resourceType": "MedicationAdministration", "status": "completed", "subject": b.patient_ref,
                "context": {"reference": encounter}, "effectiveDateTime": _iso(event.recorded_at),
                "medicationReference": {"reference": f"#med-{event.id}"},
                "contained": [{"resourceType": "Medication", "id": f"med-{event.id}", "code": coded,
                               "batch": {"lotNumber": payload.get("lot_number")}}],
                "dosage": {"route": _route(payload.get("route")),
                           "dose": {"value": payload.get("dose"), "unit": unit, "system": UCUM,
                                    "code": UCUM_OF_UNIT.get(unit, unit)}},
            }
            if payload.get("reason"):
                resource["note"] = [{"text": payload["reason"]}]
            targets = [b.add("medication-administration", f"event:{event.id}", resource)]
        for amendment in amendments.get(event.id, []) if targets else []:  # one Provenance per correction
            b.provenance(f"event-amend:{amendment.id}", targets, amendment.recorded_at, amendment.recorded_by,
                         activity=codes.UPDATE, role=codes.AUTHOR, reason=(amendment.payload or {}).get("reason"),
                         revises=("urn:ketaclinic:session-event", str(event.id),
                                  f"{event.kind} recorded at {_iso(event.recorded_at)}, kept unchanged in the record"))


def _diary_questionnaire(b: _Builder) -> None:
    items = []
    for link_id, text, kind, code in DIARY_ITEMS:
        item: dict[str, Any] = {"linkId": link_id, "text": text, "type": kind}
        if code is not None:
            item["code"] = [code.coding()]
        if link_id == "urinary":
            item["item"] = [{"linkId": f"urinary.{k}", "text": k.replace("_", " "), "type": "boolean"}
                            for k in ("frequency", "urgency", "bladder_pain", "blood_in_urine")]
        if link_id == "opioids":
            item["repeats"] = True
            item["item"] = [{"linkId": "opioids.opioid", "text": "Opioid", "type": "string"},
                            {"linkId": "opioids.daily_dose_mg", "text": "Daily dose (mg)", "type": "decimal"},
                            {"linkId": "opioids.patch_mcg_per_h", "text": "Patch rate (mcg/h)", "type": "decimal"}]
        items.append(item)
    b.add("questionnaire", "pain-diary", {
        "resourceType": "Questionnaire", "url": DIARY_QUESTIONNAIRE, "version": DIARY_QUESTIONNAIRE_VERSION,
        "status": "active", "title": "KetaClinic pain diary", "subjectType": ["Patient"], "item": items})


def _diary_entry(b: _Builder, entry: Any) -> None:
    items: list[dict[str, Any]] = [{"linkId": "pain", "text": "Pain now, 0-10", "answer": [{"valueInteger": entry.pain_nrs}]}]
    for link_id, text, _, _ in DIARY_ITEMS[1:4]:
        value = getattr(entry, link_id)
        if value is not None:
            items.append({"linkId": link_id, "text": text, "answer": [{"valueInteger": value}]})
    urinary = entry.urinary_symptoms or {}
    if urinary:
        items.append({"linkId": "urinary", "item": [
            {"linkId": f"urinary.{k}", "answer": [{"valueBoolean": bool(v)}]} for k, v in sorted(urinary.items())]})
    for dose in entry.opioid_doses or []:
        parts = [{"linkId": "opioids.opioid", "answer": [{"valueString": str(dose.get("opioid"))}]}]
        for key in ("daily_dose_mg", "patch_mcg_per_h"):
            if dose.get(key) is not None:
                parts.append({"linkId": f"opioids.{key}", "answer": [{"valueDecimal": float(dose[key])}]})
        items.append({"linkId": "opioids", "item": parts})
    if entry.note:
        items.append({"linkId": "note", "answer": [{"valueString": entry.note}]})
    url = b.add("questionnaire-response", entry.id, {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{DIARY_QUESTIONNAIRE}|{DIARY_QUESTIONNAIRE_VERSION}",
        "status": "amended" if entry.amends_id else "completed", "subject": b.patient_ref,
        "authored": _iso(entry.recorded_at), "item": items})
    pain = b.observation(f"diary:{entry.id}", codes.PAIN_NRS, entry.recorded_at, value_integer=entry.pain_nrs,
                         category=codes.SURVEY, status="amended" if entry.amends_id else "final", derived_from=url)
    if entry.amends_id:
        b.provenance(f"diary-amend:{entry.id}", [url, pain], entry.created_at, entry.created_by, activity=codes.UPDATE,
                     role=codes.AUTHOR, reason="Diary entry corrected",
                     revises=("urn:ketaclinic:diary-entry", str(entry.amends_id), "the diary entry this one corrects"))


def _referral_resources(b: _Builder, referral: Any) -> None:
    """What a referral brought, as received (weights went to the chart's weights and come from there),
    tagged as received and with a Provenance naming the referral, so no receiver takes it for the
    clinic's own finding."""
    targets = []
    for index, resource in enumerate(referral.resources or []):
        kept = copy.deepcopy(resource)
        kept["meta"] = {"tag": [codes.RECEIVED_WITH_REFERRAL.coding()]}
        targets.append(b.add("referral", f"{referral.id}:{index}", kept))
    identifier = referral.bundle_identifier or f"referral import {referral.id}"
    b.provenance(f"referral:{referral.id}", targets, referral.received_at, referral.received_by,
                 activity=codes.CREATE, role=codes.AUTHOR, reason="Received with a referral from another system",
                 source=("urn:ketaclinic:referral-bundle", str(identifier), "the referral Bundle as received"))


def export_patient_bundle(chart: Chart, *, generated_at: datetime) -> dict[str, Any]:
    """The chart as a FHIR ``collection`` Bundle, validated by ``fhir.resources`` (R4B) and returned as JSON data."""
    b = _Builder(chart, generated_at)
    evaluation = current_evaluation(chart.evaluations)
    evaluation_conditions: dict[int, list[str]] = {}
    if evaluation is not None:
        before = len(b.entries)
        _evaluation(b, evaluation)
        evaluation_conditions[evaluation.id] = [e["fullUrl"] for e in b.entries[before:]
                                                if e["resource"]["resourceType"] == "Condition"]
    for weight in chart.weights:
        b.observation(f"weight:{weight.id}", codes.BODY_WEIGHT, weight.measured_at, value=_qty(weight.weight_kg, "kg", "kg"))
    replaced_evaluations = {e.amends_id for e in chart.evaluations if e.status == "signed" and e.amends_id}
    for each in chart.evaluations:
        if each.id not in replaced_evaluations:  # a signed amendment's values replace the original's
            _evaluation_observations(b, each)
    superseded = {p.supersedes_id for p in chart.plans if p.supersedes_id is not None and p.status == "signed"}
    for plan in chart.plans:
        _care_plan(b, plan, plan.id in superseded, evaluation_conditions)
    for visit in chart.sessions:
        _session(b, visit, chart.events.get(visit.id, ()))
    replaced = {e.amends_id for e in chart.diary if e.amends_id is not None}
    current_diary = [e for e in chart.diary if e.id not in replaced]
    if current_diary:
        _diary_questionnaire(b)
    for entry in current_diary:
        _diary_entry(b, entry)
    for referral in chart.referrals:
        _referral_resources(b, referral)
    _patient(b)
    bundle = Bundle.model_validate({"resourceType": "Bundle", "type": "collection", "timestamp": _iso(generated_at),
                                    "identifier": {"system": f"urn:ketaclinic:{chart.installation}:export",
                                                   "value": b.url("export", f"{chart.patient.id}@{_iso(generated_at)}")},
                                    "entry": b.entries})
    return json.loads(bundle.model_dump_json())


def load_chart(session: Any, patient: Patient) -> Chart:
    """Everything :func:`export_patient_bundle` reads, for one patient, in one transaction."""

    def rows(query: Any) -> list[Any]:
        return list(session.execute(query).scalars())

    visits = rows(select(InfusionSession).where(InfusionSession.patient_id == patient.id).order_by(InfusionSession.id))
    events: dict[int, list[Any]] = {}
    for event in rows(select(SessionEvent).where(SessionEvent.session_id.in_([v.id for v in visits]))
                      .order_by(SessionEvent.id)):
        events.setdefault(event.session_id, []).append(event)
    evaluations = rows(select(Evaluation).where(Evaluation.patient_id == patient.id).order_by(Evaluation.id))
    plans = rows(select(Plan).where(Plan.patient_id == patient.id).order_by(Plan.id))
    diary = rows(select(DiaryEntry).where(DiaryEntry.patient_id == patient.id).order_by(DiaryEntry.id))
    user_ids = {e.signed_by for e in evaluations} | {p.signed_by for p in plans} | {d.created_by for d in diary}
    user_ids |= {e.recorded_by for es in events.values() for e in es}
    user_ids.discard(None)
    accounts = rows(select(User).where(User.id.in_(sorted(user_ids)))) if user_ids else []
    users = {u.id: u.username for u in accounts}
    return Chart(
        patient=patient,
        weights=rows(select(PatientWeight).where(PatientWeight.patient_id == patient.id).order_by(PatientWeight.id)),
        evaluations=evaluations, plans=plans, sessions=visits, events=events, diary=diary,
        referrals=rows(select(ReferralImport).where(ReferralImport.patient_id == patient.id).order_by(ReferralImport.id)),
        users=users, patient_users=frozenset(u.id for u in accounts if u.patient_id == patient.id),
        installation=installation_uuid(session),
    )


def export_patient(db: Database, actor: Actor, patient_id: int, *, now: datetime | None = None) -> dict[str, Any]:
    """Load the chart (the same access rule as every chart read: a stranger's id is 404), audit, export."""
    require_role(actor, "physician", "patient")
    now = now or utcnow()
    with unit_of_work(db) as session:
        patient: Patient = load_patient(session, actor, patient_id)
        bundle = export_patient_bundle(load_chart(session, patient), generated_at=now)
        audit(session, actor, "patient.fhir_export", "patient", patient.id, {"entries": len(bundle.get("entry", []))})
        return bundle
