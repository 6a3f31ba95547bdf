"""Reading a referral: a FHIR R4 Bundle from another system → what the clinic takes from it.

Pure: no database. :func:`read_referral` finds the one Patient and sorts every entry into *taken*
(with what it became) or *ignored* (with why). The service (:mod:`ketaclinic.services.referrals`)
then creates the patient, their weights and a draft evaluation in one transaction, and keeps the
bundle and the report.

What a referral gives and where it goes:

- ``Patient`` → the new chart's demographics; its ``generalPractitioner`` (a Practitioner in the
  bundle) → the referring physician letters go to.
- ``Condition`` → kept as received; one coded in ICD-10-CM or SNOMED CT as a condition the clinic
  treats (:mod:`ketaclinic.clinical.conditions`, its own code or a more specific one it recognises)
  becomes a pain condition of the draft evaluation, its onset the pain duration. Codes that touch a
  screening question (:mod:`ketaclinic.interop.fhir_screening_codes`: heart disease, hypertension,
  psychosis, substance use, liver disease, pregnancy, ...) are *flagged* for the clinician, never
  answered for them: the screening history is left for the evaluation (clinic policy: a referral's
  problem list is a prompt, not a finding). The code decides first; the words of the condition's
  name are the fallback for a condition no listed code matches (any code system, text only).
- ``MedicationStatement`` and ``MedicationRequest`` (Synthea and US Core send current medicines as
  requests: status ``active``, intent ``order`` or ``plan``) → kept; current ones become the draft's
  current medications. The medicine is the ``medicationCodeableConcept`` or the ``Medication`` a
  ``medicationReference`` points at (in the bundle or contained).
- ``Observation`` → body weight (LOINC 29463-7, kg or lb) becomes a chart weight; others are kept
  as received (vitals and pain of another system are history, not today's measurements, so they
  never pre-fill the evaluation's vitals).
- ``AllergyIntolerance`` → kept and *flagged* (a ketamine allergy most of all); the draft's allergy
  list is left for the clinician to ask, so it cannot be signed with an empty list by default.
- anything else (Encounter, MedicationAdministration, CarePlan, ...) is ignored and listed.

A Condition the referrer marked refuted or entered-in-error is ignored.

R4 as senders write it: each resource the clinic reads is checked with tolerant models of just the
elements it uses (any other element, an R4-only one or an extension, is ignored), not with a full
schema of one FHIR version, so valid R4 is never refused for an element another version lacks. An
entry that cannot be read (a wrong type in an element the clinic uses, no resourceType) is ignored
with the reason; it never refuses the rest. What is *kept* to be sent on again must pass the export's
FHIR check (:mod:`ketaclinic.interop.fhir`, R4B models): a resource that does not is kept reduced to
the elements read, and said so. Refused whole, with a message saying what is wrong: a document that
is not a Bundle, a control character (it cannot be stored), no or several Patients, or a Patient
that cannot be read or lacks a name, birth date or sex.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel, ConfigDict, ValidationError

from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.interop import fhir_codes as codes
from ketaclinic.interop.fhir_codes import ICD10CM, LOINC, SNOMED
from ketaclinic.interop.fhir_screening_codes import QUESTIONS, icd10_question, snomed_question

KEPT_TYPES = ("Condition", "MedicationStatement", "MedicationRequest", "Observation", "AllergyIntolerance")
READ_TYPES = ("Patient", "Practitioner", *KEPT_TYPES, "Medication")
ICD10_WHO = "http://hl7.org/fhir/sid/icd-10"
NOT_A_FINDING = {"refuted", "entered-in-error"}  # Condition.verificationStatus the clinic does not take
WEIGHT_CODES = {"29463-7", "3141-9"}  # Body weight; Body weight Measured (LOINC)
KG_PER_UCUM = {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237}  # UCUM mass units a weight may come in
#: Unit words a sender may put in ``Quantity.unit`` with no UCUM code (read, converted and said so).
KG_PER_UNIT_TEXT = {"kg": 1.0, "kgs": 1.0, "kilogram": 1.0, "kilograms": 1.0, "g": 0.001, "gram": 0.001,
                    "grams": 0.001, "lb": 0.45359237, "lbs": 0.45359237, "pound": 0.45359237, "pounds": 0.45359237}
CURRENT_MEDICATION = {"active", "intended", "on-hold"}  # MedicationStatement.status still taken
# MedicationRequest: an active order or plan is a medicine the patient is on (R4 request-intent: original-,
# reflex-, filler- and instance-order are kinds of order); a proposal or option is not.
CURRENT_REQUEST_STATUS = {"active"}
CURRENT_REQUEST_INTENT = {"order", "plan", "original-order", "reflex-order", "filler-order", "instance-order"}
MAX_ENTRIES = 5000

# The words of a condition's name, for a condition no listed code matched (any code system, text only).
SCREENING_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hypertension", ("hypertension", "hypertensive", "high blood pressure")),
    ("coronary", ("angina", "infarction", "coronary")),
    ("cardiovascular", ("heart failure", "cardiac failure", "arrhythmia", "atrial fibrillation", "cardiomyopathy",
                        "cardiac arrest", "heart disease")),
    ("cerebrovascular", ("aneurysm", "arteriovenous malformation", "intracerebral", "subarachnoid")),
    ("intracranial_pressure", ("intracranial pressure", "intracranial hypertension", "hydrocephalus",
                               "brain tumour", "brain tumor")),
    ("intraocular_pressure", ("glaucoma", "intraocular")),
    ("psychosis", ("psychosis", "psychotic", "schizophreni", "schizoaffective")),
    ("mania", ("bipolar", "mania", "manic")),
    ("alcohol_use", ("alcohol",)),
    ("substance_use", ("substance", "opioid use disorder", "dependence", "addiction", "misuse", "drug abuse")),
    ("hepatic_impairment", ("cirrhosis", "hepatitis", "liver", "hepatic")),
    ("thyroid", ("hyperthyroid", "thyrotoxicosis")),
    ("seizures", ("epilep", "seizure")),
    ("pregnancy", ("pregnan",)),
)
KETAMINE_WORDS = ("ketamine", "ketalar", "spravato")  # as the screening's allergy check (clinical.screening)


# --- tolerant models of the elements the clinic reads (any other element is ignored) -------------------

class _Element(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Coding(_Element):
    system: str | None = None
    code: str | None = None
    display: str | None = None


class _Concept(_Element):
    coding: list[_Coding] = []
    text: str | None = None


class _Reference(_Element):
    reference: str | None = None
    display: str | None = None


class _Period(_Element):
    start: str | None = None
    end: str | None = None


class _Quantity(_Element):
    value: float | None = None
    unit: str | None = None
    code: str | None = None
    system: str | None = None


class _Name(_Element):
    use: str | None = None
    text: str | None = None
    family: str | None = None
    given: list[str] = []
    prefix: list[str] = []
    period: _Period | None = None


class _Contact(_Element):
    system: str | None = None
    value: str | None = None
    use: str | None = None
    rank: int | None = None
    period: _Period | None = None


class _Address(_Element):
    text: str | None = None


class _Patient(_Element):
    id: str | None = None
    name: list[_Name] = []
    birthDate: str | None = None  # noqa: N815 (FHIR element names)
    gender: str | None = None
    telecom: list[_Contact] = []
    generalPractitioner: list[_Reference] = []  # noqa: N815
    deceasedBoolean: bool | None = None  # noqa: N815
    deceasedDateTime: str | None = None  # noqa: N815


class _Practitioner(_Element):
    id: str | None = None
    name: list[_Name] = []
    address: list[_Address] = []
    telecom: list[_Contact] = []


class _Condition(_Element):
    subject: _Reference | None = None
    code: _Concept | None = None
    clinicalStatus: _Concept | None = None  # noqa: N815
    verificationStatus: _Concept | None = None  # noqa: N815
    onsetDateTime: str | None = None  # noqa: N815
    onsetPeriod: _Period | None = None  # noqa: N815
    onsetAge: _Quantity | None = None  # noqa: N815


class _MedicationUse(_Element):
    """MedicationStatement and MedicationRequest: the elements both carry that the clinic reads."""

    subject: _Reference | None = None
    status: str | None = None
    intent: str | None = None
    medicationCodeableConcept: _Concept | None = None  # noqa: N815
    medicationReference: _Reference | None = None  # noqa: N815
    contained: list[dict[str, Any]] = []


class _Medication(_Element):
    id: str | None = None
    code: _Concept | None = None


class _Observation(_Element):
    subject: _Reference | None = None
    code: _Concept | None = None
    effectiveDateTime: str | None = None  # noqa: N815
    effectivePeriod: _Period | None = None  # noqa: N815
    valueQuantity: _Quantity | None = None  # noqa: N815


class _Reaction(_Element):
    manifestation: list[_Concept] = []


class _Allergy(_Element):
    patient: _Reference | None = None
    code: _Concept | None = None
    verificationStatus: _Concept | None = None  # noqa: N815
    reaction: list[_Reaction] = []


MODELS: dict[str, type[_Element]] = {
    "Patient": _Patient, "Practitioner": _Practitioner, "Condition": _Condition, "MedicationStatement": _MedicationUse,
    "MedicationRequest": _MedicationUse, "Medication": _Medication, "Observation": _Observation,
    "AllergyIntolerance": _Allergy,
}


def _unreadable(kind: str, resource: dict[str, Any]) -> str | None:
    """Why a resource of a type the clinic reads cannot be read (a wrong type in an element it uses), or None."""
    try:
        MODELS[kind].model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{kind}.{where}: {first['msg']}"
    return None


def _export_problem(kind: str, resource: dict[str, Any]) -> str | None:
    """Why the export's FHIR check (``fhir.resources`` R4B, as :mod:`ketaclinic.interop.fhir` validates the
    chart's bundle) would refuse this resource, or None."""
    try:
        get_fhir_model_class(kind).model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        return ".".join(str(p) for p in first["loc"]) + ": " + first["msg"]
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        return str(exc)
    return None


