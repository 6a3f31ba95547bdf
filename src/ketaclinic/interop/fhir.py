"""A patient's record as a FHIR R4 Bundle (``fhir.resources``, R4B models), for another EHR.

A pure builder: :func:`bundle` turns a :class:`Chart` (a plain snapshot the service
:mod:`ketaclinic.services.fhir` loads, with the clock reading and the installation's UUID) into
the Bundle as JSON data. No database, no clock, no roles, no audit here. What goes in:

- ``Patient`` (demographics; the clinic's record number and the identifiers the referrals
  carried, each under its own system) and a ``Practitioner`` for the referring physician
  (``Patient.generalPractitioner``);
- ``Condition`` for each condition of the current *signed* evaluation, coded in ICD-10-CM and
  SNOMED CT from :mod:`ketaclinic.clinical.conditions`, with the onset the evaluation recorded
  (a draft is not yet the clinic's assertion, so it is not exported as a diagnosis);
- ``MedicationStatement`` for each current medication the signed evaluation lists;
- ``Observation`` for vital signs (evaluation and session vitals), weights and pain, with LOINC
  codes and UCUM units (:mod:`ketaclinic.interop.fhir_codes`), and for the sedation and
  dissociation scores recorded with the session vitals (MOAA/S, RASS, CADSS-6; text codes: no
  LOINC code for them was found, so none is invented);
- ``AdverseEvent`` for every side effect (its severity, the ketamine administration under way as
  the suspect) and ``DetectedIssue`` for every monitoring alert (the vitals as evidence, the
  nurse's acknowledgement as the mitigation);
- ``CarePlan`` for each plan (draft, active, or revoked when superseded) with the pump program;
- ``Encounter`` and ``Procedure`` for each infusion session;
- ``MedicationAdministration`` for every ketamine bolus and infusion step as the pump gave it
  (the program with the nurse's rate changes and the stop: :func:`doses_as_given`), with dose,
  rate, route, period and the lot number read off the syringe, and for every medication event;
- ``QuestionnaireResponse`` for each diary entry (against the diary ``Questionnaire``), with the
  entry's identifier, which the pain ``Observation`` derived from it names too;
- ``Provenance`` for every signature (evaluation, plan) and every amendment (evaluation,
  session event, diary entry), naming who (the staff's names), when, and why;
- the facts received with a referral (:mod:`ketaclinic.interop.fhir_import`), as they came.

Every ``fullUrl`` is a stable ``urn:uuid`` (UUID 5 of the record's kind and id), so exporting twice
gives the same identifiers and references inside the bundle resolve; identifier systems are
``urn:uuid`` too (:mod:`ketaclinic.interop.fhir_ids` says why).
"""

from __future__ import annotations

import copy
import html
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from ketaclinic.clinical.conditions import get_condition, icd10cm_for, snomed_for
from ketaclinic.clinical.dosing import program_weight_text
from ketaclinic.clinical.drug_library import adjunct_named
from ketaclinic.clinical.protocols import get_protocol
from ketaclinic.clinical.record import EventRow, corrections_by_event, rate_changes_given
from ketaclinic.clinical.scales import CADSS6_ITEMS, RASS_LEVELS
from ketaclinic.evidence.sources import UnknownSourceError, get_source, ref
from ketaclinic.interop import fhir_codes as codes
from ketaclinic.interop import fhir_ids as ids
from ketaclinic.interop.consent import CONSENT_CODES, ConsentRow, add_consents
from ketaclinic.interop.fhir_adjunct_codes import ALL_ADJUNCT_CODES, adjunct_code
from ketaclinic.interop.fhir_codes import ICD10CM, LOINC, SNOMED, UCUM, Code
from ketaclinic.interop.fhir_ids import DIARY_QUESTIONNAIRE, DIARY_QUESTIONNAIRE_VERSION, full_url
from ketaclinic.interop.fhir_questionnaires import QUESTIONNAIRE_CODES, QuestionnaireRow, add_questionnaires
from ketaclinic.pharmacology.regimen import Bolus, doses_as_given

__all__ = ["EXPORT_CODES", "ICD10CM", "LOINC", "SNOMED", "Chart", "DiaryRow", "EvaluationRow", "PatientRow",
           "PlanRow", "ReferralRow", "SessionRow", "WeightRow", "bundle", "full_url", "sender_identifiers"]

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

