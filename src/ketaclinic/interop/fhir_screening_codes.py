"""Which coded conditions in a referral touch a screening question (issue 18): a checked table.

The screening (:mod:`ketaclinic.clinical.screening`) asks about unstable heart disease, coronary
events, uncontrolled hypertension, cerebrovascular risk, raised intracranial or intraocular
pressure, psychosis, mania, substance misuse, heavy alcohol use, liver disease, thyroid, seizures and
pregnancy. A referral's problem list may answer none of them, but a coded Condition in the range of
one is *flagged* so the clinician asks (a prompt, never an answer: clinic policy, see
:mod:`ketaclinic.interop.fhir_import`).

Codes are matched before words: an ICD-10-CM (or WHO ICD-10) code by the category prefixes below, a
SNOMED CT concept by its id. This module knows no SNOMED CT hierarchy (no terminology server: the core
is pure), so only the concepts listed match by code; a child concept not listed (``Acute
myocardial infarction of ... wall``) still falls back to the words of its name. SNOMED CT rows were
kept only where a public value set or code list printed the id with its name; questions with no row
(intracranial and intraocular pressure, thyroid, seizures, cerebrovascular) are matched by ICD-10 and
by words only, and say so.

Every row says where it was checked (``checked``): the ICD-10-CM FY2026 tabular list as shown by
the public pages named, HL7 FHIR implementation-guide value sets (their "is-a" expansions print the
root concept), NLM MedGen, the Human Phenotype Ontology cross-references, and the public Synthea R4
sample bundles in ``tests/interop/samples``. Source ids: ``icd10cm``, ``snomedct``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from ketaclinic.evidence.sources import ref

ICD10CM_SOURCE = ref("icd10cm")
SNOMED_SOURCE = ref("snomedct")


@dataclass(frozen=True)
class ScreeningCode:
    """One ICD-10 category prefix or SNOMED CT concept that touches a screening question."""

    question: str  # the screening history field (or ``pregnancy``) the clinician is asked to check
    system: str  # "ICD-10" (ICD-10-CM and WHO ICD-10 share these categories) or "SNOMED CT"
    code: str  # an ICD-10 category or subcategory prefix, or a SNOMED CT concept id
    what: str
    checked: str


QUESTIONS: MappingProxyType[str, str] = MappingProxyType({
    "cardiovascular": "heart disease (unstable or poorly controlled cardiovascular disease is a contraindication)",
    "coronary": "coronary disease (an infarction or unstable angina in the last 3 months is a contraindication)",
    "hypertension": "hypertension (poorly controlled hypertension is a contraindication)",
    "cerebrovascular": "aneurysm, arteriovenous malformation or intracerebral haemorrhage",
    "intracranial_pressure": "raised intracranial pressure or hydrocephalus",
    "intraocular_pressure": "glaucoma or raised intraocular pressure",
    "psychosis": "a psychotic disorder",
    "mania": "mania or bipolar disorder",
    "substance_use": "substance misuse",
    "alcohol_use": "alcohol use disorder",
    "hepatic_impairment": "liver disease (severe liver disease is a contraindication)",
    "thyroid": "hyperthyroidism",
    "seizures": "epilepsy or seizures",
    "pregnancy": "pregnancy (a contraindication)",
})

_ICD_TABULAR = "ICD-10-CM FY2026 tabular list, category"
_MCODE = "HL7 mCODE STU2 Elixhauser value set"
_CREDS = "HL7 CREDS IG value set"

_ROWS: tuple[ScreeningCode, ...] = (
    # --- ICD-10 (ICD-10-CM and WHO ICD-10 categories) ---
    *(ScreeningCode("hypertension", "ICD-10", code, "hypertensive disease", f"{_ICD_TABULAR} {code} (I10-I16 "
                    "Hypertensive diseases); mCODE Elixhauser hypertension value sets list I10-I16 codes")
      for code in ("I10", "I11", "I12", "I13", "I15", "I16")),
    *(ScreeningCode("coronary", "ICD-10", code, "ischaemic heart disease", f"{_ICD_TABULAR} {code} (I20-I25 "
                    "Ischemic heart diseases); HL7 ICSR value set MyocardialInfarctionDiagnosisCodes lists I21.x")
      for code in ("I20", "I21", "I22", "I24", "I25")),
    ScreeningCode("cardiovascular", "ICD-10", "I46", "cardiac arrest",
                  f"{_ICD_TABULAR} I46 Cardiac arrest (icd10data.com I46-, I46.9 cause unspecified)"),
    *(ScreeningCode("cardiovascular", "ICD-10", code, "arrhythmia", f"{_ICD_TABULAR} {code} (I47 paroxysmal "
                    "tachycardia, I48 atrial fibrillation and flutter, I49 other cardiac arrhythmias)")
      for code in ("I47", "I48", "I49")),
    ScreeningCode("cardiovascular", "ICD-10", "I50", "heart failure",
                  f"{_ICD_TABULAR} I50 Heart failure; {_MCODE} congestive heart failure"),
    *(ScreeningCode("cerebrovascular", "ICD-10", code, what, f"{_ICD_TABULAR} {code}")
      for code, what in (("I60", "subarachnoid haemorrhage"), ("I61", "intracerebral haemorrhage"),
                         ("I62", "other nontraumatic intracranial haemorrhage"),
                         ("I67.1", "cerebral aneurysm, nonruptured"),
                         ("Q28.2", "arteriovenous malformation of cerebral vessels"))),
    *(ScreeningCode("intracranial_pressure", "ICD-10", code, what, f"{_ICD_TABULAR} {code}")
      for code, what in (("G91", "hydrocephalus"), ("G93.2", "benign intracranial hypertension"),
                         ("G93.6", "cerebral edema"))),
    ScreeningCode("intraocular_pressure", "ICD-10", "H40", "glaucoma", f"{_ICD_TABULAR} H40 Glaucoma"),
    *(ScreeningCode("psychosis", "ICD-10", code, "schizophrenia spectrum or other psychotic disorder",
                    f"{_ICD_TABULAR} {code} (F20-F29); {_MCODE} psychosis")
      for code in ("F20", "F21", "F22", "F23", "F24", "F25", "F28", "F29")),
    *(ScreeningCode("mania", "ICD-10", code, what, f"{_ICD_TABULAR} {code}; {_MCODE} psychosis (bipolar codes)")
      for code, what in (("F30", "manic episode"), ("F31", "bipolar disorder"))),
    ScreeningCode("alcohol_use", "ICD-10", "F10", "alcohol related disorder",
                  f"{_ICD_TABULAR} F10 Alcohol related disorders; {_MCODE} alcohol abuse"),
    *(ScreeningCode("substance_use", "ICD-10", code, "psychoactive substance use disorder",
                    f"{_ICD_TABULAR} {code} (F11-F19); {_MCODE} drug abuse (F11.x opioid abuse ...)")
      for code in ("F11", "F12", "F13", "F14", "F15", "F16", "F18", "F19")),
    *(ScreeningCode("hepatic_impairment", "ICD-10", code, "disease of liver", f"{_ICD_TABULAR} {code} (K70-K77 "
                    "Diseases of liver); medicalterminology.guide cirrhosis codes K70.3-, K74.6-")
      for code in ("K70", "K71", "K72", "K73", "K74", "K75", "K76", "K77")),
    ScreeningCode("thyroid", "ICD-10", "E05", "thyrotoxicosis (hyperthyroidism)",
                  f"{_ICD_TABULAR} E05; {_MCODE} other thyroid disorder (E05.00 thyrotoxicosis ...)"),
    ScreeningCode("seizures", "ICD-10", "G40", "epilepsy and recurrent seizures",
                  f"{_ICD_TABULAR} G40; {_MCODE} neurological seizure disorder (G40.x)"),
    *(ScreeningCode("pregnancy", "ICD-10", code, what, f"{_ICD_TABULAR} {code}")
      for code, what in (("Z33", "pregnant state"), ("Z34", "supervision of normal pregnancy"),
                         ("O", "pregnancy, childbirth and the puerperium (chapter O00-O9A)"))),
    # --- SNOMED CT concepts, each printed with its name by the source named ---
    ScreeningCode("cardiovascular", "SNOMED CT", "410429000", "Cardiac arrest (disorder)",
                  f"{_CREDS} CardiacArrest (is-a 410429000, 'Cardiac arrest (disorder)'); Synthea R4 sample "
                  "tests/interop/samples/synthea_barney_abbott_trimmed.json"),
    ScreeningCode("cardiovascular", "SNOMED CT", "84114007", "Heart failure (disorder)",
                  f"{_CREDS} HeartFailure (is-a 84114007 'Heart failure')"),
    ScreeningCode("coronary", "SNOMED CT", "53741008", "Coronary arteriosclerosis (disorder)",
                  "NLM MedGen C1956346 (SNOMED CT: 'Coronary artery disease (53741008)'); Synthea R4 sample "
                  "'53741008 Coronary Heart Disease'"),
    ScreeningCode("coronary", "SNOMED CT", "22298006", "Myocardial infarction (disorder)",
                  f"{_CREDS} PriorMyocardialInfarction (is-a 22298006 'Myocardial infarction')"),
    ScreeningCode("coronary", "SNOMED CT", "1755008", "Old myocardial infarction (disorder)",
                  f"{_CREDS} PriorMyocardialInfarction expansion ('1755008 Old myocardial infarction')"),
    ScreeningCode("hypertension", "SNOMED CT", "38341003", "Hypertensive disorder, systemic arterial (disorder)",
                  f"{_CREDS} Hypertension (is-a 38341003 'High blood pressure'); Synthea R4 sample "
                  "'38341003 Hypertension'"),
    ScreeningCode("hypertension", "SNOMED CT", "1201005", "Benign essential hypertension (disorder)",
                  f"{_CREDS} Hypertension expansion ('1201005 Benign essential hypertension'); OHSU hypertension "
                  "value set"),
    ScreeningCode("psychosis", "SNOMED CT", "58214004", "Schizophrenia (disorder)",
                  "Human Phenotype Ontology HP:0100753 cross-reference SNOMEDCT_US:58214004 (Schizophrenia)"),
    ScreeningCode("alcohol_use", "SNOMED CT", "15167005", "Alcohol abuse (disorder)",
                  "OHSU hypertension IG value set 2.16.840.1.113762.1.4.1222.24 Alcohol Abuse Disorder "
                  "('15167005 Alcohol abuse (disorder)')"),
    ScreeningCode("hepatic_impairment", "SNOMED CT", "76783007", "Chronic hepatitis (disorder)",
                  "CH EKM IG value set ChEkmHepatitisCCourseOfDisease ('76783007 Chronic hepatitis (disorder)', "
                  "SNOMED CT International 2025-02)"),
    ScreeningCode("hepatic_impairment", "SNOMED CT", "831000119103",
                  "Cirrhosis of liver due to chronic hepatitis C (disorder)",
                  "CH EKM IG value set ChEkmHepatitisCCourseOfDisease ('831000119103 Cirrhosis of liver due to "
                  "chronic hepatitis C (disorder)')"),
    ScreeningCode("pregnancy", "SNOMED CT", "77386006", "Pregnancy (finding)",
                  "HL7 IPS value set pregnancy-status-uv-ips ('77386006 Pregnancy (finding)'); HL7 COVID-19 "
                  "library PregnancyStatusVS"),
)

ROWS: tuple[ScreeningCode, ...] = _ROWS
SNOMED_CONCEPTS: MappingProxyType[str, ScreeningCode] = MappingProxyType(
    {row.code: row for row in _ROWS if row.system == "SNOMED CT"})
ICD10_PREFIXES: tuple[ScreeningCode, ...] = tuple(
    sorted((row for row in _ROWS if row.system == "ICD-10"), key=lambda row: -len(row.code)))  # longest first


def icd10_question(code: str) -> ScreeningCode | None:
    """The row an ICD-10-CM or WHO ICD-10 code falls under (the longest matching prefix), or None."""
    code = code.strip().upper()
    return next((row for row in ICD10_PREFIXES if code.startswith(row.code)), None)


def snomed_question(concept_id: str) -> ScreeningCode | None:
    """The row of a listed SNOMED CT concept, or None (children of a listed concept are not known here)."""
    return SNOMED_CONCEPTS.get(concept_id.strip())


__all__ = ["QUESTIONS", "ROWS", "ScreeningCode", "icd10_question", "snomed_question"]
