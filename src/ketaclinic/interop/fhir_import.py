"""Reading a referral: a FHIR R4 Bundle from another system → what the clinic takes from it.

Pure: no database. :func:`read_referral` checks the bundle (``fhir.resources`` R4B models), finds
the one Patient, and sorts every entry into *taken* (with what it became) or *ignored* (with why).
The service (:mod:`ketaclinic.services.referrals`) then creates the patient, their weights and a
draft evaluation in one transaction, and keeps the bundle and the report.

What a referral gives and where it goes:

- ``Patient`` → the new chart's demographics; its ``generalPractitioner`` (a Practitioner in the
  bundle) → the referring physician letters go to.
- ``Condition`` → kept as received; one coded in ICD-10-CM or SNOMED CT as a condition the clinic
  treats (:mod:`ketaclinic.clinical.conditions`) becomes a pain condition of the draft evaluation,
  its onset the pain duration. Codes in the ranges the screening asks about (hypertension, heart
  disease, psychosis, substance use, liver disease, pregnancy, raised intracranial or intraocular
  pressure) are *flagged* for the clinician, never answered for them: the screening history is
  left for the evaluation (clinic policy: a referral's problem list is a prompt, not a finding).
- ``MedicationStatement`` → kept; active ones become the draft's current medications.
- ``Observation`` → body weight (LOINC 29463-7, kg or lb) becomes a chart weight; others are kept
  as received (vitals and pain of another system are history, not today's measurements, so they
  never pre-fill the evaluation's vitals).
- ``AllergyIntolerance`` → kept and *flagged* (a ketamine allergy most of all); the draft's allergy
  list is left for the clinician to ask, so it cannot be signed with an empty list by default.
- anything else (Encounter, MedicationAdministration, CarePlan, ...) is ignored and listed.

A Condition the referrer marked refuted or entered-in-error is ignored. Screening flags come from
ICD-10-CM and WHO ICD-10 code ranges and from the words of the condition's name (any code
system: a flag is a prompt, so it errs towards asking).

Nothing is half-imported: a bundle that is not valid FHIR, has no or several patients, or a patient
without name, birth date or sex is refused whole with a message saying what is wrong.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.interop import fhir_codes as codes
from ketaclinic.interop.fhir_codes import ICD10CM, LOINC, SNOMED

KEPT_TYPES = ("Condition", "MedicationStatement", "Observation", "AllergyIntolerance")
ICD10_WHO = "http://hl7.org/fhir/sid/icd-10"
NOT_A_FINDING = {"refuted", "entered-in-error"}  # Condition.verificationStatus the clinic does not take
WEIGHT_CODES = {"29463-7", "3141-9"}  # Body weight; Body weight Measured (LOINC)
KG_PER_UCUM = {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237}  # UCUM mass units a weight may come in
CURRENT_MEDICATION = {"active", "intended", "on-hold"}
MAX_ENTRIES = 5000

# ICD-10-CM code ranges of the screening's history questions: a hit is flagged for the clinician.
# Ranges from the ICD-10-CM tabular list (FY2026, source ``icd10cm``); the mapping is clinic policy.
SCREENING_FLAGS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("hypertension", ("I10", "I11", "I12", "I13", "I15", "I16"), "hypertensive disease"),
    ("cardiovascular", ("I20", "I21", "I22", "I24", "I25", "I47", "I48", "I49", "I50"), "heart disease"),
    ("intracranial_pressure", ("G93.2", "G93.6", "G91"), "raised intracranial pressure or hydrocephalus"),
    ("intraocular_pressure", ("H40",), "glaucoma or raised intraocular pressure"),
    ("psychosis", ("F20", "F21", "F22", "F23", "F24", "F25", "F28", "F29", "F30", "F31"), "psychotic or bipolar disorder"),
    ("substance_use", ("F10", "F11", "F12", "F13", "F14", "F15", "F16", "F18", "F19"), "substance use disorder"),
    ("hepatic_impairment", ("K70", "K71", "K72", "K73", "K74", "K75", "K76", "K77"), "liver disease"),
    ("pregnancy", ("Z33", "Z34", "O"), "pregnancy"),
)
# The same questions by the words of a condition's name, for any code system (SNOMED CT, local codes, text only).
SCREENING_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hypertension", ("hypertension", "hypertensive")),
    ("cardiovascular", ("angina", "infarction", "heart failure", "cardiac failure", "coronary", "arrhythmia",
                        "atrial fibrillation", "cardiomyopathy")),
    ("intracranial_pressure", ("intracranial", "hydrocephalus", "brain tumour", "brain tumor")),
    ("intraocular_pressure", ("glaucoma", "intraocular")),
    ("psychosis", ("psychosis", "psychotic", "schizophreni", "schizoaffective", "bipolar", "mania")),
    ("substance_use", ("substance", "alcohol", "opioid use disorder", "dependence", "addiction", "misuse")),
    ("hepatic_impairment", ("cirrhosis", "hepatitis", "liver", "hepatic")),
    ("pregnancy", ("pregnan",)),
)
KETAMINE_WORDS = ("ketamine", "ketalar", "spravato")  # as the screening's allergy check (clinical.screening)


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
    """The clinic's condition id a coded Condition names (ICD-10-CM or SNOMED CT), if any."""
    wanted = {(c.get("system"), str(c.get("code"))) for c in _codings(concept)}
    for condition in CONDITIONS.values():
        ours = {(ICD10CM, c.code) for c in condition.icd10cm} | {(SNOMED, c.code) for c in condition.snomed}
        if wanted & ours:
            return condition.id.value if hasattr(condition.id, "value") else str(condition.id)
    return None