# The scores a nurse records with the session vitals, as Observations (category survey). No LOINC
# code for MOAA/S, RASS or CADSS-6 was found (searched loinc.org and FHIR terminology pages, issue
# 18; LOINC has e.g. the Ramsay scale, 105043-4, not these), so each is coded by text only, naming the
# scale and its range: a receiver reads the name, and no code is invented.
# (key in the vitals, text, source id)
SCORES = (
    ("moaas", "MOAA/S (Modified Observer's Assessment of Alertness/Sedation) score, 0 no response to "
              "a painful stimulus to 5 responds readily to name in a normal tone", ref("chernik1990_moaas")),
    ("rass", "RASS (Richmond Agitation-Sedation Scale) score, -5 unarousable to +4 combative",
     ref("sessler2002_rass")),
    ("cadss6", "CADSS-6 (six-item Clinician-Administered Dissociative States Scale) total, 0-24",
     ref("rodrigues2021_cadss6")),
)

# AdverseEvent.severity (R4, extensible binding): the HL7 code system, as terminology.hl7.org and
# hl7.org/fhir/R4B/codesystem-adverse-event-severity.html publish it. Our side-effect severities are
# the same three words.
ADVERSE_EVENT_SEVERITY = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
SIDE_EFFECT_SEVERITY = {
    "mild": Code(ADVERSE_EVENT_SEVERITY, "mild", "Mild"),
    "moderate": Code(ADVERSE_EVENT_SEVERITY, "moderate", "Moderate"),
    "severe": Code(ADVERSE_EVENT_SEVERITY, "severe", "Severe"),
}
# DetectedIssue.severity (R4, required binding, a plain code): high | moderate | low.
ALERT_SEVERITY = {"critical": "high", "warning": "moderate"}

#: Every coding the export writes beyond :data:`ketaclinic.interop.fhir_codes.ALL_CODES`.
EXPORT_CODES: tuple[Code, ...] = (tuple(SIDE_EFFECT_SEVERITY.values()) + ALL_ADJUNCT_CODES  # + the adjuncts' RxNorm
                                  + QUESTIONNAIRE_CODES  # PHQ-9 / GAD-7 panels, totals, answers (issue 15)
                                  + CONSENT_CODES)  # the signed consents (issue 13)


# --- the snapshot the service loads -----------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PatientRow:
    id: int
    given_name: str
    family_name: str
    birth_date: date
    sex: str
    phone: str | None = None
    email: str | None = None
    referring_physician: str | None = None
    referring_physician_contact: str | None = None
    site_id: int | None = None  # the site the patient belongs to (issue 17)


@dataclass(frozen=True, kw_only=True)
class SiteRow:
    """A site of the clinic group (issue 17): a FHIR Location managed by the group's Organization."""

    id: int
    name: str
    code: str
    address: str | None = None
    active: bool = True


@dataclass(frozen=True, kw_only=True)
class WeightRow:
    id: int
    weight_kg: float
    measured_at: datetime


@dataclass(frozen=True, kw_only=True)
class EvaluationRow:
    id: int
    status: str  # draft | signed
    screening_input: Mapping[str, Any]
    created_at: datetime
    signed_at: datetime | None = None
    signed_by: int | None = None
    amends_id: int | None = None
    notes: str | None = None


@dataclass(frozen=True, kw_only=True)
class PlanRow:
    id: int
    status: str  # draft | signed
    protocol_id: str
    weight_kg: float
    concentration_mg_per_ml: float
    pump_program: Mapping[str, Any]
    created_at: datetime
    series_rule: Mapping[str, Any] = field(default_factory=dict)
    evaluation_id: int | None = None
    signed_at: datetime | None = None
    signed_by: int | None = None
    supersedes_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class SessionRow:
    id: int
    state: str
    scheduled_at: datetime
    pump_program: Mapping[str, Any] | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    discharged_at: datetime | None = None
    site_id: int | None = None  # where the session happens (issue 17)


@dataclass(frozen=True, kw_only=True)
class DiaryRow:
    id: int
    recorded_at: datetime  # the day the patient reports about
    created_at: datetime
    pain_nrs: int
    mood: int | None = None
    sleep: int | None = None
    function: int | None = None
    urinary_symptoms: Mapping[str, Any] = field(default_factory=dict)
    opioid_doses: Sequence[Mapping[str, Any]] = ()
    note: str | None = None
    amends_id: int | None = None
    created_by: int | None = None