class ReferralError(ValueError):
    """The bundle cannot be imported at all (nothing is stored)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass
class Referral:
    """What the clinic takes from a referral bundle, before anything is stored."""

    demographics: dict[str, Any]
    weights: list[tuple[float, datetime]] = field(default_factory=list)  # (kg, measured at)
    pain_conditions: list[str] = field(default_factory=list)  # our condition ids
    duration_weeks: float | None = None
    medications: list[str] = field(default_factory=list)  # current, by name
    flags: list[str] = field(default_factory=list)  # for the clinician to check
    kept: list[dict[str, Any]] = field(default_factory=list)  # FHIR resources kept as received
    taken: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[dict[str, Any]] = field(default_factory=list)
    identifier: str | None = None

    def report(self) -> dict[str, Any]:
        return {"identifier": self.identifier, "taken": self.taken, "ignored": self.ignored, "flags": self.flags,
                "pain_conditions": self.pain_conditions, "medications": self.medications,
                "weights": len(self.weights), "kept_resources": len(self.kept)}


def _codings(concept: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list((concept or {}).get("coding") or [])


def _concept_text(concept: dict[str, Any] | None) -> str | None:
    concept = concept or {}
    if concept.get("text"):
        return str(concept["text"])
    for coding in _codings(concept):
        if coding.get("display"):
            return str(coding["display"])
    return None


def _our_condition(concept: dict[str, Any] | None) -> str | None:
    """The clinic's condition id a coded Condition names (ICD-10-CM or SNOMED CT): its own code, or a more
    specific one it recognises (CRPS I of the left arm, Hb-SS disease), if any."""
    wanted = {(c.get("system"), str(c.get("code"))) for c in _codings(concept)}
    icd_codes = [code.upper() for system, code in wanted if system == ICD10CM]
    for condition in CONDITIONS.values():
        ours = {(ICD10CM, c.code) for c in condition.icd10cm} | {(SNOMED, c.code) for c in condition.snomed}
        for also in condition.recognised:
            if not also.prefix:
                ours.add((ICD10CM if also.system == "ICD-10-CM" else SNOMED, also.code))
        prefixes = tuple(also.code for also in condition.recognised if also.prefix)
        if wanted & ours or (prefixes and any(code.startswith(prefixes) for code in icd_codes)):
            return condition.id.value
    return None


def _screening_flags(concept: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """(screening question, code or 'by its name', what) for each hit: the checked codes first
    (:mod:`ketaclinic.interop.fhir_screening_codes`), the name's words only when no code matched."""
    hits: list[tuple[str, str, str]] = []
    for coding in _codings(concept):
        system, code = coding.get("system"), str(coding.get("code") or "")
        row = (icd10_question(code) if system in (ICD10CM, ICD10_WHO)
               else snomed_question(code) if system == SNOMED else None)
        if row is not None and all(hit[0] != row.question for hit in hits):
            hits.append((row.question, code.upper() if system != SNOMED else code, row.what))
    if hits:
        return hits
    words = " ".join(filter(None, [(concept or {}).get("text"), *(c.get("display") for c in _codings(concept))])).lower()
    return [(question, "by its name", QUESTIONS[question].split(" (")[0])
            for question, stems in SCREENING_WORDS if any(stem in words for stem in stems)]


