"""Every code the FHIR export writes and the import reads, with the system it belongs to.

One table, so a test can check that no bundle carries a code that is not here, and so the codes
can be checked against the code systems' published values in one place (docs/research/fhir-codes.md
lists the page each one was confirmed on). Condition codes (ICD-10-CM, SNOMED CT) live with the
conditions in :mod:`ketaclinic.clinical.conditions`, where they were looked up.

Sources: LOINC vital signs as the FHIR R4B vital-signs profile names them
(hl7.org/fhir/R4B/observation-vitalsigns.html); pain 72514-3 (loinc.org/72514-3); SNOMED CT
route codes from the FHIR value set route-codes (hl7.org/fhir/R4B/valueset-route-codes.html);
ATC N01AX03 (whocc.no); HL7 terminology code systems (terminology.hl7.org).
"""

from __future__ import annotations

from dataclasses import dataclass

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
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
SIGNATURE_TYPE = "urn:iso-astm:E1762-95:2013"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
KETACLINIC_TAGS = "urn:ketaclinic:tag"  # the clinic's own tag (not a published code system)


@dataclass(frozen=True)
class Code:
    system: str
    code: str
    display: str

    def coding(self) -> dict[str, str]:
        return {"system": self.system, "code": self.code, "display": self.display}

    def concept(self, text: str | None = None) -> dict[str, object]:
        out: dict[str, object] = {"coding": [self.coding()]}
        if text:
            out["text"] = text
        return out


# LOINC: vital signs, weight, pain
BP_PANEL = Code(LOINC, "85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = Code(LOINC, "8480-6", "Systolic blood pressure")
DIASTOLIC = Code(LOINC, "8462-4", "Diastolic blood pressure")
HEART_RATE = Code(LOINC, "8867-4", "Heart rate")
SPO2 = Code(LOINC, "2708-6", "Oxygen saturation in Arterial blood")
SPO2_PULSE_OX = Code(LOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry")
RESP_RATE = Code(LOINC, "9279-1", "Respiratory rate")
BODY_WEIGHT = Code(LOINC, "29463-7", "Body weight")
PAIN_NRS = Code(LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")

# Medicines
KETAMINE_ATC = Code(ATC, "N01AX03", "Ketamine")
# RxNorm and SNOMED CT codes for ketamine were not confirmed (docs/research/fhir-codes.md): not written.

# SNOMED CT routes (FHIR value set route-codes)
ROUTES = {
    "iv": Code(SNOMED, "47625008", "Intravenous route"),
    "oral": Code(SNOMED, "26643006", "Oral route"),
    "im": Code(SNOMED, "78421000", "Intramuscular route"),
    "sc": Code(SNOMED, "34206005", "Subcutaneous route"),
    "sublingual": Code(SNOMED, "37839007", "Sublingual route"),
    "intranasal": Code(SNOMED, "46713006", "Nasal route"),
    "inhaled": Code(SNOMED, "447694001", "Respiratory tract route"),
    "topical": Code(SNOMED, "6064005", "Topical route"),
}

# HL7 terminology
VITAL_SIGNS = Code(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")
SURVEY = Code(OBSERVATION_CATEGORY, "survey", "Survey")
ACTIVE = Code(CONDITION_CLINICAL, "active", "Active")
CONFIRMED = Code(CONDITION_VERIFICATION, "confirmed", "Confirmed")
PROVISIONAL = Code(CONDITION_VERIFICATION, "provisional", "Provisional")
PROBLEM_LIST_ITEM = Code(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")
AMBULATORY = Code(ACT_CODE, "AMB", "ambulatory")
INPATIENT = Code(ACT_CODE, "IMP", "inpatient encounter")
CREATE = Code(DATA_OPERATION, "CREATE", "create")
UPDATE = Code(DATA_OPERATION, "UPDATE", "revise")
AUTHOR = Code(PARTICIPANT_TYPE, "author", "Author")
VERIFIER = Code(PARTICIPANT_TYPE, "verifier", "Verifier")
AUTHOR_SIGNATURE = Code(SIGNATURE_TYPE, "1.2.840.10065.1.12.1.1", "Author's Signature")
VERIFICATION_SIGNATURE = Code(SIGNATURE_TYPE, "1.2.840.10065.1.12.1.5", "Verification Signature")
MEDICAL_RECORD_NUMBER = Code(IDENTIFIER_TYPE, "MR", "Medical record number")
RECEIVED_WITH_REFERRAL = Code(KETACLINIC_TAGS, "received-with-referral", "Received with a referral, not the clinic's finding")

# UCUM units the export writes: (UCUM code, human unit)
UNITS = {"mm[Hg]": "mmHg", "/min": "/min", "%": "%", "kg": "kg", "mg": "mg", "mg/h": "mg/h", "mL/h": "mL/h",
         "ug": "mcg", "g": "g", "mL": "mL", "{unit}": "units", "{score}": "score"}

ALL_CODES: tuple[Code, ...] = (
    BP_PANEL, SYSTOLIC, DIASTOLIC, HEART_RATE, SPO2, SPO2_PULSE_OX, RESP_RATE, BODY_WEIGHT, PAIN_NRS,
    KETAMINE_ATC, *ROUTES.values(), VITAL_SIGNS, SURVEY, ACTIVE, CONFIRMED, PROVISIONAL,
    PROBLEM_LIST_ITEM, AMBULATORY, INPATIENT, CREATE, UPDATE, AUTHOR, VERIFIER, AUTHOR_SIGNATURE, VERIFICATION_SIGNATURE,
    MEDICAL_RECORD_NUMBER, RECEIVED_WITH_REFERRAL,
)
