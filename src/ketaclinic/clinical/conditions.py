"""The pain conditions a ketamine clinic screens for (contract 4.2), with their codes and the
ASRA 2018 evidence for intravenous ketamine.

Each condition carries:

- a plain-language name a patient can read;
- ICD-10-CM codes (FY2026 code set, source ``icd10cm``) and SNOMED CT concepts (source
  ``snomedct``). **Every code was looked up, not recalled**: the ``checked`` text on each code says
  where. A code that could not be confirmed has ``verified=False`` and says why; the condition's
  ``verified`` property is false while any of its codes is unconfirmed, and a test lists them;
- the ASRA/AAPM/ASA 2018 statement on ketamine for that condition (source ``asra2018``; grades as
  read in the GuidelineCentral and Medscape summaries, see ``shared/reference/clinical-rules.md`` §1):
  CRPS moderate evidence (grade B; certainty not printed), spinal cord injury pain weak evidence
  (C, Low), mixed neuropathic pain, phantom limb pain, postherpetic neuralgia, fibromyalgia, cancer
  pain, ischaemic pain, migraine/headache and low back pain weak or no evidence (D, Low). For all
  conditions except CRPS the guideline finds no evidence of intermediate- or long-term benefit.
  Sickle cell disease is not among the conditions in the summaries read, so its evidence is
  ``not_addressed`` rather than a borrowed grade.

Where codes were checked (public pages and code sets; the search tool's stored copies):
``hccbuddy.com/icd10/<code>`` (FY2026 tabular title and billable flag), ``icdlist.com``,
``diseasedb.com``, ``legalclarity.org``, ``carepatron.com``, AAPC coding-alert articles for
ICD-10-CM; for SNOMED CT the Greater Manchester SDE clinical code sets (GitHub
``UoM-Data-Science-Platforms/gm-sde``, ``shared/clinical-code-sets/conditions/*/*.snomed.txt``)
and HL7 FHIR implementation-guide value sets and examples that print id and fully specified name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from ketaclinic.evidence.grades import C_LOW, D_LOW, B, EvidenceLevel, GuidelineGrade
from ketaclinic.evidence.sources import ref

CodeSystem = Literal["ICD-10-CM", "SNOMED CT"]

ICD10CM_SOURCE = ref("icd10cm")
SNOMED_SOURCE = ref("snomedct")
ASRA = ref("asra2018")


class ConditionId(StrEnum):
    """The condition vocabulary of contract 4.2."""

    CRPS = "crps"
    FIBROMYALGIA = "fibromyalgia"
    DIABETIC_NEUROPATHY = "diabetic_neuropathy"
    PERIPHERAL_NEUROPATHY = "peripheral_neuropathy"
    POSTHERPETIC_NEURALGIA = "postherpetic_neuralgia"
    TRIGEMINAL_NEURALGIA = "trigeminal_neuralgia"
    PHANTOM_LIMB = "phantom_limb"
    CANCER_PAIN = "cancer_pain"
    MIGRAINE = "migraine"
    CHRONIC_LOW_BACK = "chronic_low_back"
    SPINAL_CORD_INJURY = "spinal_cord_injury"
    SICKLE_CELL = "sickle_cell"
    ISCHEMIC_PAIN = "ischemic_pain"
    OTHER_NEUROPATHIC = "other_neuropathic"


@dataclass(frozen=True)
class Coding:
    """One code in one code system, with where it was confirmed."""

    system: CodeSystem
    code: str
    display: str
    verified: bool
    checked: str

    @property
    def source(self) -> str:
        return ICD10CM_SOURCE if self.system == "ICD-10-CM" else SNOMED_SOURCE


def icd(code: str, display: str, checked: str, verified: bool = True) -> Coding:
    return Coding("ICD-10-CM", code, display, verified, checked)


def sct(code: str, display: str, checked: str, verified: bool = True) -> Coding:
    return Coding("SNOMED CT", code, display, verified, checked)


@dataclass(frozen=True)
class KetamineEvidence:
    """What the guideline says about IV ketamine for one condition."""

    level: EvidenceLevel
    grade: GuidelineGrade | None
    summary: str
    source: str = ASRA

    def __post_init__(self) -> None:
        ref(self.source)


@dataclass(frozen=True)
class Condition:
    """A chronic pain condition as the clinic records it."""

    id: ConditionId
    name: str
    icd10cm: tuple[Coding, ...]
    snomed: tuple[Coding, ...]
    evidence: KetamineEvidence
    coding_note: str = ""

    @property
    def codings(self) -> tuple[Coding, ...]:
        return self.icd10cm + self.snomed

    @property
    def verified(self) -> bool:
        """True when every code of this condition was confirmed in a looked-up source."""
        return all(c.verified for c in self.codings)

    @property
    def weak_or_no_evidence(self) -> bool:
        """Conditions for which a clinic documents its rationale and gets informed consent."""
        return self.evidence.level in (EvidenceLevel.WEAK_OR_NONE, EvidenceLevel.NOT_ADDRESSED)


# --- ASRA 2018 statements (GuidelineCentral and Medscape summaries; see reference §1) ---------------

_NO_LONG_TERM = "No evidence of intermediate- or long-term benefit."
CRPS_EVIDENCE = KetamineEvidence(
    EvidenceLevel.MODERATE,
    B,
    "Moderate evidence of improvement for up to 12 weeks (grade B; the certainty is not printed in the "
    "GuidelineCentral summary, 'low to moderate' in one version). The only condition with intermediate-term benefit.",
)
SCI_EVIDENCE = KetamineEvidence(
    EvidenceLevel.WEAK,
    C_LOW,
    "Weak evidence of short-term improvement only (C, Low). " + _NO_LONG_TERM,
)


def _weak_or_none(group: str) -> KetamineEvidence:
    return KetamineEvidence(
        EvidenceLevel.WEAK_OR_NONE,
        D_LOW,
        f"Weak or no evidence of immediate improvement ({group}; D, Low). " + _NO_LONG_TERM,
    )


SICKLE_CELL_EVIDENCE = KetamineEvidence(
    EvidenceLevel.NOT_ADDRESSED,
    None,
    "Not among the conditions graded in the ASRA 2018 chronic-pain summaries read; no grade is assigned. "
    "Treat as weak or no evidence: document the rationale and obtain informed consent.",
)


# --- The table ---------------------------------------------------------------------------------------

_HCC = "hccbuddy.com FY2026 ICD-10-CM page (title, billable)"
_GMSDE_PAIN = "GM SDE code set conditions/chronic-pain (gm-sde repository)"

_CONDITIONS: tuple[Condition, ...] = (
    Condition(
        ConditionId.CRPS,
        "Complex regional pain syndrome (CRPS)",
        (
            icd("G90.50", "Complex regional pain syndrome I, unspecified",
                _HCC + "; sub-codes G90.51-/G90.52-/G90.59 by limb"),
            icd("G56.40", "Causalgia of unspecified upper limb (CRPS II)",
                "VisualDx CRPS code list; G56.4- named as CRPS II of upper limb in the G90.50 Excludes1 note"),
            icd("G57.70", "Causalgia of unspecified lower limb (CRPS II)",
                "VisualDx CRPS code list; G57.7- named as CRPS II of lower limb in the G90.50 Excludes1 note"),
        ),
        (
            sct("128200000", "Complex regional pain syndrome (disorder)",
                "HL7 FHIR value set JSON printing '128200000 Complex regional pain syndrome (disorder)'; " + _GMSDE_PAIN),
            sct("408751001", "Complex regional pain syndrome type II (disorder)", _GMSDE_PAIN),
        ),
        CRPS_EVIDENCE,
        "Use the limb-specific G90.51x/G90.52x codes when the side is known.",
    ),
    Condition(
        ConditionId.FIBROMYALGIA,
        "Fibromyalgia (widespread muscle pain)",
        (icd("M79.7", "Fibromyalgia", "diseasedb.com ICD-10-CM M79.7 (inclusion terms fibrositis, myofibrositis); "
             "ICD-10-AM M79.7 on the Australian DVA statement-of-principles page"),),
        (sct("203082005", "Fibromyalgia (disorder)", "GM SDE code set conditions/fibromyalgia; " + _GMSDE_PAIN),),
        _weak_or_none("fibromyalgia"),
    ),
    Condition(
        ConditionId.DIABETIC_NEUROPATHY,
        "Painful diabetic nerve damage (diabetic neuropathy)",
        (
            icd("E11.40", "Type 2 diabetes mellitus with diabetic neuropathy, unspecified", _HCC),
            icd("E11.42", "Type 2 diabetes mellitus with diabetic polyneuropathy", _HCC),
        ),
        (
            sct("230572002", "Neuropathy due to diabetes mellitus (disorder)",
                "GM SDE code set conditions/diabetic-neuropathy"),
            sct("193184006", "Chronic painful neuropathy due to diabetes mellitus (disorder)",
                "GM SDE code set conditions/diabetic-neuropathy"),
        ),
        _weak_or_none("mixed neuropathic pain"),
        "Type 1 diabetes uses the E10.4- codes (not checked here).",
    ),
    Condition(
        ConditionId.PERIPHERAL_NEUROPATHY,
        "Nerve damage in the arms or legs (peripheral neuropathy)",
        (icd("G62.9", "Polyneuropathy, unspecified", "combinehealth.ai and other ICD-10-CM pages: billable, "
             "applicable to 'neuropathy NOS'"),),
        (
            sct("302226006", "Peripheral nerve disease (peripheral neuropathy) (disorder)",
                _GMSDE_PAIN + " ('Peripheral neuropathy'); public code lists mapping it to G62.9"),
            sct("42345000", "Polyneuropathy (disorder)", _GMSDE_PAIN),
        ),
        _weak_or_none("mixed neuropathic pain"),
    ),
    Condition(
        ConditionId.POSTHERPETIC_NEURALGIA,
        "Nerve pain after shingles (postherpetic neuralgia)",
        (
            icd("B02.29", "Other postherpetic nervous system involvement (postherpetic neuralgia NOS)",
                "carepatron.com postherpetic neuralgia ICD-10-CM guide; ICD-10-CM B02 code list (medtrack-io/icd_code)"),
            icd("B02.22", "Postherpetic trigeminal neuralgia",
                "carepatron.com; AAPC oral-surgery coding alert (trigeminal PHN uses B02.22, not G50.0)"),
        ),
        (
            sct("2177002", "Postherpetic neuralgia (disorder)", "GM SDE code set conditions/post-herpetic-neuralgia"),
            sct("17974002", "Post-herpetic trigeminal neuralgia (disorder)",
                "GM SDE code set conditions/post-herpetic-neuralgia"),
        ),
        _weak_or_none("postherpetic neuralgia"),
    ),
    Condition(
        ConditionId.TRIGEMINAL_NEURALGIA,
        "Severe facial nerve pain (trigeminal neuralgia)",
        (icd("G50.0", "Trigeminal neuralgia", "legalclarity.org (citing ICD10Data 2026 and AAPC): billable, "
             "includes tic douloureux"),),
        (sct("31681005", "Trigeminal neuralgia (disorder)",
             "HL7 FHIR IG Condition examples '$sct#31681005 \"Trigeminal neuralgia (disorder)\"'; " + _GMSDE_PAIN),),
        _weak_or_none("mixed neuropathic pain"),
    ),
    Condition(
        ConditionId.PHANTOM_LIMB,
        "Pain felt in a missing limb (phantom limb pain)",
        (icd("G54.6", "Phantom limb syndrome with pain", _HCC + "; G54.7 is the painless form"),),
        (
            sct("5771000119106", "Phantom limb syndrome with pain (disorder)", _GMSDE_PAIN + " (US Edition concept)"),
            sct("193114000", "Phantom limb syndrome (disorder)",
                _GMSDE_PAIN + "; HL7 FHIR profile component '$sct#193114000 \"Phantom limb\"'"),
        ),
        _weak_or_none("phantom limb pain"),
    ),
    Condition(
        ConditionId.CANCER_PAIN,
        "Pain caused by cancer (cancer pain)",
        (icd("G89.3", "Neoplasm related pain (acute) (chronic)", "legalclarity.org: billable and unchanged through "
             "FY2026; carepatron.com; diseasedb.com (inclusion terms cancer associated pain, tumor associated pain)"),),
        (sct("363346000", "Malignant neoplastic disease (disorder)",
             "HL7 FHIR documentation example and ECL expressions printing '363346000 |Malignant neoplastic disease "
             "(disorder)|'"),),
        _weak_or_none("cancer pain"),
        "The SNOMED CT concept is the underlying disease: no concept for cancer-related pain itself could be "
        "confirmed in the sources searched, so none is given (not guessed). Add the site-specific C code.",
    ),
    Condition(
        ConditionId.MIGRAINE,
        "Migraine headaches",
        (icd("G43.709", "Chronic migraine without aura, not intractable, without status migrainosus",
             _HCC + "; code the aura/intractable/status variant of G43.7-/G43.E- when documented"),),
        (sct("37796009", "Migraine (disorder)", _GMSDE_PAIN),),
        _weak_or_none("migraine and headache"),
    ),
    Condition(
        ConditionId.CHRONIC_LOW_BACK,
        "Long-lasting low back pain",
        (
            icd("M54.50", "Low back pain, unspecified",
                "mymedicalbillsolution.com and siriussolutionsglobal.com: M54.5 retired, replaced by M54.50/M54.51/M54.59"),
            icd("G89.29", "Other chronic pain", "icdlist.com G89 category listing; legalclarity.org chronic pain G89 guide"),
        ),
        (sct("278860009", "Chronic low back pain (finding)",
             "Synthea-style FHIR bundles and SNOMED term tables printing '278860009 Chronic low back pain (finding)'; "
             + _GMSDE_PAIN),),
        _weak_or_none("low back and spinal pain"),
    ),
    Condition(
        ConditionId.SPINAL_CORD_INJURY,
        "Nerve pain after a spinal cord injury",
        (
            icd("G89.0", "Central pain syndrome (includes myelopathic pain syndrome)",
                "diseasedb.com G89.0 inclusion terms; legalclarity.org G89 guide"),
            icd("G89.21", "Chronic pain due to trauma", "legalclarity.org and icdlist.com G89 listings"),
        ),
        (sct("90584004", "Spinal cord injury (disorder)",
             "public-health value set rows ('90584004','Spinal cord injury (disorder)','SNOMED-CT'); GM SDE code set "
             "(nerve and spinal cord injury)"),),
        SCI_EVIDENCE,
        "Add the spinal cord injury sequela code (S14/S24/S34 with 7th character S) for the level of injury.",
    ),
    Condition(
        ConditionId.SICKLE_CELL,
        "Sickle cell disease pain",
        (
            icd("D57.1", "Sickle-cell disease without crisis", _HCC),
            icd("D57.00", "Hb-SS disease with crisis, unspecified", "icdlist.com D57 category listing (billable)"),
        ),
        (
            sct("417357006", "Sickling disorder due to hemoglobin S (disorder)",
                "codelist library entry and FHIR ConceptMap (equivalent) printing id and term"),
            sct("127040003", "Sickle cell-hemoglobin SS disease (disorder)",
                "FHIR IG Condition example 'SCT#127040003 \"Sickle cell-hemoglobin SS disease (disorder)\"'"),
        ),
        SICKLE_CELL_EVIDENCE,
        "Use the genotype-specific D57.2-/D57.4-/D57.8- codes when documented.",
    ),
    Condition(
        ConditionId.ISCHEMIC_PAIN,
        "Pain from poor blood flow to a limb (ischaemic pain)",
        (icd("I70.229", "Atherosclerosis of native arteries of extremities with rest pain, unspecified extremity",
             _HCC + "; I70.221-I70.228 by limb"),),
        (sct("399957001", "Peripheral arterial occlusive disease (disorder)",
             "HL7 FHIR IG value sets (German MII) printing '399957001 \"Peripheral arterial occlusive disease (disorder)\"'"),),
        _weak_or_none("ischaemic pain"),
        "The SNOMED CT concept is the underlying disease; no concept for ischaemic rest pain itself was confirmed.",
    ),
    Condition(
        ConditionId.OTHER_NEUROPATHIC,
        "Other nerve pain (neuropathic pain)",
        (icd("M79.2", "Neuralgia and neuritis, unspecified",
             "named as the code for 'neuralgia NOS / neuritis NOS' in the G50.0 Excludes1 note (AAPC, med.report); "
             "its FY2026 status (still a billable leaf or since subdivided) was not confirmed",
             verified=False),),
        (sct("247398009", "Neuropathic pain (finding)",
             _GMSDE_PAIN + "; several FHIR code lists printing '247398009 Neuropathic pain (finding)'"),),
        _weak_or_none("mixed neuropathic pain"),
        "Prefer the specific diagnosis code when the cause of the nerve pain is known.",
    ),
)

CONDITIONS: MappingProxyType[ConditionId, Condition] = MappingProxyType({c.id: c for c in _CONDITIONS})


def get_condition(condition_id: str | ConditionId) -> Condition:
    """The condition for an id of the 4.2 vocabulary; ``KeyError`` naming the allowed ids otherwise."""
    try:
        return CONDITIONS[ConditionId(condition_id)]
    except ValueError:
        allowed = ", ".join(c.value for c in ConditionId)
        raise KeyError(f"unknown condition {condition_id!r}; allowed: {allowed}") from None


def unverified_codings() -> list[tuple[ConditionId, Coding]]:
    """Every code in the table that could not be confirmed (shown to the clinic's coder)."""
    return [(c.id, coding) for c in _CONDITIONS for coding in c.codings if not coding.verified]
