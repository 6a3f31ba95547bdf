"""A patient's record as a FHIR R4 Bundle (``fhir.resources``, R4B models), for another EHR.

:func:`export_patient_bundle` is a pure function of the loaded records; :func:`export_patient`
is the service around it (access rule, audit entry, one transaction). What goes in:

- ``Patient`` (demographics);
- ``Condition`` for each condition of the current evaluation, coded in ICD-10-CM and SNOMED CT
  from :mod:`ketaclinic.clinical.conditions` (confirmed when the evaluation is signed);
- ``Observation`` for vital signs (evaluation and session vitals), weights and pain, with LOINC
  codes as the FHIR vital-signs profile names them: blood pressure panel 85354-9 with systolic
  8480-6 and diastolic 8462-4, heart rate 8867-4, SpO2 2708-6 + 59408-5 (pulse oximetry),
  respiratory rate 9279-1, body weight 29463-7 (hl7.org/fhir/R4B valueset-observation-vitalsignresult
  and the US Core pulse-oximetry example), pain severity 0-10 verbal numeric rating 72514-3;
- ``Encounter`` and ``Procedure`` for each infusion session;
- ``MedicationAdministration`` for the ketamine the pump program gave (ATC N01AX03) and for every
  medication event (the lot number on a contained ``Medication``'s ``batch``).

Every ``fullUrl`` is a stable ``urn:uuid`` (UUID 5 of the record's kind and id), so exporting twice
gives the same identifiers and references inside the bundle resolve.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from ketaclinic.clinical.conditions import get_condition
from ketaclinic.records.db import Database, utcnow
from ketaclinic.records.diary import DiaryEntry
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.patients import Patient, PatientWeight
from ketaclinic.records.sessions import InfusionSession, SessionEvent
from ketaclinic.services.common import audit, require_role, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.patients import load_patient

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
IDENTIFIER_SYSTEM = "urn:ketaclinic:patient"
NAMESPACE = uuid.UUID("5b0f0e4e-3f7c-4a51-9d59-7d1f4b6c2a10")

# LOINC codes (see the module docstring for where each was confirmed)
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = ("8480-6", "Systolic blood pressure")
DIASTOLIC = ("8462-4", "Diastolic blood pressure")
HEART_RATE = ("8867-4", "Heart rate")
SPO2 = ("2708-6", "Oxygen saturation in Arterial blood")
SPO2_PULSE_OX = ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry")
RESP_RATE = ("9279-1", "Respiratory rate")
BODY_WEIGHT = ("29463-7", "Body weight")
PAIN_NRS = ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")
KETAMINE_ATC = ("N01AX03", "ketamine")

ENCOUNTER_STATUS = {"scheduled": "planned", "checked_in": "arrived", "running": "in-progress",
                    "observing": "in-progress", "discharged": "finished", "cancelled": "cancelled"}
GENDER = {"female": "female", "male": "male", "other": "other", "unknown": "unknown"}
ROUTE_TEXT = {"iv": "intravenous", "oral": "oral", "im": "intramuscular", "sc": "subcutaneous",
              "sublingual": "sublingual", "intranasal": "intranasal", "inhaled": "inhaled", "topical": "topical"}


@dataclass
class Chart:
    """Everything the export reads, loaded by the caller."""

    patient: Any
    weights: Sequence[Any] = ()
    evaluations: Sequence[Any] = ()
    sessions: Sequence[Any] = ()
    events: dict[int, Sequence[Any]] = field(default_factory=dict)
    diary: Sequence[Any] = ()


def full_url(kind: str, record_id: Any) -> str:
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'ketaclinic:{kind}:{record_id}')}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _cc(system: str, code: str, display: str, text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"coding": [{"system": system, "code": code, "display": display}]}
    if text:
        out["text"] = text
    return out


def _qty(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def _vital_signs() -> list[dict[str, Any]]:
    return [_cc(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")]


class _Builder:
    def __init__(self, chart: Chart):
        self.chart = chart
        self.entries: list[dict[str, Any]] = []
        self.patient_ref = {"reference": full_url("patient", chart.patient.id)}

    def add(self, kind: str, record_id: Any, resource: dict[str, Any]) -> str:
        url = full_url(kind, record_id)
        resource.setdefault("id", str(uuid.UUID(url.removeprefix("urn:uuid:"))))
        self.entries.append({"fullUrl": url, "resource": resource})
        return url

    def observation(self, key: str, code: tuple[str, str], when: datetime | None, *, value: dict[str, Any] | None = None,
                    value_integer: int | None = None, components: list[dict[str, Any]] | None = None,
                    extra_codes: Iterable[tuple[str, str]] = (), encounter: str | None = None,
                    category: str = "vital-signs") -> None:
        coding = [{"system": LOINC, "code": code[0], "display": code[1]}]
        coding += [{"system": LOINC, "code": c, "display": d} for c, d in extra_codes]
        resource: dict[str, Any] = {
            "resourceType": "Observation", "status": "final",
            "category": _vital_signs() if category == "vital-signs" else [_cc(OBSERVATION_CATEGORY, "survey", "Survey")],
            "code": {"coding": coding, "text": code[1]}, "subject": self.patient_ref,
            "effectiveDateTime": _iso(when),
        }
        if value is not None:
            resource["valueQuantity"] = value
        if value_integer is not None:
            resource["valueInteger"] = value_integer
        if components:
            resource["component"] = components
        if encounter:
            resource["encounter"] = {"reference": encounter}
        self.add("observation", key, resource)

    def vitals(self, key: str, vitals: dict[str, Any], when: datetime | None, encounter: str | None = None) -> None:
        if "systolic_mmhg" in vitals and "diastolic_mmhg" in vitals:
            self.observation(f"{key}:bp", BP_PANEL, when, encounter=encounter, components=[
                {"code": _cc(LOINC, *SYSTOLIC), "valueQuantity": _qty(vitals["systolic_mmhg"], "mmHg", "mm[Hg]")},
                {"code": _cc(LOINC, *DIASTOLIC), "valueQuantity": _qty(vitals["diastolic_mmhg"], "mmHg", "mm[Hg]")},
            ])
        if "heart_rate_bpm" in vitals:
            self.observation(f"{key}:hr", HEART_RATE, when, value=_qty(vitals["heart_rate_bpm"], "beats/minute", "/min"),
                             encounter=encounter)
        if "spo2_pct" in vitals:
            self.observation(f"{key}:spo2", SPO2, when, value=_qty(vitals["spo2_pct"], "%", "%"),
                             extra_codes=[SPO2_PULSE_OX], encounter=encounter)
        if "respiratory_rate_per_min" in vitals:
            self.observation(f"{key}:rr", RESP_RATE, when,
                             value=_qty(vitals["respiratory_rate_per_min"], "breaths/minute", "/min"), encounter=encounter)


def _current_evaluation(evaluations: Sequence[Any]) -> Any | None:
    signed = [e for e in evaluations if e.status == "signed"]
    replaced = {e.amends_id for e in signed if e.amends_id is not None}
    current = [e for e in signed if e.id not in replaced]
    pool = current or list(evaluations)
    return max(pool, key=lambda e: (e.signed_at or e.created_at, e.id)) if pool else None


def _conditions(b: _Builder, evaluations: Sequence[Any]) -> None:
    evaluation = _current_evaluation(evaluations)
    if evaluation is None:
        return
    signed = evaluation.status == "signed"
    for condition_id in ((evaluation.screening_input or {}).get("pain") or {}).get("conditions", []):
        condition = get_condition(condition_id)
        coding = [{"system": ICD10CM, "code": c.code, "display": c.display} for c in condition.icd10cm]
        coding += [{"system": SNOMED, "code": c.code, "display": c.display} for c in condition.snomed]
        b.add("condition", f"{evaluation.id}:{condition_id}", {
            "resourceType": "Condition",
            "clinicalStatus": _cc(CONDITION_CLINICAL, "active", "Active"),
            "verificationStatus": _cc(CONDITION_VERIFICATION, *(("confirmed", "Confirmed") if signed
                                                                else ("provisional", "Provisional"))),
            "category": [_cc(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
            "code": {"coding": coding, "text": condition.name},
            "subject": b.patient_ref,
            "recordedDate": _iso(evaluation.signed_at or evaluation.created_at),
        })


def _medication_administration(b: _Builder, key: str, *, status: str, medication: dict[str, Any], encounter: str,
                               when: tuple[datetime | None, datetime | None], dosage: dict[str, Any],
                               note: str | None = None, contained: list[dict[str, Any]] | None = None) -> None:
    resource: dict[str, Any] = {"resourceType": "MedicationAdministration", "status": status, "subject": b.patient_ref,
                                "context": {"reference": encounter}, "dosage": dosage, **medication}
    start, end = when
    if end is not None:
        resource["effectivePeriod"] = {"start": _iso(start), "end": _iso(end)}
    else:
        resource["effectiveDateTime"] = _iso(start)
    if note:
        resource["note"] = [{"text": note}]
    if contained:
        resource["contained"] = contained
    b.add("medication-administration", key, resource)


def _session(b: _Builder, visit: Any, events: Sequence[Any]) -> None:
    inpatient = (visit.pump_program or {}).get("setting") == "inpatient"
    period: dict[str, Any] = {"start": _iso(visit.started_at or visit.scheduled_at)}
    if visit.discharged_at or visit.ended_at:
        period["end"] = _iso(visit.discharged_at or visit.ended_at)
    encounter = b.add("encounter", visit.id, {
        "resourceType": "Encounter", "status": ENCOUNTER_STATUS[visit.state],
        "class": {"system": ACT_CODE, "code": "IMP" if inpatient else "AMB",
                  "display": "inpatient encounter" if inpatient else "ambulatory"},
        "type": [{"text": "Low-dose ketamine infusion visit"}],
        "subject": b.patient_ref, "period": period,
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
    program = visit.pump_program or {}
    if program.get("program"):
        lines = "; ".join(f"{s['kind']} {s['dose_mg']:g} mg" + (f" at {s['rate_mg_per_h']:g} mg/h" if s.get("rate_mg_per_h")
                                                                 and s["kind"] == "infusion" else "")
                          for s in program["program"])
        dosage: dict[str, Any] = {"text": f"Pump program from signed plan {program.get('plan_id')}: {lines}",
                                  "route": {"text": ROUTE_TEXT.get(program.get("route", "iv"), "intravenous")},
                                  "dose": _qty(program.get("total_dose_mg", 0.0), "mg", "mg")}
        infusion = next((s for s in program["program"] if s["kind"] == "infusion"), None)
        if infusion:
            dosage["rateQuantity"] = _qty(infusion["rate_mg_per_h"], "mg/h", "mg/h")
        _medication_administration(
            b, f"{visit.id}:program", status="completed" if done else "in-progress",
            medication={"medicationCodeableConcept": _cc(ATC, *KETAMINE_ATC, text="Ketamine (low-dose analgesia)")},
            encounter=encounter, when=(visit.started_at, visit.ended_at), dosage=dosage)
    for event in events:
        payload = event.payload or {}
        if event.kind == "vitals":
            b.vitals(f"event:{event.id}", payload.get("observation", {}), event.recorded_at, encounter)
        elif event.kind == "medication":
            medication_id = f"med-{event.id}"
            drug = payload.get("drug", "medication")
            coded = _cc(ATC, *KETAMINE_ATC, text=drug) if drug.strip().lower().startswith("ketamine") else {"text": drug}
            _medication_administration(
                b, f"event:{event.id}", status="completed",
                medication={"medicationReference": {"reference": f"#{medication_id}"}}, encounter=encounter,
                when=(event.recorded_at, None),
                dosage={"route": {"text": ROUTE_TEXT.get(payload.get("route", ""), payload.get("route", ""))},
                        "dose": {"value": payload.get("dose"), "unit": payload.get("unit"), "system": UCUM,
                                 "code": payload.get("unit")}},
                note=payload.get("reason"),
                contained=[{"resourceType": "Medication", "id": medication_id, "code": coded,
                            "batch": {"lotNumber": payload.get("lot_number")}}])


def export_patient_bundle(chart: Chart, *, generated_at: datetime) -> dict[str, Any]:
    """The chart as a FHIR ``collection`` Bundle, validated by ``fhir.resources`` (R4B) and returned as JSON data."""
    p = chart.patient
    b = _Builder(chart)
    telecom = [t for t in ({"system": "phone", "value": p.phone}, {"system": "email", "value": p.email}) if t["value"]]
    patient: dict[str, Any] = {
        "resourceType": "Patient", "identifier": [{"system": IDENTIFIER_SYSTEM, "value": str(p.id)}], "active": True,
        "name": [{"family": p.family_name, "given": [p.given_name]}], "gender": GENDER.get(p.sex, "unknown"),
        "birthDate": p.birth_date.isoformat(),
    }
    if telecom:
        patient["telecom"] = telecom
    b.add("patient", p.id, patient)
    _conditions(b, chart.evaluations)
    for weight in chart.weights:
        b.observation(f"weight:{weight.id}", BODY_WEIGHT, weight.measured_at, value=_qty(weight.weight_kg, "kg", "kg"))
    for evaluation in chart.evaluations:
        document = evaluation.screening_input or {}
        b.vitals(f"evaluation:{evaluation.id}", document.get("vitals") or {}, evaluation.created_at)
        nrs = (document.get("pain") or {}).get("nrs_now")
        if nrs is not None:
            b.observation(f"evaluation:{evaluation.id}:pain", PAIN_NRS, evaluation.created_at, value_integer=int(nrs),
                          category="survey")
    for visit in chart.sessions:
        _session(b, visit, chart.events.get(visit.id, ()))
    for entry in chart.diary:
        b.observation(f"diary:{entry.id}", PAIN_NRS, entry.recorded_at, value_integer=entry.pain_nrs, category="survey")
    bundle = Bundle.model_validate({"resourceType": "Bundle", "type": "collection", "timestamp": _iso(generated_at),
                                    "identifier": {"system": "urn:ketaclinic:export", "value": full_url("export", p.id)},
                                    "entry": b.entries})
    return json.loads(bundle.model_dump_json())


def export_patient(db: Database, actor: Actor, patient_id: int, *, now: datetime | None = None) -> dict[str, Any]:
    """Load the chart (the same access rule as every chart read: a stranger's id is 404), audit, export."""
    require_role(actor, "physician", "patient")
    now = now or utcnow()
    with unit_of_work(db) as session:
        patient: Patient = load_patient(session, actor, patient_id)

        def rows(query: Any) -> list[Any]:
            return list(session.execute(query).scalars())

        visits = rows(select(InfusionSession).where(InfusionSession.patient_id == patient.id).order_by(InfusionSession.id))
        events: dict[int, list[Any]] = {}
        for event in rows(select(SessionEvent).where(SessionEvent.session_id.in_([v.id for v in visits]))
                          .order_by(SessionEvent.id)):
            events.setdefault(event.session_id, []).append(event)
        chart = Chart(
            patient=patient,
            weights=rows(select(PatientWeight).where(PatientWeight.patient_id == patient.id).order_by(PatientWeight.id)),
            evaluations=rows(select(Evaluation).where(Evaluation.patient_id == patient.id).order_by(Evaluation.id)),
            sessions=visits, events=events,
            diary=rows(select(DiaryEntry).where(DiaryEntry.patient_id == patient.id).order_by(DiaryEntry.id)),
        )
        bundle = export_patient_bundle(chart, generated_at=now)
        audit(session, actor, "patient.fhir_export", "patient", patient.id, {"entries": len(bundle.get("entry", []))})
        return bundle