def _status(concept: dict[str, Any] | None) -> str | None:
    return ((concept or {}).get("coding") or [{}])[0].get("code")


def _parse_when(text: str | None, *, latest: bool = False) -> datetime | None:
    """A FHIR date or dateTime. A year or year-month is read as its first day, or its last with
    ``latest`` (so a duration worked out from it is never longer than the truth)."""
    if not text or not isinstance(text, str):
        return None
    try:
        if len(text) == 4:
            day = date(int(text), 12, 31) if latest else date(int(text), 1, 1)
        elif len(text) == 7:
            year, month = int(text[:4]), int(text[5:7])
            day = (date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)) if latest else date(year, month, 1)
        elif len(text) == 10:
            day = date.fromisoformat(text)
        else:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return when if when.tzinfo else when.replace(tzinfo=UTC)
        return datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    except ValueError:
        return None


def _onset(resource: dict[str, Any], birth: date | None) -> datetime | None:
    """When the condition began, from onsetDateTime, onsetPeriod.start or onsetAge (years) and the birth date."""
    onset = _parse_when(resource.get("onsetDateTime"), latest=True)
    if onset is None:
        onset = _parse_when((resource.get("onsetPeriod") or {}).get("start"), latest=True)
    age = resource.get("onsetAge") or {}
    if onset is None and birth is not None and age.get("value") is not None and age.get("code") in ("a", None):
        years = float(age["value"])
        onset = datetime.combine(birth, datetime.min.time(), tzinfo=UTC) + timedelta(days=365.25 * years)
    return onset