def _screening_flags(concept: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """(screening question, code or words, what) for each hit: ICD-10(-CM) ranges, then the name's words."""
    hits = []
    for coding in _codings(concept):
        if coding.get("system") not in (ICD10CM, ICD10_WHO):
            continue
        code = str(coding.get("code", "")).upper()
        for question, prefixes, what in SCREENING_FLAGS:
            if any(code.startswith(p) for p in prefixes):
                hits.append((question, code, what))
    asked = {question for question, _, _ in hits}
    words = " ".join(filter(None, [(concept or {}).get("text"), *(c.get("display") for c in _codings(concept))])).lower()
    for question, stems in SCREENING_WORDS:
        if question not in asked and any(stem in words for stem in stems):
            hits.append((question, "by its name", question.replace("_", " ")))
    return hits


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


def _demographics(patient: dict[str, Any], practitioners: dict[str, dict[str, Any]]) -> dict[str, Any]:
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
    for gp in patient.get("generalPractitioner") or []:
        practitioner = practitioners.get(gp.get("reference", ""))
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
    return out


def read_referral(document: Any, *, today: date) -> Referral:
    """Check and sort a referral bundle. Raises :class:`ReferralError` when nothing can be taken."""
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        raise ReferralError("send a FHIR R4 Bundle: a JSON object with \"resourceType\": \"Bundle\"", "resourceType")
    _refuse_control_characters(document)
    entries = document.get("entry") or []
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise ReferralError(f"the Bundle's entry must be a list of at most {MAX_ENTRIES} resources", "entry")
    try:
        Bundle.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ReferralError(f"not a valid FHIR R4 Bundle: {where}: {first['msg']}", where) from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # fhir.resources on an unknown resourceType
        raise ReferralError(f"not a valid FHIR R4 Bundle: an entry holds something that is not an R4 resource ({exc})",
                            "entry") from None
    resources = [(e.get("fullUrl"), e.get("resource") or {}) for e in entries]
    patients = [(url, r) for url, r in resources if r.get("resourceType") == "Patient"]
    if len(patients) != 1:
        raise ReferralError(f"a referral carries exactly one Patient; this Bundle has {len(patients)}", "entry")
    patient_url, patient = patients[0]
    patient_refs = {ref for ref in (patient_url, patient.get("id") and f"Patient/{patient['id']}") if ref}
    practitioners = {}
    for url, r in resources:
        if r.get("resourceType") == "Practitioner":
            for ref in (url, r.get("id") and f"Practitioner/{r['id']}"):
                if ref:
                    practitioners[ref] = r
    referral = Referral(demographics=_demographics(patient, practitioners),
                        identifier=(document.get("identifier") or {}).get("value"))
    referral.taken.append({"resource": "Patient", "what": "the new chart's demographics"})
    if patient.get("deceasedBoolean") or patient.get("deceasedDateTime"):
        referral.flags.append("The referral says this patient has died (Patient.deceased): check before any contact.")
    birth = date.fromisoformat(referral.demographics["birth_date"])
    if referral.demographics.get("referring_physician"):
        referral.taken.append({"resource": "Practitioner", "what": "the referring physician"})
    durations: list[float] = []
    for index, (_url, resource) in enumerate(resources):
        kind = resource.get("resourceType")
        label = {"resource": kind, "entry": index}
        if kind in ("Patient",) or (kind == "Practitioner" and referral.demographics.get("referring_physician")):
            continue
        if kind not in KEPT_TYPES:
            referral.ignored.append({**label, "reason": f"{kind} is not read from a referral (only Patient, "
                                                        "Condition, AllergyIntolerance, MedicationStatement and "
                                                        "Observation are)"})
            continue
        if not _references_patient(resource, patient_refs):
            referral.ignored.append({**label, "reason": "it is not about the bundle's Patient"})
            continue
        if kind == "Condition":
            _condition(referral, resource, label, today, durations, birth)
        elif kind == "AllergyIntolerance":
            _allergy(referral, resource, label)
        elif kind == "MedicationStatement":
            _medication(referral, resource, label, resources)
        else:
            _observation(referral, resource, label)
    if durations:
        referral.duration_weeks = round(max(durations), 1)
    return referral


def _keep(referral: Referral, resource: dict[str, Any]) -> None:
    """Keep a resource as received, without what points into the other system: references to its
    encounters, devices or staff become display text (who asserted it stays readable)."""
    kept = copy.deepcopy(resource)
    for key in ("id", "meta", "text", "encounter", "context", "partOf", "basedOn", "derivedFrom", "hasMember",
                "evidence", "reasonReference"):
        kept.pop(key, None)
    subject_key = "patient" if "patient" in kept else "subject"
    subject = kept.pop(subject_key, None)
    kept = _displayed(kept)
    if subject is not None:
        kept[subject_key] = subject  # re-pointed at the new chart by the service
    referral.kept.append(kept)


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
    _keep(referral, resource)
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
    referral.taken.append({**label, "what": what})


def _allergy(referral: Referral, resource: dict[str, Any], label: dict[str, Any]) -> None:
    """Kept and flagged; never written into the draft (the clinician asks and records allergies)."""
    verification = _status(resource.get("verificationStatus"))
    text = _concept_text(resource.get("code")) or "an allergy"
    if verification in NOT_A_FINDING:
        referral.ignored.append({**label, "reason": f"{text}: the referrer marked it {verification}"})
        return
    _keep(referral, resource)
    reactions = ", ".join(filter(None, (_concept_text(m) for r in resource.get("reaction") or []
                                        for m in r.get("manifestation") or [])))
    words = " ".join([text, reactions]).lower()
    described = text + (f" ({reactions})" if reactions else "")
    if any(w in words for w in KETAMINE_WORDS):
        referral.flags.insert(0, f"KETAMINE ALLERGY in the referral: {described}. Ketamine is contraindicated "
                                 "until a physician has assessed it; record it in the evaluation's allergies.")
    else:
        referral.flags.append(f"The referral lists an allergy: {described}: record it in the evaluation's allergies.")
    referral.taken.append({**label, "what": f"allergy kept and flagged: {described}"})


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
                resources: list[tuple[str | None, dict[str, Any]]]) -> None:
    name = _concept_text(resource.get("medicationCodeableConcept"))
    reference = (resource.get("medicationReference") or {}).get("reference")
    if name is None and reference:
        contained = {f"#{c.get('id')}": c for c in resource.get("contained") or []}
        target = contained.get(reference) or next(
            (r for url, r in resources if url == reference or f"Medication/{r.get('id')}" == reference), None)
        name = _concept_text((target or {}).get("code"))
    if not name:
        referral.ignored.append({**label, "reason": "the MedicationStatement names no medicine (code text or display)"})
        return
    kept = copy.deepcopy(resource)
    if reference:
        kept.pop("medicationReference", None)
        kept.pop("contained", None)
        kept["medicationCodeableConcept"] = {"text": name}
    _keep(referral, kept)
    current = resource.get("status") in CURRENT_MEDICATION
    if current and name not in referral.medications:
        referral.medications.append(name[:200])
    referral.taken.append({**label, "what": f"medication kept: {name}" + (" (current)" if current else "")})


