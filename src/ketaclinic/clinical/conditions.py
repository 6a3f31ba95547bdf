"""The pain conditions a ketamine clinic screens for (contract 4.2), with their codes and the
ASRA 2018 evidence for intravenous ketamine.

Each condition carries:

- a plain-language name a patient can read;
- at most one ICD-10-CM code (FY2026 code set, source ``icd10cm``) and one SNOMED CT concept (source
  ``snomedct``), each meaning exactly the condition as recorded (no type, site or crisis state the
  clinic did not record), from the checked tables ``ICD10CM_CHECKED`` and ``SNOMED_CHECKED``; more
  specific codes a referral may send are ``recognised`` on import only. **Every code was looked up,
  not recalled**: the ``checked`` text on each code says where. A code that could not be confirmed has ``verified=False`` and says why; the condition's
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
from typing import Any, Literal

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
    recognised: tuple[Recognised, ...] = ()  # more specific codes the referral import reads as this condition

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


# --- The codes, checked ------------------------------------------------------------------------------
#
# One code per code system per condition (issue 18): the code that means exactly what the clinic records.
# The clinic records a condition (``crps``), not its type, site, genotype or crisis state, so a code that
# asserts one of those (CRPS type I, sickle-cell disease *with* crisis) would tell a receiving system
# something nobody found. Where no code in a system means exactly the recorded condition, that system gets
# no code (said in ``coding_note``), never an approximation. Display texts are the official titles
# (ICD-10-CM FY2026 tabular list) and fully specified names (SNOMED CT), without added notes.
#
# ``ICD10CM_CHECKED`` and ``SNOMED_CHECKED`` are the checked tables: every code a condition carries, and
# every more specific code the referral import recognises as that condition (``recognised``), is looked
# up here with where it was checked. A test holds the conditions to these tables.

_HCC = "hccbuddy.com FY2026 ICD-10-CM page (official title, billable)"
_CRPS_PAGES = ("ICD-10-CM FY2026 G90.5- children listed with titles on littleden.blog G90.5 and hccbuddy.com "
               "G90.50/G90.521/G90.523 code-book paths; G56.41/G56.42/G56.43 and G57.7- titles on icd10.blog 2026 "
               "(looked up 2026-12-07)")
_GMSDE_PAIN = "GM SDE code set conditions/chronic-pain (gm-sde repository)"

ICD10CM_CHECKED: MappingProxyType[str, Coding] = MappingProxyType({c.code: c for c in (
    icd("G90.50", "Complex regional pain syndrome I, unspecified",
        _HCC + "; G90.5 'Complex regional pain syndrome I (CRPS I)', children G90.51-/G90.52-/G90.59 by limb; "
        "Excludes1 names CRPS II as G56.4-/G57.7-"),
    icd("G56.40", "Causalgia of unspecified upper limb",
        "G90.50 Excludes1 note on hccbuddy.com ('complex regional pain syndrome II of upper limb (G56.4-)'); "
        "VisualDx CRPS code list"),
    icd("G57.70", "Causalgia of unspecified lower limb",
        "G90.50 Excludes1 note on hccbuddy.com ('complex regional pain syndrome II of lower limb (G57.7-)'); "
        "VisualDx CRPS code list"),
    # CRPS by type and limb (issue 18: "ask for the CRPS type / limb where it matters"): the evaluation may record
    # them (``pain.crps``), and then the code that means exactly that is written.
    *(icd(code, title, _CRPS_PAGES) for code, title in (
        ("G90.511", "Complex regional pain syndrome I of right upper limb"),
        ("G90.512", "Complex regional pain syndrome I of left upper limb"),
        ("G90.513", "Complex regional pain syndrome I of upper limb, bilateral"),
        ("G90.519", "Complex regional pain syndrome I of unspecified upper limb"),
        ("G90.521", "Complex regional pain syndrome I of right lower limb"),
        ("G90.522", "Complex regional pain syndrome I of left lower limb"),
        ("G90.523", "Complex regional pain syndrome I of lower limb, bilateral"),
        ("G90.529", "Complex regional pain syndrome I of unspecified lower limb"),
        ("G90.59", "Complex regional pain syndrome I of other specified site"),
        ("G56.41", "Causalgia of right upper limb"),
        ("G56.42", "Causalgia of left upper limb"),
        ("G56.43", "Causalgia of bilateral upper limbs"),
        ("G57.71", "Causalgia of right lower limb"),
        ("G57.72", "Causalgia of left lower limb"),
        ("G57.73", "Causalgia of bilateral lower limbs"),
    )),
    icd("M79.7", "Fibromyalgia", "diseasedb.com ICD-10-CM M79.7 (inclusion terms fibrositis, myofibrositis)"),
    icd("E11.40", "Type 2 diabetes mellitus with diabetic neuropathy, unspecified",
        _HCC + "; E11 includes 'diabetes NOS' (hccbuddy.com E11 Includes note), the guideline default when the "
        "type of diabetes is not documented"),
    icd("E11.42", "Type 2 diabetes mellitus with diabetic polyneuropathy", _HCC),
    icd("G62.9", "Polyneuropathy, unspecified", "combinehealth.ai and other ICD-10-CM pages: billable, "
        "applicable to 'neuropathy NOS'"),
    icd("B02.29", "Other postherpetic nervous system involvement",
        "carepatron.com and americanmedicalcoding.com: the ICD-10-CM code for postherpetic neuralgia NOS "
        "(B02.22 for the trigeminal form); icd10.blog 2026 title"),
    icd("B02.22", "Postherpetic trigeminal neuralgia",
        "carepatron.com; AAPC oral-surgery coding alert (trigeminal PHN uses B02.22, not G50.0)"),
    icd("G50.0", "Trigeminal neuralgia", "legalclarity.org (citing ICD10Data 2026 and AAPC): billable, "
        "includes tic douloureux"),
    icd("G54.6", "Phantom limb syndrome with pain", _HCC + "; G54.7 is the painless form"),
    icd("G89.3", "Neoplasm related pain (acute) (chronic)", "legalclarity.org: billable and unchanged through "
        "FY2026; carepatron.com; diseasedb.com (inclusion terms cancer associated pain, tumor associated pain)"),
    icd("G43.909", "Migraine, unspecified, not intractable, without status migrainosus",
        "hccbuddy.com G43.909 (FY2026, billable); combinehealth.ai G43.909 guide (migraine of unspecified type)"),
    icd("G43.709", "Chronic migraine without aura, not intractable, without status migrainosus",
        "hccbuddy.com G43.709 (billable)"),
    icd("M54.50", "Low back pain, unspecified",
        "mymedicalbillsolution.com and siriussolutionsglobal.com: M54.5 retired, replaced by M54.50/M54.51/M54.59"),
    icd("G89.0", "Central pain syndrome", "diseasedb.com G89.0 (inclusion terms Dejerine-Roussy syndrome, "
        "myelopathic pain syndrome, thalamic pain syndrome); legalclarity.org G89 guide"),
    icd("D57.1", "Sickle-cell disease without crisis",
        _HCC + "; inclusion terms 'Sickle-cell disease NOS', 'Sickle-cell anemia NOS', 'Sickle-cell disorder NOS' "
        "(diseasedb.com D57.1)"),
    icd("D57.00", "Hb-SS disease with crisis, unspecified", "icdlist.com D57 category listing (billable)"),
    icd("I70.229", "Atherosclerosis of native arteries of extremities with rest pain, unspecified extremity",
        _HCC + "; I70.221-I70.228 by limb"),
    icd("M79.2", "Neuralgia and neuritis, unspecified",
        "named as the code for 'neuralgia NOS / neuritis NOS' in the G50.0 Excludes1 note (AAPC, med.report); "
        "its FY2026 status (still a billable leaf or since subdivided) was not confirmed", verified=False),
)})

SNOMED_CHECKED: MappingProxyType[str, Coding] = MappingProxyType({c.code: c for c in (
    sct("128200000", "Complex regional pain syndrome (disorder)",
        "HL7 FHIR value set JSON printing '128200000 Complex regional pain syndrome (disorder)'; " + _GMSDE_PAIN),
    sct("408751001", "Complex regional pain syndrome type II (disorder)", _GMSDE_PAIN),
    sct("203082005", "Fibromyalgia (disorder)", "GM SDE code set conditions/fibromyalgia; " + _GMSDE_PAIN),
    sct("230572002", "Neuropathy due to diabetes mellitus (disorder)", "GM SDE code set conditions/diabetic-neuropathy"),
    sct("193184006", "Chronic painful neuropathy due to diabetes mellitus (disorder)",
        "GM SDE code set conditions/diabetic-neuropathy"),
    sct("302226006", "Peripheral nerve disease (disorder)",
        _GMSDE_PAIN + " ('Peripheral neuropathy'); public code lists mapping it to G62.9"),
    sct("42345000", "Polyneuropathy (disorder)", _GMSDE_PAIN),
    sct("2177002", "Postherpetic neuralgia (disorder)", "GM SDE code set conditions/post-herpetic-neuralgia"),
    sct("17974002", "Post-herpetic trigeminal neuralgia (disorder)", "GM SDE code set conditions/post-herpetic-neuralgia"),
    sct("31681005", "Trigeminal neuralgia (disorder)",
        "HL7 FHIR IG Condition examples '$sct#31681005 \"Trigeminal neuralgia (disorder)\"'; " + _GMSDE_PAIN),
    sct("5771000119106", "Phantom limb syndrome with pain (disorder)", _GMSDE_PAIN + " (US Edition concept)"),
    sct("37796009", "Migraine (disorder)", _GMSDE_PAIN),
    sct("124171000119105", "Chronic intractable migraine without aura (disorder)",
        "Synthea R4 sample bundles (smart-on-fhir/generated-sample-data, tests/interop/samples) coding a condition "
        "'124171000119105 Chronic intractable migraine without aura' (US Edition concept)"),
    sct("278860009", "Chronic low back pain (finding)",
        "Synthea-style FHIR bundles and SNOMED term tables printing '278860009 Chronic low back pain (finding)'; "
        + _GMSDE_PAIN),
    sct("417357006", "Sickling disorder due to hemoglobin S (disorder)",
        "codelist library entry and FHIR ConceptMap (equivalent) printing id and term"),
    sct("127040003", "Sickle cell-hemoglobin SS disease (disorder)",
        "FHIR IG Condition example 'SCT#127040003 \"Sickle cell-hemoglobin SS disease (disorder)\"'; NLM newborn "
        "screening codes (Hb SS disease, ICD-10-CM D57.1)"),
    sct("247398009", "Neuropathic pain (finding)",
        _GMSDE_PAIN + "; several FHIR code lists printing '247398009 Neuropathic pain (finding)'"),
)})


@dataclass(frozen=True)
class Recognised:
    """A more specific code a referral may carry for a condition (CRPS I of the left arm, Hb-SS disease):
    read as that condition on import, never written on export. A ``prefix`` row matches every code of the
    ICD-10-CM subcategory it heads (``G90.5`` matches G90.50 ... G90.59) and says where the subcategory was
    checked; an exact code is taken from the checked tables."""

    system: CodeSystem
    code: str
    what: str
    checked: str
    prefix: bool = False


def _icd(code: str) -> tuple[Coding, ...]:
    return (ICD10CM_CHECKED[code],)


def _sct(code: str) -> tuple[Coding, ...]:
    return (SNOMED_CHECKED[code],)


def _also(system: CodeSystem, code: str, what: str) -> Recognised:
    """An exact code from the checked tables (``KeyError`` if it was not checked)."""
    table = ICD10CM_CHECKED if system == "ICD-10-CM" else SNOMED_CHECKED
    return Recognised(system, code, what, table[code].checked)


def _subcategory(code: str, what: str, checked: str) -> Recognised:
    return Recognised("ICD-10-CM", code, what, checked, prefix=True)


_G90_50_PAGE = "hccbuddy.com G90.50 page: code-book path and Excludes1 note"
_D57_LIST = "icdlist.com D57 category listing (D57.3 sickle-cell trait is not a disease and is left out)"

# --- The table ---------------------------------------------------------------------------------------

_CONDITIONS: tuple[Condition, ...] = (
    Condition(
        ConditionId.CRPS,
        "Complex regional pain syndrome (CRPS)",
        (),
        _sct("128200000"),
        CRPS_EVIDENCE,
        "ICD-10-CM has no code for CRPS of unstated type: G90.5- is type I (G90.50 unspecified site, G90.51-/"
        "G90.52- by limb) and type II is causalgia (G56.4- upper limb, G57.7- lower limb). The coder adds the "
        "code once the type is documented; the SNOMED CT code is the parent concept of both types.",
        (_subcategory("G90.5", "complex regional pain syndrome I, any site", _G90_50_PAGE),
         _subcategory("G56.4", "causalgia (CRPS II) of an upper limb", _G90_50_PAGE),
         _subcategory("G57.7", "causalgia (CRPS II) of a lower limb", _G90_50_PAGE),
         _also("SNOMED CT", "408751001", "complex regional pain syndrome type II")),
    ),
    Condition(
        ConditionId.FIBROMYALGIA,
        "Fibromyalgia (widespread muscle pain)",
        _icd("M79.7"),
        _sct("203082005"),
        _weak_or_none("fibromyalgia"),
    ),
    Condition(
        ConditionId.DIABETIC_NEUROPATHY,
        "Painful diabetic nerve damage (diabetic neuropathy)",
        _icd("E11.40"),
        _sct("230572002"),
        _weak_or_none("mixed neuropathic pain"),
        "E11.40 is the ICD-10-CM code when the type of diabetes is not recorded (E11 includes diabetes NOS); "
        "type 1 diabetes uses the E10.4- codes (not checked here).",
        (_also("ICD-10-CM", "E11.42", "type 2 diabetes mellitus with diabetic polyneuropathy"),
         _also("SNOMED CT", "193184006", "chronic painful neuropathy due to diabetes mellitus")),
    ),
    Condition(
        ConditionId.PERIPHERAL_NEUROPATHY,
        "Nerve damage in the arms or legs (peripheral neuropathy)",
        _icd("G62.9"),
        _sct("302226006"),
        _weak_or_none("mixed neuropathic pain"),
        recognised=(_also("SNOMED CT", "42345000", "polyneuropathy"),),
    ),
    Condition(
        ConditionId.POSTHERPETIC_NEURALGIA,
        "Nerve pain after shingles (postherpetic neuralgia)",
        _icd("B02.29"),
        _sct("2177002"),
        _weak_or_none("postherpetic neuralgia"),
        "B02.29 is the ICD-10-CM code for postherpetic neuralgia NOS; B02.22 when the trigeminal nerve is named.",
        (_also("ICD-10-CM", "B02.22", "postherpetic trigeminal neuralgia"),
         _also("SNOMED CT", "17974002", "post-herpetic trigeminal neuralgia")),
    ),
    Condition(
        ConditionId.TRIGEMINAL_NEURALGIA,
        "Severe facial nerve pain (trigeminal neuralgia)",
        _icd("G50.0"),
        _sct("31681005"),
        _weak_or_none("mixed neuropathic pain"),
    ),
    Condition(
        ConditionId.PHANTOM_LIMB,
        "Pain felt in a missing limb (phantom limb pain)",
        _icd("G54.6"),
        _sct("5771000119106"),
        _weak_or_none("phantom limb pain"),
    ),
    Condition(
        ConditionId.CANCER_PAIN,
        "Pain caused by cancer (cancer pain)",
        _icd("G89.3"),
        (),
        _weak_or_none("cancer pain"),
        "No SNOMED CT concept for cancer-related pain itself could be confirmed in the sources searched, and "
        "'Malignant neoplastic disease' names the cancer, not the pain, so no SNOMED CT code is written. Add "
        "the site-specific C code for the cancer.",
    ),
    Condition(
        ConditionId.MIGRAINE,
        "Migraine headaches",
        _icd("G43.909"),
        _sct("37796009"),
        _weak_or_none("migraine and headache"),
        "G43.909 is migraine of unspecified type; code the chronic, aura, intractable or status variant "
        "(G43.7-, G43.1- ...) when it is documented.",
        (_subcategory("G43", "migraine, any type", "icdlist.com G43 category listing (every G43 code is a "
                      "migraine) and hccbuddy.com G43.709/G43.909"),
         _also("SNOMED CT", "124171000119105", "chronic intractable migraine without aura")),
    ),
    Condition(
        ConditionId.CHRONIC_LOW_BACK,
        "Long-lasting low back pain",
        _icd("M54.50"),
        _sct("278860009"),
        _weak_or_none("low back and spinal pain"),
        "ICD-10-CM has no code for chronic low back pain: M54.50 is the low back pain; a coder may add G89.29 "
        "(other chronic pain) on a claim.",
    ),
    Condition(
        ConditionId.SPINAL_CORD_INJURY,
        "Nerve pain after a spinal cord injury",
        _icd("G89.0"),
        (),
        SCI_EVIDENCE,
        "G89.0 (central pain syndrome) includes myelopathic pain. No SNOMED CT concept for the pain itself was "
        "confirmed, and 'Spinal cord injury' names the injury, not the pain, so no SNOMED CT code is written. "
        "Add the spinal cord injury sequela code (S14/S24/S34 with 7th character S) for the level of injury.",
    ),
    Condition(
        ConditionId.SICKLE_CELL,
        "Sickle cell disease pain",
        _icd("D57.1"),
        _sct("417357006"),
        SICKLE_CELL_EVIDENCE,
        "D57.1 is the ICD-10-CM code for sickle-cell disease NOS (no crisis recorded); use the crisis or "
        "genotype-specific D57.0-/D57.2-/D57.4-/D57.8- codes when documented.",
        (_subcategory("D57.0", "Hb-SS disease with crisis", _D57_LIST),
         _subcategory("D57.2", "sickle-cell/Hb-C disease", _D57_LIST),
         _subcategory("D57.4", "sickle-cell thalassemia", _D57_LIST),
         _subcategory("D57.8", "other sickle-cell disorders", _D57_LIST),
         _also("SNOMED CT", "127040003", "sickle cell-hemoglobin SS disease")),
    ),
    Condition(
        ConditionId.ISCHEMIC_PAIN,
        "Pain from poor blood flow to a limb (ischaemic pain)",
        _icd("I70.229"),
        (),
        _weak_or_none("ischaemic pain"),
        "No SNOMED CT concept for ischaemic rest pain itself was confirmed, and 'Peripheral arterial occlusive "
        "disease' names the disease, not the pain, so no SNOMED CT code is written. I70.221-I70.228 by limb.",
        (_subcategory("I70.22", "atherosclerosis of native arteries of extremities with rest pain, any limb",
                      "hccbuddy.com I70.229 page (I70.221-I70.228 by limb)"),),
    ),
    Condition(
        ConditionId.OTHER_NEUROPATHIC,
        "Other nerve pain (neuropathic pain)",
        _icd("M79.2"),
        _sct("247398009"),
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


CrpsType = Literal["I", "II", "not_stated"]
CrpsLimb = Literal["upper", "lower", "other", "not_stated"]
CrpsSide = Literal["right", "left", "bilateral", "not_stated"]

_SIDE_DIGIT = {"right": "1", "left": "2", "bilateral": "3", "not_stated": "9"}


@dataclass(frozen=True)
class CrpsDetail:
    """What the physician documented about a CRPS: its type (I without, II with a confirmed nerve lesion,
    Budapest/IASP) and the limb and side. Each may be ``not_stated``."""

    type: CrpsType = "not_stated"
    limb: CrpsLimb = "not_stated"
    side: CrpsSide = "not_stated"

    @classmethod
    def of(cls, value: Any) -> CrpsDetail | None:
        """From the stored evaluation (``pain.crps``: a dict or None)."""
        if not isinstance(value, dict):
            return None
        return cls(type=value.get("type", "not_stated"), limb=value.get("limb", "not_stated"),
                   side=value.get("side", "not_stated"))

    def words(self) -> str:
        """"type I, left upper limb" (what is stated, nothing invented)."""
        parts = [f"type {self.type}"] if self.type != "not_stated" else []
        if self.limb in ("upper", "lower"):
            side = {"bilateral": "both", "not_stated": ""}.get(self.side, self.side)
            parts.append(f"{side} {self.limb} limb{'s' if self.side == 'bilateral' else ''}".strip())
        elif self.limb == "other":
            parts.append("other site")
        return ", ".join(parts)


def crps_icd10cm(detail: CrpsDetail | None) -> Coding | None:
    """The ICD-10-CM code that means exactly the documented CRPS, or None when the type is not stated
    (ICD-10-CM has no code for CRPS of unstated type) or CRPS II is at a site other than a limb.

    Type I: G90.51- upper limb, G90.52- lower limb (right 1, left 2, bilateral 3, side not stated 9), G90.59
    another site, G90.50 site not stated. Type II is causalgia: G56.4- upper limb, G57.7- lower limb (the same
    side digits, 0 for side not stated). Titles from the checked table (``ICD10CM_CHECKED``)."""
    if detail is None or detail.type == "not_stated":
        return None
    if detail.type == "I":
        if detail.limb == "not_stated":
            code = "G90.50"
        elif detail.limb == "other":
            code = "G90.59"
        else:
            code = f"G90.5{'1' if detail.limb == 'upper' else '2'}{_SIDE_DIGIT[detail.side]}"
    else:
        if detail.limb not in ("upper", "lower"):
            return None
        digit = "0" if detail.side == "not_stated" else _SIDE_DIGIT[detail.side]
        code = f"{'G56.4' if detail.limb == 'upper' else 'G57.7'}{digit}"
    return ICD10CM_CHECKED[code]


def icd10cm_for(condition_id: str | ConditionId, pain: dict[str, Any] | None) -> tuple[Coding, ...]:
    """The ICD-10-CM codes a reader writes for one recorded condition: the condition's own code, or for a
    CRPS the code its documented type and limb give (``pain.crps`` of the evaluation)."""
    condition = get_condition(condition_id)
    if condition.id is ConditionId.CRPS:
        coding = crps_icd10cm(CrpsDetail.of((pain or {}).get("crps")))
        return (coding,) if coding is not None else ()
    return condition.icd10cm


def snomed_for(condition_id: str | ConditionId, pain: dict[str, Any] | None) -> tuple[Coding, ...]:
    """The SNOMED CT codes for one recorded condition: a CRPS documented as type II gets the type II concept
    (408751001); otherwise the condition's own concept (for CRPS, the parent of both types)."""
    condition = get_condition(condition_id)
    if condition.id is ConditionId.CRPS:
        detail = CrpsDetail.of((pain or {}).get("crps"))
        if detail is not None and detail.type == "II":
            return (SNOMED_CHECKED["408751001"],)
    return condition.snomed


def unverified_codings() -> list[tuple[ConditionId, Coding]]:
    """Every code in the table that could not be confirmed (shown to the clinic's coder)."""
    return [(c.id, coding) for c in _CONDITIONS for coding in c.codings if not coding.verified]