def _references_patient(resource: dict[str, Any], patient_refs: set[str]) -> bool:
    subject = (resource.get("subject") or resource.get("patient") or {}).get("reference")
    return subject in patient_refs


def _demographics(patient: dict[str, Any], practitioners: dict[str, tuple[int, dict[str, Any]]]
                  ) -> tuple[dict[str, Any], int | None]:
    names = [n for n in patient.get("name") or [] if n.get("use") != "old" and not (n.get("period") or {}).get("end")]
    names = names or list(patient.get("name") or [])
    name = next((n for n in names if n.get("use") in (None, "official", "usual")), names[0] if names else {})
    family = name.get("family")
    given = " ".join(name.get("given") or [])
    if not family or not given:
        raise ReferralError("the Patient needs a name with a family name and a given name", "Patient.name")
    if not patient.get("birthDate"):
        raise ReferralError("the Patient needs a birthDate (YYYY-MM-DD)", "Patient.birthDate")
    if len(str(patient["birthDate"])) != 10:
        raise ReferralError("the Patient's birthDate must be a full date (YYYY-MM-DD), not only a year or month",
                            "Patient.birthDate")
    sex = patient.get("gender")
    if sex not in ("female", "male", "other", "unknown"):
        raise ReferralError("the Patient needs a gender: female, male, other or unknown", "Patient.gender")
    telecom = sorted((t for t in patient.get("telecom") or []
                      if t.get("use") != "old" and not (t.get("period") or {}).get("end")),
                     key=lambda t: t.get("rank") or 10**6)
    out: dict[str, Any] = {
        "given_name": given, "family_name": family, "birth_date": str(patient["birthDate"]), "sex": sex,
        "phone": next((t.get("value") for t in telecom if t.get("system") == "phone"), None),
        "email": next((t.get("value") for t in telecom if t.get("system") == "email"), None),
    }
    referrer_index = None
    for gp in patient.get("generalPractitioner") or []:
        referrer_index, practitioner = practitioners.get(gp.get("reference") or "", (None, None))
        if practitioner is None and not gp.get("display"):
            continue
        pname = (practitioner or {}).get("name") or [{}]
        text = pname[0].get("text") or " ".join([*(pname[0].get("prefix") or []), *(pname[0].get("given") or []),
                                                 pname[0].get("family") or ""]).strip()
        out["referring_physician"] = (text or gp.get("display") or "")[:200] or None
        contact = [a.get("text") for a in (practitioner or {}).get("address") or [] if a.get("text")]
        contact += [t.get("value") for t in (practitioner or {}).get("telecom") or [] if t.get("value")]
        out["referring_physician_contact"] = "; ".join(contact)[:500] or None
        break
    return out, referrer_index


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def read_referral(document: Any, *, today: date) -> Referral:
    """Check and sort a referral bundle. Raises :class:`ReferralError` when nothing can be taken."""
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        raise ReferralError("send a FHIR R4 Bundle: a JSON object with \"resourceType\": \"Bundle\"", "resourceType")
    _refuse_control_characters(document)
    entries = document.get("entry") or []
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise ReferralError(f"the Bundle's entry must be a list of at most {MAX_ENTRIES} resources", "entry")
    resources: list[tuple[str | None, dict[str, Any]]] = []
    unreadable: dict[int, str] = {}
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not _text(resource.get("resourceType")):
            unreadable[index] = "the entry holds no FHIR resource (an object with a resourceType)"
            resource = {}
        elif resource["resourceType"] in MODELS:
            problem = _unreadable(resource["resourceType"], resource)
            if problem is not None:
                unreadable[index] = f"it cannot be read as FHIR R4 ({problem})"
        resources.append((_text(entry.get("fullUrl")) if isinstance(entry, dict) else None, resource))
    patients = [(index, url, r) for index, (url, r) in enumerate(resources) if r.get("resourceType") == "Patient"]
    if len(patients) != 1:
        raise ReferralError(f"a referral carries exactly one Patient; this Bundle has {len(patients)}", "entry")
    patient_index, patient_url, patient = patients[0]
    if patient_index in unreadable:
        problem = _unreadable("Patient", patient) or ""
        raise ReferralError(f"not a valid FHIR R4 Bundle: the Patient cannot be read: {problem}",
                            problem.split(":")[0]) from None
    patient_refs = {ref for ref in (patient_url, _text(patient.get("id")) and f"Patient/{patient['id']}") if ref}
    practitioners: dict[str, tuple[int, dict[str, Any]]] = {}
    for index, (url, r) in enumerate(resources):
        if r.get("resourceType") == "Practitioner" and index not in unreadable:
            for ref in (url, _text(r.get("id")) and f"Practitioner/{r['id']}"):
                if ref:
                    practitioners[ref] = (index, r)
    demographics, referrer_index = _demographics(patient, practitioners)
    identifier = document.get("identifier")
    referral = Referral(demographics=demographics,
                        identifier=_text(identifier.get("value")) if isinstance(identifier, dict) else None)
    referral.taken.append({"resource": "Patient", "what": "the new chart's demographics"})
    if patient.get("deceasedBoolean") or patient.get("deceasedDateTime"):
        referral.flags.append("The referral says this patient has died (Patient.deceased): check before any contact.")
    birth = date.fromisoformat(referral.demographics["birth_date"])
    if referral.demographics.get("referring_physician"):
        referral.taken.append({"resource": "Practitioner", "what": "the referring physician"})
    durations: list[float] = []
    medicines: set[int] = set()  # the Medication entries a statement or request named
    for index, (_url, resource) in enumerate(resources):
        kind = resource.get("resourceType") or None
        label = {"resource": kind, "entry": index}
        if index == patient_index or index == referrer_index:
            continue
        if index in unreadable:
            referral.ignored.append({**label, "reason": unreadable[index]})
            continue
        if kind == "Consent":  # issue 13: consent is given to a clinic for its own document
            referral.ignored.append({**label, "reason": "a consent signed for another clinic does not carry over: the "
                                                        "patient signs this clinic's consent document"})
            continue
        if kind not in KEPT_TYPES:
            if kind != "Medication":
                referral.ignored.append({**label, "reason": f"{kind} is not read from a referral (only Patient, "
                                                            "Condition, AllergyIntolerance, MedicationStatement, "
                                                            "MedicationRequest with their Medication, Observation "
                                                            "and the Patient's general practitioner are)"})
            continue
        if not _references_patient(resource, patient_refs):
            referral.ignored.append({**label, "reason": "it is not about the bundle's Patient"})
            continue
        if kind == "Condition":
            _condition(referral, resource, label, today, durations, birth)
        elif kind == "AllergyIntolerance":
            _allergy(referral, resource, label)
        elif kind in ("MedicationStatement", "MedicationRequest"):
            _medication(referral, resource, label, resources, unreadable, medicines)
        else:
            _observation(referral, resource, label)
    for index, (_url, resource) in enumerate(resources):
        if resource.get("resourceType") == "Medication" and index not in unreadable:
            if index in medicines:
                referral.taken.append({"resource": "Medication", "entry": index,
                                       "what": "the medicine a MedicationStatement or MedicationRequest names"})
            else:
                referral.ignored.append({"resource": "Medication", "entry": index,
                                         "reason": "no MedicationStatement or MedicationRequest of the Patient names it"})
    if durations:
        referral.duration_weeks = round(max(durations), 1)
    return referral