def _observation(referral: Referral, resource: dict[str, Any], label: dict[str, Any]) -> None:
    loinc = {str(c.get("code")) for c in _codings(resource.get("code")) if c.get("system") == LOINC}
    when = _parse_when(resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start"))
    if loinc & WEIGHT_CODES:
        quantity = resource.get("valueQuantity") or {}
        factor = KG_PER_UCUM.get(str(quantity.get("code")))
        value = quantity.get("value")
        if factor is None or value is None or when is None:
            referral.ignored.append({**label, "reason": "a body weight needs a value in kg, g or [lb_av] and a date"})
            return
        kg = round(float(value) * factor, 2)
        if not 2 <= kg <= 400:
            referral.ignored.append({**label, "reason": f"a body weight of {kg:g} kg is outside 2-400 kg"})
            return
        referral.weights.append((kg, when))
        referral.taken.append({**label, "what": f"body weight {kg:g} kg on {when.date().isoformat()}"})
        return
    if when is None:
        referral.ignored.append({**label, "reason": "an Observation without effectiveDateTime cannot be dated"})
        return
    _keep(referral, resource)
    text = _concept_text(resource.get("code")) or "observation"
    referral.taken.append({**label, "what": f"observation kept: {text} on {when.date().isoformat()}"})


__all__ = ["Referral", "ReferralError", "read_referral", "codes"]