@dataclass(frozen=True, kw_only=True)
class ReferralRow:
    """A referral as stored: the Bundle as received and the facts kept from it (re-pointed)."""

    id: int
    received_at: datetime
    bundle: Mapping[str, Any] = field(default_factory=dict)
    resources: Sequence[Mapping[str, Any]] = ()
    bundle_identifier: str | None = None
    received_by: int | None = None


@dataclass(frozen=True, kw_only=True)
class Chart:
    """Everything the export reads, loaded by the service in one transaction."""

    patient: PatientRow
    installation: str  # records.installation: scopes every identifier
    generated_at: datetime  # the clock reading of the export (a running infusion is given "so far")
    weights: Sequence[WeightRow] = ()
    evaluations: Sequence[EvaluationRow] = ()
    plans: Sequence[PlanRow] = ()
    sessions: Sequence[SessionRow] = ()
    events: Mapping[int, Sequence[EventRow]] = field(default_factory=dict)  # session id -> its events, by id
    diary: Sequence[DiaryRow] = ()
    referrals: Sequence[ReferralRow] = ()
    staff: Mapping[int | None, str] = field(default_factory=dict)  # user id -> name (services.staff.staff_names)
    patient_users: frozenset[int] = frozenset()  # user ids that are this patient (diary authors)
    sites: Mapping[int, SiteRow] = field(default_factory=dict)  # site id -> site (the patient's and sessions')
    clinic_name: str | None = None  # the clinic group's name (clinic settings): the Organization
    questionnaires: Sequence[QuestionnaireRow] = ()  # completed questionnaires (issue 15), oldest first
    consents: Sequence[ConsentRow] = ()  # signed consents with their PDFs (issue 13), oldest first


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _qty(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def _route(route: str | None) -> dict[str, Any]:
    code = codes.ROUTES.get(route or "iv")
    return code.concept(code.display) if code else {"text": route or "unknown"}


def _narrative(text: str) -> dict[str, str]:
    """Text a resource has no element for, as its narrative (``additional``: beyond the data)."""
    return {"status": "additional", "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{html.escape(text)}</p></div>'}


def sender_identifiers(referral_bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The identifiers the referral's Patient carried (the sender's record numbers), each with its
    own system: only those with a system and a value (a bare value names nothing a receiver can
    use), without ``assigner`` references (they point into the sender's system; the display is
    kept)."""
    out = []
    for entry in referral_bundle.get("entry") or []:
        resource = (entry or {}).get("resource") or {}
        if resource.get("resourceType") != "Patient":
            continue
        for each in resource.get("identifier") or []:
            if not isinstance(each, Mapping) or not each.get("system") or not each.get("value"):
                continue
            kept = {k: copy.deepcopy(each[k]) for k in ("use", "type", "system", "value", "period") if k in each}
            display = (each.get("assigner") or {}).get("display")
            if display:
                kept["assigner"] = {"display": display}
            out.append(kept)
    return out


def current_evaluation(evaluations: Sequence[Any]) -> Any | None:
    """The signed evaluation no later signed amendment replaces (None before any is signed)."""
    signed = [e for e in evaluations if e.status == "signed"]
    replaced = {e.amends_id for e in signed if e.amends_id is not None}
    current = [e for e in signed if e.id not in replaced]
    return max(current, key=lambda e: (e.signed_at or e.created_at, e.id)) if current else None


class _Builder:
    def __init__(self, chart: Chart):
        self.chart = chart
        self.generated_at = chart.generated_at
        self.entries: list[dict[str, Any]] = []
        self.patient_ref = {"reference": self.url("patient", chart.patient.id)}
        self.practitioners: dict[int, str] = {}

    def url(self, kind: str, record_id: Any) -> str:
        return full_url(kind, record_id, self.chart.installation)

    def identifier(self, kind: ids.Kind, record_id: Any) -> dict[str, str]:
        return ids.identifier(self.chart.installation, kind, record_id)

    def staff_name(self, user_id: int) -> str:
        return self.chart.staff.get(user_id) or f"user {user_id}"

    def add(self, kind: str, record_id: Any, resource: dict[str, Any]) -> str:
        url = self.url(kind, record_id)
        resource.setdefault("id", str(uuid.UUID(url.removeprefix("urn:uuid:"))))
        self.entries.append({"fullUrl": url, "resource": resource})
        return url

    def organization(self) -> dict[str, Any]:
        """The clinic group as one Organization (once per bundle): it manages every site's Location."""
        name = self.chart.clinic_name or "KetaClinic clinic"
        url = self.url("organization", "group")
        if not any(e["fullUrl"] == url for e in self.entries):
            self.add("organization", "group", {"resourceType": "Organization", "active": True, "name": name})
        return {"reference": url, "display": name}

    def location(self, site_id: int | None) -> dict[str, Any] | None:
        """A site as a Location (once per bundle), managed by the group's Organization; None if unknown."""
        site = self.chart.sites.get(site_id) if site_id is not None else None
        if site is None:
            return None
        url = self.url("location", site.id)
        if not any(e["fullUrl"] == url for e in self.entries):
            location: dict[str, Any] = {
                "resourceType": "Location", "status": "active" if site.active else "inactive", "mode": "instance",
                "identifier": [self.identifier("site", site.code)], "name": site.name,
                "managingOrganization": self.organization(),
            }
            if site.address:
                location["address"] = {"text": site.address}
            self.add("location", site.id, location)
        return {"reference": url, "display": site.name}

    def practitioner(self, user_id: int | None) -> dict[str, Any] | None:
        """A clinic user as a Practitioner (once per bundle), for signatures and authorship."""
        if user_id is None:
            return None
        if user_id in self.chart.patient_users:  # the patient wrote it (their diary): the agent is the Patient
            return {**self.patient_ref, "display": "the patient"}
        name = self.staff_name(user_id)
        if user_id not in self.practitioners:
            self.practitioners[user_id] = self.add("practitioner", user_id, {
                "resourceType": "Practitioner", "identifier": [self.identifier("user", user_id)],
                "name": [{"text": name}]})
        return {"reference": self.practitioners[user_id], "display": name}

    def provenance(self, key: str, targets: list[str], when: datetime | None, who: int | None, *, activity: Code,
                   role: Code, signature: Code | None = None, reason: str | None = None,
                   revises: tuple[dict[str, str], str] | None = None,
                   source: tuple[dict[str, str], str] | None = None) -> None:
        """Who signed or amended what, and when (``revises``: the replaced record's identifier and a text)."""
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
                identifier, text = entity
                resource.setdefault("entity", []).append(
                    {"role": role_name, "what": {"identifier": identifier, "display": text}})
        self.add("provenance", key, resource)

    def observation(self, key: str, code: Code, when: datetime | None, *, value: dict[str, Any] | None = None,
                    value_integer: int | None = None, components: list[dict[str, Any]] | None = None,
                    extra_codes: Iterable[Code] = (), encounter: str | None = None, category: Code = codes.VITAL_SIGNS,
                    status: str = "final", derived_from: dict[str, Any] | None = None) -> str:
        resource: dict[str, Any] = {
            "resourceType": "Observation", "status": status, "category": [category.concept()],
            "code": {"coding": [code.coding(), *(c.coding() for c in extra_codes)], "text": code.display},
            "subject": self.patient_ref, "effectiveDateTime": _iso(when),
        }
        return self._observation(key, resource, value=value, value_integer=value_integer, components=components,
                                 encounter=encounter, derived_from=derived_from)

    def score(self, key: str, text: str, when: datetime | None, value: int, *, encounter: str | None, status: str,
              components: list[dict[str, Any]] | None = None, note: str | None = None) -> str:
        """A sedation or dissociation score (text-coded: see :data:`SCORES`)."""
        resource: dict[str, Any] = {
            "resourceType": "Observation", "status": status, "category": [codes.SURVEY.concept()],
            "code": {"text": text}, "subject": self.patient_ref, "effectiveDateTime": _iso(when),
        }
        if note:
            resource["note"] = [{"text": note}]
        return self._observation(key, resource, value_integer=value, components=components, encounter=encounter)

    def _observation(self, key: str, resource: dict[str, Any], *, value: dict[str, Any] | None = None,
                     value_integer: int | None = None, components: list[dict[str, Any]] | None = None,
                     encounter: str | None = None, derived_from: dict[str, Any] | None = None) -> str:
        if value is not None:
            resource["valueQuantity"] = value
        if value_integer is not None:
            resource["valueInteger"] = value_integer
        if components:
            resource["component"] = components
        if encounter:
            resource["encounter"] = {"reference": encounter}
        if derived_from:
            resource["derivedFrom"] = [derived_from]
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
    record_number = {"type": codes.MEDICAL_RECORD_NUMBER.concept(), **b.identifier("patient", p.id)}
    identifiers = [record_number]
    seen = {(record_number["system"], record_number["value"])}
    for referral in b.chart.referrals:  # the sender's record numbers, under the sender's systems
        for each in sender_identifiers(referral.bundle):
            if (each["system"], each["value"]) not in seen:
                seen.add((each["system"], each["value"]))
                identifiers.append(each)
    patient: dict[str, Any] = {
        "resourceType": "Patient", "active": True, "identifier": identifiers,
        "name": [{"family": p.family_name, "given": p.given_name.split()}], "gender": GENDER.get(p.sex, "unknown"),
        "birthDate": p.birth_date.isoformat(),
    }
    if telecom:
        patient["telecom"] = telecom
    if b.chart.sites:  # the clinic group that keeps the record (issue 17)
        patient["managingOrganization"] = b.organization()
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
        coding = [{"system": ICD10CM, "code": c.code, "display": c.display} for c in icd10cm_for(condition_id, pain)]
        coding += [{"system": SNOMED, "code": c.code, "display": c.display} for c in snomed_for(condition_id, pain)]
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
                     revises=(b.identifier("evaluation", evaluation.amends_id),
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


def _administrations(b: _Builder, session: Any, events: Sequence[Any],
                     encounter: str) -> list[tuple[datetime, datetime, str]]:
    """One MedicationAdministration per bolus and per infusion segment, as the pump gave it; returns
    each one's (start, end, full URL), so a side effect can name the dose under way as its suspect."""
    program = session.pump_program or {}
    given_steps: list[tuple[datetime, datetime, str]] = []
    if not program.get("program") or session.started_at is None:
        return given_steps
    changes = rate_changes_given(events)
    # what has been given: up to the stop, or, while the infusion runs, up to the moment of the export
    until = session.ended_at or max(b.generated_at, session.started_at)
    stopped = (until - session.started_at).total_seconds() / 60
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
            when = session.started_at + timedelta(minutes=dose.at_min)
            dosage: dict[str, Any] = {"route": _route(dose.route), "dose": _qty(round(dose.dose_mg, 3), "mg", "mg"),
                                      "text": f"ketamine {dose.dose_mg:g} mg {dose.route} (programmed step)"}
            period: dict[str, Any] = {"effectiveDateTime": _iso(when)}
            status = "completed"
            start = end = when
        else:
            start = session.started_at + timedelta(minutes=dose.start_min)
            end = session.started_at + timedelta(minutes=dose.start_min + dose.duration_min)
            running = session.ended_at is None and dose.end_min >= stopped - 1e-9
            if running:
                end = max(b.generated_at, start)
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
        url = b.add("medication-administration", f"{session.id}:step:{index}", {
            "resourceType": "MedicationAdministration", "status": status, "contained": [copy.deepcopy(medication)],
            "medicationReference": {"reference": "#ketamine"}, "subject": b.patient_ref,
            "context": {"reference": encounter}, "dosage": dosage, **period,
            "note": [{"text": f"From signed plan {program.get('plan_id')} (pump program step as given)"}]})
        given_steps.append((start, end, url))
    return given_steps


def _suspect(given: Sequence[tuple[datetime, datetime, str]], when: datetime | None) -> str | None:
    """The ketamine dose under way at ``when`` (or the last one before it): a side effect's suspect."""
    if when is None:
        return None
    under_way = [url for start, end, url in given if start <= when <= end]
    if under_way:
        return under_way[-1]
    before = [(start, url) for start, _, url in given if start <= when]
    return max(before)[1] if before else None


def _session(b: _Builder, session: Any, events: Sequence[Any]) -> None:
    inpatient = (session.pump_program or {}).get("setting") == "inpatient"
    period: dict[str, Any] = {"start": _iso(session.started_at or session.scheduled_at)}
    if session.discharged_at or session.ended_at:
        period["end"] = _iso(session.discharged_at or session.ended_at)
    klass = codes.INPATIENT if inpatient else codes.AMBULATORY
    where = b.location(getattr(session, "site_id", None))  # the site it happens at (issue 17)
    visit: dict[str, Any] = {
        "resourceType": "Encounter", "status": ENCOUNTER_STATUS[session.state], "class": klass.coding(),
        "type": [{"text": "Low-dose ketamine infusion visit"}], "subject": b.patient_ref, "period": period,
    }
    if where is not None:
        visit["serviceProvider"] = b.organization()
        visit["location"] = [{"location": where}]
    encounter = b.add("encounter", session.id, visit)
    if session.started_at is None:
        return
    done = session.state in ("observing", "discharged")
    procedure: dict[str, Any] = {
        "resourceType": "Procedure", "status": "completed" if done else "in-progress",
        "code": {"text": "Low-dose ketamine infusion for chronic pain (monitored)"},
        "subject": b.patient_ref, "encounter": {"reference": encounter},
        "performedPeriod": {k: v for k, v in (("start", _iso(session.started_at)), ("end", _iso(session.ended_at))) if v},
    }
    if where is not None:
        procedure["location"] = where
    b.add("procedure", session.id, procedure)
    given = _administrations(b, session, events, encounter)
    fixes = corrections_by_event(events)
    amendments: dict[int, list[Any]] = {}
    acknowledgements: dict[int, list[Any]] = {}
    for event in events:
        if event.kind == "amendment" and event.amends_event_id is not None:
            amendments.setdefault(event.amends_event_id, []).append(event)
        if event.kind == "alert_ack" and (event.payload or {}).get("alert_event_id") is not None:
            acknowledgements.setdefault(int(event.payload["alert_event_id"]), []).append(event)
    vitals_urls: dict[int, list[str]] = {}
    for event in events:
        payload = event.payload or {}
        fix = fixes.get(event.id, {})
        targets: list[str] = []
        status = "amended" if event.id in amendments else "final"
        if event.kind == "vitals":
            observed = {**payload.get("observation", {}), **fix}
            targets = b.vitals(f"event:{event.id}", observed, event.recorded_at, encounter, status=status)
            targets += _scores(b, event, observed, encounter, status)
            for effect in observed.get("side_effects") or []:
                targets.append(_adverse_event(b, f"event:{event.id}:{effect.get('code')}", effect, event, encounter,
                                              _suspect(given, event.recorded_at)))
            vitals_urls[event.id] = list(targets)  # what the alert rules judged: an alert's evidence
        elif event.kind == "side_effect":
            targets = [_adverse_event(b, f"event:{event.id}", {**payload, **fix}, event, encounter,
                                      _suspect(given, event.recorded_at), identifier=True)]
        elif event.kind == "alert":
            _detected_issue(b, event, vitals_urls.get(payload.get("vitals_event_id") or -1, []),
                            _suspect(given, event.recorded_at), acknowledgements.get(event.id, []))
        elif event.kind == "medication":
            payload = {**payload, **fix}
            drug = payload.get("drug", "medication")
            is_ketamine = drug.strip().lower().startswith("ketamine")
            adjunct = None if is_ketamine else adjunct_named(drug)  # the adjunct library's drugs carry RxNorm (issue 14)
            rxnorm = adjunct_code(adjunct.id) if adjunct is not None else None
            coded = ({"coding": [codes.KETAMINE_ATC.coding()], "text": drug} if is_ketamine
                     else {"coding": [rxnorm.coding()], "text": drug} if rxnorm is not None else {"text": drug})
            unit = payload.get("unit") or "mg"
            resource: dict[str, Any] = {
                "resourceType": "MedicationAdministration", "status": "completed", "subject": b.patient_ref,
                "context": {"reference": encounter}, "effectiveDateTime": _iso(event.recorded_at),
                "medicationReference": {"reference": f"#med-{event.id}"},
                "contained": [{"resourceType": "Medication", "id": f"med-{event.id}", "code": coded,
                               **({"batch": {"lotNumber": payload["lot_number"]}} if payload.get("lot_number") else {})}],
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
                         revises=(b.identifier("session-event", event.id),
                                  f"{event.kind} recorded at {_iso(event.recorded_at)}, kept unchanged in the record"))


def _scores(b: _Builder, event: Any, observed: Mapping[str, Any], encounter: str, status: str) -> list[str]:
    """MOAA/S, RASS and CADSS-6 recorded with one set of vitals, as survey Observations."""
    urls = []
    for key, text, _source in SCORES:
        value = observed.get(key)
        if value is None:
            continue
        components = note = None
        if key == "cadss6":
            items = dict(value)
            components = [{"code": {"text": f"CADSS item {name.removeprefix('cadss_')}: {reminder}"},
                           "valueInteger": int(items[name])} for name, reminder in CADSS6_ITEMS.items() if name in items]
            value = sum(int(items[name]) for name in CADSS6_ITEMS if name in items)
        elif key == "rass":
            level = int(value)
            note = f"RASS {level:+d}: {RASS_LEVELS.get(level, 'outside the scale')}" if level else "RASS 0: alert and calm"
        urls.append(b.score(f"event:{event.id}:{key}", text, event.recorded_at, int(value), encounter=encounter,
                            status=status, components=components, note=note))
    return urls


def _adverse_event(b: _Builder, key: str, effect: Mapping[str, Any], event: Any, encounter: str, suspect: str | None,
                   *, identifier: bool = False) -> str:
    """A side effect as an R4 AdverseEvent: an actual event in this encounter, with its severity
    and the ketamine dose under way as the suspect (a note, which AdverseEvent has no element for,
    goes in the narrative)."""
    name = str(effect.get("code") or "side effect").replace("_", " ")
    resource: dict[str, Any] = {
        "resourceType": "AdverseEvent", "actuality": "actual",
        "event": {"text": f"{name} (side effect during a ketamine infusion)"}, "subject": b.patient_ref,
        "encounter": {"reference": encounter}, "date": _iso(event.recorded_at), "recordedDate": _iso(event.recorded_at),
    }
    if identifier:
        resource["identifier"] = b.identifier("session-event", event.id)
    severity = SIDE_EFFECT_SEVERITY.get(str(effect.get("severity")))
    if severity is not None:
        resource["severity"] = severity.concept()
    recorder = b.practitioner(event.recorded_by)
    if recorder is not None:
        resource["recorder"] = recorder
    if suspect is not None:
        resource["suspectEntity"] = [{"instance": {"reference": suspect, "display": "ketamine"}}]
    if effect.get("note"):
        resource["text"] = _narrative(f"{name}: {effect['note']}")
    return b.add("adverse-event", key, resource)


def _detected_issue(b: _Builder, event: Any, evidence: Sequence[str], implicated: str | None,
                    acknowledgements: Sequence[Any]) -> str:
    """A monitoring alert as an R4 DetectedIssue: what fired and how urgent, the vitals behind it as
    evidence, the ketamine dose under way as the implicated activity, the rule's source, and each
    nurse's acknowledgement (the action taken) as a mitigation."""
    alert = event.payload or {}
    action = str(alert.get("action") or "").replace("_", " ")
    detail = str(alert.get("message") or alert.get("code") or "monitoring alert")
    if action:
        detail += f" Recommended action: {action}."
    resource: dict[str, Any] = {
        "resourceType": "DetectedIssue", "identifier": [b.identifier("session-event", event.id)], "status": "final",
        "code": {"text": f"Infusion monitoring alert: {str(alert.get('code') or 'alert').replace('_', ' ')}"},
        "severity": ALERT_SEVERITY.get(str(alert.get("severity")), "moderate"), "patient": b.patient_ref,
        "identifiedDateTime": _iso(event.recorded_at),
    }
    source = None
    try:
        source = get_source(str(alert.get("source"))) if alert.get("source") else None
    except UnknownSourceError:
        detail += f" Source: {alert.get('source')}."
    if source is not None:
        detail += f" Source: {source.citation()}"
        if source.doi:
            resource["reference"] = f"https://doi.org/{source.doi}"
        elif source.url:
            resource["reference"] = source.url
    resource["detail"] = detail
    if implicated is not None:
        resource["implicated"] = [{"reference": implicated, "display": "ketamine"}]
    if evidence:
        resource["evidence"] = [{"detail": [{"reference": url} for url in evidence]}]
    mitigations = []
    for ack in acknowledgements:
        mitigation: dict[str, Any] = {"action": {"text": f"Acknowledged: {(ack.payload or {}).get('action_taken')}"},
                                      "date": _iso(ack.recorded_at)}
        author = b.practitioner(ack.recorded_by)
        if author is not None and author.get("reference") != b.patient_ref["reference"]:  # staff only (R4)
            mitigation["author"] = author
        mitigations.append(mitigation)
    if mitigations:
        resource["mitigation"] = mitigations
    return b.add("detected-issue", f"event:{event.id}", resource)


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
        "resourceType": "QuestionnaireResponse", "identifier": b.identifier("diary-entry", entry.id),
        "questionnaire": f"{DIARY_QUESTIONNAIRE}|{DIARY_QUESTIONNAIRE_VERSION}",
        "status": "amended" if entry.amends_id else "completed", "subject": b.patient_ref,
        "authored": _iso(entry.recorded_at), "item": items})
    # the pain Observation names the entry it came from by reference and by the entry's identifier, so
    # the link survives a receiver that keeps Observations without their QuestionnaireResponse
    link = {"reference": url, "identifier": b.identifier("diary-entry", entry.id),
            "display": f"pain diary entry for {entry.recorded_at.date().isoformat()}"}
    pain = b.observation(f"diary:{entry.id}", codes.PAIN_NRS, entry.recorded_at, value_integer=entry.pain_nrs,
                         category=codes.SURVEY, status="amended" if entry.amends_id else "final", derived_from=link)
    if entry.amends_id:
        b.provenance(f"diary-amend:{entry.id}", [url, pain], entry.created_at, entry.created_by, activity=codes.UPDATE,
                     role=codes.AUTHOR, reason="Diary entry corrected",
                     revises=(b.identifier("diary-entry", entry.amends_id), "the diary entry this one corrects"))


def _referral_resources(b: _Builder, referral: Any) -> None:
    """What a referral brought, as received (weights went to the chart's weights and come from there),
    tagged as received and with a Provenance naming the referral, so no receiver takes it for the
    clinic's own finding."""
    targets = []
    for index, resource in enumerate(referral.resources or []):
        kept = copy.deepcopy(resource)
        kept["meta"] = {"tag": [codes.RECEIVED_WITH_REFERRAL.coding()]}
        targets.append(b.add("referral", f"{referral.id}:{index}", kept))
    sent = referral.bundle.get("identifier") or {}
    if isinstance(sent, Mapping) and sent.get("system") and sent.get("value"):  # the sender's own Bundle identifier
        source = ({"system": str(sent["system"]), "value": str(sent["value"])}, "the referral Bundle as received")
    else:
        named = f" (the sender's identifier {referral.bundle_identifier}, with no system)" if referral.bundle_identifier else ""
        source = (b.identifier("referral-import", referral.id), f"the referral Bundle as received{named}")
    b.provenance(f"referral:{referral.id}", targets, referral.received_at, referral.received_by,
                 activity=codes.CREATE, role=codes.AUTHOR, reason="Received with a referral from another system",
                 source=source)


def bundle(chart: Chart) -> dict[str, Any]:
    """The chart as a FHIR ``collection`` Bundle, validated by ``fhir.resources`` (R4B) and returned as JSON data."""
    b = _Builder(chart)
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
    for session in chart.sessions:
        _session(b, session, chart.events.get(session.id, ()))
    replaced = {e.amends_id for e in chart.diary if e.amends_id is not None}
    current_diary = [e for e in chart.diary if e.id not in replaced]
    if current_diary:
        _diary_questionnaire(b)
    for entry in current_diary:
        _diary_entry(b, entry)
    for referral in chart.referrals:
        _referral_resources(b, referral)
    add_questionnaires(b, chart.questionnaires)
    add_consents(b, chart.consents)
    _patient(b)
    generated_at = _iso(chart.generated_at)
    document = Bundle.model_validate({"resourceType": "Bundle", "type": "collection", "timestamp": generated_at,
                                      "identifier": {"system": ids.URI_SYSTEM,  # the value is itself a urn:uuid
                                                     "value": b.url("export", f"{chart.patient.id}@{generated_at}")},
                                      "entry": b.entries})
    return json.loads(document.model_dump_json())