def _keep(referral: Referral, resource: dict[str, Any]) -> str:
    """Keep a resource as received, without what points into the other system: references to its
    encounters, devices or staff become display text (who asserted it stays readable).

    What is kept is sent on in the chart's FHIR export, which checks it (R4B models): a resource that
    check refuses is kept reduced to the elements the clinic read, or not kept. Returns the note for
    the report ('' when kept whole)."""
    kind = resource["resourceType"]
    kept = _without_foreign_references(resource)
    problem = _export_problem(kind, kept)
    if problem is None:
        referral.kept.append(kept)
        return ""
    read = MODELS[kind].model_validate(resource).model_dump(exclude_none=True, exclude_defaults=True)
    reduced = _without_foreign_references({"resourceType": kind, **read})
    if _export_problem(kind, reduced) is None:
        referral.kept.append(reduced)
        return f"; kept reduced to the elements read (sent on whole it would fail the FHIR check: {problem})"
    return f"; read, but not stored as received: it fails the FHIR check the chart's export applies ({problem})"


def _without_foreign_references(resource: dict[str, Any]) -> dict[str, Any]:
    kept = copy.deepcopy(resource)
    for key in ("id", "meta", "text", "encounter", "context", "partOf", "basedOn", "derivedFrom", "hasMember",
                "evidence", "reasonReference"):
        kept.pop(key, None)
    subject_key = "patient" if "patient" in kept else "subject"
    subject = kept.pop(subject_key, None)
    kept = _displayed(kept)
    if subject is not None:
        kept[subject_key] = subject  # re-pointed at the new chart by the service
    return kept


def _displayed(node: Any) -> Any:
    """Every Reference (but a contained ``#id``) as display text only: it would not resolve here."""
    if isinstance(node, dict):
        reference = node.get("reference")
        if isinstance(reference, str) and not reference.startswith("#"):
            label = node.get("display") or reference
            return {"display": str(label)[:500]}
        return {key: _displayed(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_displayed(value) for value in node]
    return node


def _condition(referral: Referral, resource: dict[str, Any], label: dict[str, Any], today: date,
               durations: list[float], birth: date | None) -> None:
    verification = _status(resource.get("verificationStatus"))
    text = _concept_text(resource.get("code")) or "condition"
    if verification in NOT_A_FINDING:
        referral.ignored.append({**label, "reason": f"{text}: the referrer marked it {verification}"})
        return
    note = _keep(referral, resource)
    status = _status(resource.get("clinicalStatus"))
    ours = _our_condition(resource.get("code"))
    what = f"condition kept: {text}"
    if ours and status in (None, "active", "recurrence", "relapse"):
        if ours not in referral.pain_conditions:
            referral.pain_conditions.append(ours)
        what += f" (the draft evaluation's pain condition '{ours}')"
        onset = _onset(resource, birth)
        if onset is not None:
            durations.append(max(0.0, (today - onset.date()).days / 7.0))
        else:
            what += "; no onset the clinic can read, so the pain duration is left to ask"
    stated = status or "status not stated"
    for question, code, name in _screening_flags(resource.get("code")):
        referral.flags.append(f"The referral lists {text} ({code}, {name}, {stated}): "
                              f"check the screening question '{question}' with the patient.")
    referral.taken.append({**label, "what": what + note})


def _allergy(referral: Referral, resource: dict[str, Any], label: dict[str, Any]) -> None:
    """Kept and flagged; never written into the draft (the clinician asks and records allergies)."""
    verification = _status(resource.get("verificationStatus"))
    text = _concept_text(resource.get("code")) or "an allergy"
    if verification in NOT_A_FINDING:
        referral.ignored.append({**label, "reason": f"{text}: the referrer marked it {verification}"})
        return
    note = _keep(referral, resource)
    reactions = ", ".join(filter(None, (_concept_text(m) for r in resource.get("reaction") or []
                                        for m in r.get("manifestation") or [])))
    words = " ".join([text, reactions]).lower()
    described = text + (f" ({reactions})" if reactions else "")
    if any(w in words for w in KETAMINE_WORDS):
        referral.flags.insert(0, f"KETAMINE ALLERGY in the referral: {described}. Ketamine is contraindicated "
                                 "until a physician has assessed it; record it in the evaluation's allergies.")
    else:
        referral.flags.append(f"The referral lists an allergy: {described}: record it in the evaluation's allergies.")
    referral.taken.append({**label, "what": f"allergy kept and flagged: {described}" + note})


def _refuse_control_characters(node: Any, where: str = "Bundle") -> None:
    """NUL and other control characters cannot be stored (PostgreSQL JSON refuses NUL): refuse the bundle."""
    if isinstance(node, str):
        if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in node):
            raise ReferralError(f"{where} holds a control character (such as NUL): send plain text", where)
    elif isinstance(node, dict):
        for key, value in node.items():
            _refuse_control_characters(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _refuse_control_characters(value, f"{where}[{index}]")


def _medication(referral: Referral, resource: dict[str, Any], label: dict[str, Any],
                resources: list[tuple[str | None, dict[str, Any]]], unreadable: dict[int, str],
                medicines: set[int]) -> None:
    """A MedicationStatement or MedicationRequest: kept, and its medicine listed when it is current (a
    statement active, intended or on hold; a request active with intent order or plan)."""
    kind = resource["resourceType"]
    name = _concept_text(resource.get("medicationCodeableConcept"))
    reference = (resource.get("medicationReference") or {}).get("reference")
    if name is None and reference:
        contained = {f"#{c.get('id')}": c for c in resource.get("contained") or [] if isinstance(c, dict)}
        target = contained.get(reference)
        if target is None:
            for index, (url, other) in enumerate(resources):
                if (other.get("resourceType") == "Medication" and index not in unreadable
                        and (url == reference or f"Medication/{other.get('id')}" == reference)):
                    target = other
                    medicines.add(index)
                    break
        code = (target or {}).get("code")
        name = _concept_text(code) if isinstance(code, dict) else None
    if not name:
        referral.ignored.append({**label, "reason": f"the {kind} names no medicine (a code with text or display, or "
                                                    "a Medication in the bundle)"})
        return
    kept = copy.deepcopy(resource)
    if reference:
        kept.pop("medicationReference", None)
        kept.pop("contained", None)
        kept["medicationCodeableConcept"] = {"text": name}
    note = _keep(referral, kept)
    if kind == "MedicationRequest":
        current = resource.get("status") in CURRENT_REQUEST_STATUS and resource.get("intent") in CURRENT_REQUEST_INTENT
    else:
        current = resource.get("status") in CURRENT_MEDICATION
    if current and name[:200] not in referral.medications:
        referral.medications.append(name[:200])
    referral.taken.append({**label, "what": f"medication kept: {name}" + (" (current)" if current else "") + note})


def _observation(referral: Referral, resource: dict[str, Any], label: dict[str, Any]) -> None:
    loinc = {str(c.get("code")) for c in _codings(resource.get("code")) if c.get("system") == LOINC}
    when = _parse_when(resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start"))
    if loinc & WEIGHT_CODES:
        quantity = resource.get("valueQuantity") or {}
        factor = KG_PER_UCUM.get(str(quantity.get("code")))
        value = quantity.get("value")
        unit_text = str(quantity.get("unit") or "").strip().lower().rstrip(".")
        converted = ""
        if factor is None and not quantity.get("code") and unit_text in KG_PER_UNIT_TEXT:
            factor = KG_PER_UNIT_TEXT[unit_text]  # no UCUM code: the unit's words, read and said so
            if factor != 1.0 and isinstance(value, int | float):
                converted = f" (converted from {value:g} {quantity.get('unit')}: the sender gave no UCUM code)"
        if factor is None or not isinstance(value, int | float) or isinstance(value, bool) or when is None:
            referral.ignored.append({**label, "reason": "a body weight needs a value in kg, g or [lb_av] and a date"})
            return
        kg = round(float(value) * factor, 2)
        if not 2 <= kg <= 400:
            referral.ignored.append({**label, "reason": f"a body weight of {kg:g} kg is outside 2-400 kg"})
            return
        referral.weights.append((kg, when))
        referral.taken.append({**label, "what": f"body weight {kg:g} kg on {when.date().isoformat()}{converted}"})
        return
    if when is None:
        referral.ignored.append({**label, "reason": "an Observation without effectiveDateTime cannot be dated"})
        return
    note = _keep(referral, resource)
    text = _concept_text(resource.get("code")) or "observation"
    referral.taken.append({**label, "what": f"observation kept: {text} on {when.date().isoformat()}" + note})


__all__ = ["Referral", "ReferralError", "read_referral", "codes"]
