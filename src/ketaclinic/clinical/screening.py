"""Pre-treatment screening for low-dose IV ketamine (contract 4.2 of design.md).

``screen(request)`` is a pure function: the same request always gives the same result, with no
clock, database or randomness. It applies the rules in :data:`RULES` and returns

- ``findings``: each with a ``code``, a ``kind`` (contraindication, unmet_requirement, precaution,
  note), a message a physician can act on, and the evidence ``source`` id it rests on;
- ``decision``: any contraindication or unmet requirement -> ``not_eligible``; else any precaution
  -> ``eligible_with_precautions``; else ``eligible``. Notes never change the decision. The decision
  depends on the findings' kinds only (:func:`decide`), which is what makes it monotone: a change
  that adds or worsens a finding can never make it more permissive;
- ``evidence``: per condition, the ASRA 2018 level and grade for ketamine.

Where the numbers come from: ASRA 2018 gives *relative* contraindications only (with grades); the
contract turns some of them into hard stops for an outpatient clinic. The blood-pressure cut-offs
(180/110 and 160/100) and the pregnancy-test and escort notes are clinic policy (or the esketamine
label by analogy) and say so in their ``source``.

4.2 v2 (round 2) adds optional fields: ``patient.height_cm`` and ``breastfeeding``; absolute
``vitals`` (SpO2 < 92 % a contraindication, heart rate > 110 and a respiratory rate outside 10-24 a
precaution, all clinic policy); history items (cerebrovascular, coronary, thyroid, seizures, mania,
alcohol use); and medications matched by generic *and* brand name
(:mod:`ketaclinic.clinical.medications`). ``pain_not_chronic`` is a note, not an unmet requirement,
when the conditions include CRPS (the Budapest criteria set no duration). The screening is decision support: a physician
signs every evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from ketaclinic.clinical.conditions import CONDITIONS, ConditionId
from ketaclinic.clinical.medications import DrugClass, Match, match_medication
from ketaclinic.clinical.rules import Rule
from ketaclinic.clinical.vitals import Vitals
from ketaclinic.evidence.grades import B_LOW, C_LOW, EvidenceLevel
from ketaclinic.evidence.sources import CLINIC_POLICY, ref

RULE_VERSION = "screening-2026.12-2"
"""Stored with every screening result so a record says which rule set judged it."""

# --- thresholds (each with its source) ----------------------------------------------------------------

ADULT_AGE_YEARS = 18  # clinic policy: an adult clinic
CHRONIC_PAIN_MIN_WEEKS = 12  # treede2019_icd11: "persists or recurs for longer than 3 months" (about 12-13 weeks)
SYSTOLIC_UNCONTROLLED_MMHG = 180  # clinic policy (4.2); Del Sant 2020 calls > 180/110 transient hypertension
DIASTOLIC_UNCONTROLLED_MMHG = 110
SYSTOLIC_BORDERLINE_MMHG = 160  # clinic policy (4.2)
DIASTOLIC_BORDERLINE_MMHG = 100
SPO2_MIN_PCT = 92  # clinic policy: below this at screening is hypoxaemia (the in-infusion stop threshold too)
HEART_RATE_MAX_BPM = 110  # clinic policy: above this at screening is tachycardia (ketamine raises heart rate)
RESPIRATORY_RATE_RANGE = (10, 24)  # clinic policy: outside this (per min) at screening asks for a review
PREGNANCY_TEST_AGE_YEARS = (12, 55)  # clinic policy: ages at which a urine hCG is offered
KETAMINE_ALLERGY_TERMS = ("ketamine", "ketalar", "spravato")  # "esketamine", "s-ketamine" contain "ketamine"


# --- input vocabulary (contract 4.2) ------------------------------------------------------------------


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class Control(StrEnum):
    """``cardiovascular``, ``hypertension``."""

    NONE = "none"
    CONTROLLED = "controlled"
    POORLY_CONTROLLED = "poorly_controlled"


class Pressure(StrEnum):
    """``intracranial_pressure``, ``intraocular_pressure``."""

    NORMAL = "normal"
    ELEVATED = "elevated"


class Course(StrEnum):
    """``psychosis``, ``substance_use``."""

    NONE = "none"
    HISTORY = "history"
    ACTIVE = "active"


class HepaticImpairment(StrEnum):
    NONE = "none"
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


class Cerebrovascular(StrEnum):
    """``cerebrovascular`` (4.2 v2)."""

    NONE = "none"
    ANEURYSM_OR_AVM = "aneurysm_or_avm"
    INTRACEREBRAL_HEMORRHAGE_HISTORY = "intracerebral_hemorrhage_history"


class Coronary(StrEnum):
    """``coronary`` (4.2 v2): ``recent_event`` = myocardial infarction or unstable angina in the last 3 months."""

    NONE = "none"
    STABLE = "stable"
    RECENT_EVENT = "recent_event"


class Thyroid(StrEnum):
    """``thyroid`` (4.2 v2)."""

    NORMAL = "normal"
    HYPERTHYROID_TREATED = "hyperthyroid_treated"
    HYPERTHYROID_UNTREATED = "hyperthyroid_untreated"


class AlcoholUse(StrEnum):
    """``alcohol_use`` (4.2 v2)."""

    NONE = "none"
    MODERATE = "moderate"
    HEAVY = "heavy"


class PriorTreatment(StrEnum):
    ANTIDEPRESSANT = "antidepressant"
    GABAPENTINOID = "gabapentinoid"
    ANTICONVULSANT = "anticonvulsant"
    NSAID = "nsaid"
    OPIOID = "opioid"
    NERVE_BLOCK = "nerve_block"
    PHYSICAL_THERAPY = "physical_therapy"
    PSYCHOTHERAPY = "psychotherapy"
    SPINAL_CORD_STIMULATOR = "spinal_cord_stimulator"
    TOPICAL = "topical"
    OTHER = "other"


FreeText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _number_in(low: float, high: float, unit: str, *, integer: bool = False):
    """A validator that names the allowed range in its message (the CLI passes it through).

    It also refuses booleans and numbers written as strings, which pydantic would otherwise coerce.
    """
    kind = "a whole number" if integer else "a number"
    allowed = f"{kind} from {low:g} to {high:g}{(' ' + unit) if unit else ''}"

    def check(value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be {allowed}")
        if integer and value != int(value):
            raise ValueError(f"must be {allowed}")
        if not low <= value <= high:
            raise ValueError(f"must be {allowed}")
        return int(value) if integer else value

    return BeforeValidator(check)


AgeYears = Annotated[float, _number_in(0, 120, "years")]
WeightKg = Annotated[float, _number_in(2, 400, "kg (a body weight; 0 or less is impossible)")]
DurationWeeks = Annotated[float, _number_in(0, 5200, "weeks")]
HeightCm = Annotated[float, _number_in(40, 250, "cm")]
NrsScore = Annotated[int, _number_in(0, 10, "on the 0-10 numeric rating scale", integer=True)]

_FORBID = ConfigDict(extra="forbid", frozen=True)


class Patient(BaseModel):
    model_config = _FORBID

    age_years: AgeYears = Field(description="Age in years (allowed 0-120)")
    sex: Sex = Field(description="female, male, other or unknown")
    weight_kg: WeightKg = Field(description="Body weight in kg (allowed 2-400; dosing applies its own 30-250 kg limit)")
    pregnant: bool | None = Field(default=None, description="true, false, or omitted when not recorded")
    height_cm: HeightCm | None = Field(default=None, description="Height in cm (allowed 40-250; 4.2 v2, optional)")
    breastfeeding: bool | None = Field(default=None, description="true, false, or omitted when not recorded (4.2 v2)")


class CrpsIn(BaseModel):
    """What is documented about a CRPS (optional): type I or II (a confirmed nerve lesion makes it II),
    the limb and the side. It gives the exact ICD-10-CM code (clinical.conditions.crps_icd10cm)."""

    model_config = _FORBID

    type: Literal["I", "II", "not_stated"] = Field(default="not_stated", description="CRPS type: I, II or not_stated")
    limb: Literal["upper", "lower", "other", "not_stated"] = Field(
        default="not_stated", description="Affected limb: upper, lower, other (another site) or not_stated")
    side: Literal["right", "left", "bilateral", "not_stated"] = Field(
        default="not_stated", description="Side: right, left, bilateral or not_stated")


class Pain(BaseModel):
    model_config = _FORBID

    conditions: list[ConditionId] = Field(min_length=1, max_length=14, description="At least one condition id")
    crps: CrpsIn | None = Field(default=None, description="When conditions include crps: its type, limb and side")
    duration_weeks: DurationWeeks = Field(description="How long the pain has lasted, weeks (allowed 0-5200)")
    nrs_now: NrsScore | None = Field(default=None, description="Pain now on the 0-10 numeric rating scale")
    prior_treatments: list[PriorTreatment] = Field(max_length=11, description="Treatments already tried")

    @field_validator("conditions", "prior_treatments")
    @classmethod
    def _no_repeats(cls, values: list[StrEnum]) -> list[StrEnum]:
        return list(dict.fromkeys(values))

    @model_validator(mode="after")
    def _crps_detail_needs_crps(self) -> Pain:
        if self.crps is not None and ConditionId.CRPS not in self.conditions:
            raise ValueError("crps (type, limb, side) is recorded only when conditions include crps")
        return self


class History(BaseModel):
    model_config = _FORBID

    cardiovascular: Control
    hypertension: Control
    intracranial_pressure: Pressure
    intraocular_pressure: Pressure
    psychosis: Course
    hepatic_impairment: HepaticImpairment
    substance_use: Course
    # 4.2 v2: optional; omitted means not recorded (no finding either way)
    cerebrovascular: Cerebrovascular | None = None
    coronary: Coronary | None = None
    thyroid: Thyroid | None = None
    seizures: Control | None = None
    mania: Course | None = None
    alcohol_use: AlcoholUse | None = None


class ScreeningVitals(Vitals):
    """``vitals`` at screening (4.2 v2): blood pressure required; heart rate, SpO2 and respiratory rate
    optional, each judged as an absolute value when given. Ranges are plausibility limits."""

    heart_rate_bpm: float | None = Field(  # type: ignore[assignment]
        default=None, ge=20, le=250, description="Heart rate, beats per minute (allowed 20-250)")
    spo2_pct: float | None = Field(  # type: ignore[assignment]
        default=None, ge=50, le=100, description="Oxygen saturation by pulse oximetry, % (allowed 50-100)")
    respiratory_rate_per_min: float | None = Field(
        default=None, ge=2, le=80, description="Respiratory rate, breaths per minute (allowed 2-80)")


class ScreeningRequest(BaseModel):
    """The ``ketaclinic screen`` input (contract 4.2), plus an optional ``medications`` list."""

    model_config = _FORBID

    patient: Patient
    pain: Pain
    vitals: ScreeningVitals
    history: History
    allergies: list[FreeText] = Field(default_factory=list, max_length=50)
    medications: list[FreeText] = Field(
        default_factory=list, max_length=100, description="Current medicines by name (free text), checked for interactions"
    )


# --- output -------------------------------------------------------------------------------------------


class Kind(StrEnum):
    CONTRAINDICATION = "contraindication"
    UNMET_REQUIREMENT = "unmet_requirement"
    PRECAUTION = "precaution"
    NOTE = "note"


class Decision(StrEnum):
    ELIGIBLE = "eligible"
    ELIGIBLE_WITH_PRECAUTIONS = "eligible_with_precautions"
    NOT_ELIGIBLE = "not_eligible"


DECISION_RANK = {Decision.ELIGIBLE: 0, Decision.ELIGIBLE_WITH_PRECAUTIONS: 1, Decision.NOT_ELIGIBLE: 2}
_KIND_ORDER = {Kind.CONTRAINDICATION: 0, Kind.UNMET_REQUIREMENT: 1, Kind.PRECAUTION: 2, Kind.NOTE: 3}


@dataclass(frozen=True)
class Finding:
    code: str
    kind: Kind
    message: str
    source: str

    def __post_init__(self) -> None:
        ref(self.source)

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "kind": self.kind.value, "message": self.message, "source": self.source}


@dataclass(frozen=True)
class ConditionEvidence:
    condition: ConditionId
    name: str
    level: EvidenceLevel
    grade: str | None
    summary: str
    source: str

    def as_json(self) -> dict[str, Any]:
        return {
            "condition": self.condition.value,
            "name": self.name,
            "level": self.level.value,
            "grade": self.grade,
            "summary": self.summary,
            "source": self.source,
        }


@dataclass(frozen=True)
class ScreeningResult:
    decision: Decision
    findings: tuple[Finding, ...]
    evidence: tuple[ConditionEvidence, ...]
    rule_version: str = RULE_VERSION

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def as_json(self) -> dict[str, Any]:
        return {
            "decision": self.decision.value,
            "findings": [f.as_json() for f in self.findings],
            "evidence": [e.as_json() for e in self.evidence],
            "rule_version": self.rule_version,
        }


def decide(kinds: Iterable[Kind | str]) -> Decision:
    """The decision from the findings' kinds alone (contract 4.2)."""
    present = {Kind(k) for k in kinds}
    if Kind.CONTRAINDICATION in present or Kind.UNMET_REQUIREMENT in present:
        return Decision.NOT_ELIGIBLE
    if Kind.PRECAUTION in present:
        return Decision.ELIGIBLE_WITH_PRECAUTIONS
    return Decision.ELIGIBLE


# --- interacting medications --------------------------------------------------------------------------


@dataclass(frozen=True)
class InteractionClass:
    """One ``interaction_*`` finding: the drug class it fires for (by generic or brand name, see
    :mod:`ketaclinic.clinical.medications`), its kind, what it means and on whose authority."""

    code: str
    drug_class: DrugClass
    kind: Kind
    effect: str
    source: str
    examples: str = ""

    def __post_init__(self) -> None:
        ref(self.source)

    def matches(self, medication: str) -> list[Match]:
        return [m for m in match_medication(medication) if self.drug_class in m.drug.classes]


INTERACTIONS: tuple[InteractionClass, ...] = (
    InteractionClass(
        "interaction_maoi", DrugClass.MAOI, Kind.PRECAUTION,
        "an MAO inhibitor (linezolid and methylene blue are MAO inhibitors too, FDA 2011) may increase blood pressure "
        "with (es)ketamine: check blood pressure before the dose and closely during and after the infusion; the "
        "physician weighs stopping or timing it",
        ref("spravato_pi"),
        "phenelzine/Nardil, tranylcypromine/Parnate, isocarboxazid/Marplan, selegiline/Emsam/Eldepryl/Zelapar, "
        "rasagiline/Azilect, safinamide, moclobemide, linezolid/Zyvox, methylene blue/ProvayBlue",
    ),
    InteractionClass(
        "interaction_seizure_threshold", DrugClass.SEIZURE_THRESHOLD, Kind.PRECAUTION,
        "theophylline or aminophylline with ketamine may lower the seizure threshold (ketamine label: do not "
        "co-administer); the physician decides whether to hold it or to proceed with seizure precautions",
        ref("ketalar_pi"),
        "theophylline/Theo-24/Uniphyl/Elixophyllin, aminophylline",
    ),
    InteractionClass(
        "interaction_benzodiazepine", DrugClass.BENZODIAZEPINE, Kind.NOTE,
        "adds to ketamine's sedation (CNS depressants, esketamine label); benzodiazepines may also blunt the "
        "response. Note the dose and timing; midazolam is the usual rescue for distressing dissociation",
        ref("spravato_pi"),
        "lorazepam/Ativan, clonazepam/Klonopin, diazepam/Valium, alprazolam/Xanax, temazepam/Restoril, "
        "triazolam/Halcion, midazolam, ...",
    ),
    InteractionClass(
        "interaction_opioid", DrugClass.OPIOID, Kind.NOTE,
        "adds to sedation and respiratory depression (CNS depressants, esketamine label); monitor SpO2 and "
        "respiratory rate",
        ref("spravato_pi"),
        "oxycodone/OxyContin/Roxicodone/Percocet, hydrocodone/Norco/Vicodin, hydromorphone/Dilaudid/Exalgo, "
        "buprenorphine/Suboxone/Subutex/Butrans/Belbuca, fentanyl/Duragesic, morphine/MS Contin, tapentadol/Nucynta, "
        "tramadol/Ultram, oxymorphone/Opana, methadone/Dolophine, codeine, ...",
    ),
    InteractionClass(
        "interaction_cns_depressant", DrugClass.CNS_DEPRESSANT, Kind.NOTE,
        "another CNS depressant (gabapentinoid, Z-drug hypnotic or barbiturate): with ketamine, more sedation and "
        "respiratory depression are possible (ketamine label 7.3); note the dose and timing and watch sedation, SpO2 "
        "and respiratory rate",
        ref("ketalar_pi"),
        "gabapentin/Neurontin/Gralise/Horizant, pregabalin/Lyrica, zolpidem/Ambien, zopiclone, eszopiclone/Lunesta, "
        "zaleplon/Sonata, phenobarbital",
    ),
    InteractionClass(
        "interaction_lamotrigine", DrugClass.LAMOTRIGINE, Kind.NOTE,
        "lamotrigine reduced ketamine's perceptual and cognitive effects in healthy volunteers and may reduce "
        "its effect (not confirmed in patients)",
        ref("anand2000_lamotrigine"),
        "lamotrigine/Lamictal",
    ),
    InteractionClass(
        "interaction_cyp3a4_inhibitor", DrugClass.CYP3A4_INHIBITOR, Kind.NOTE,
        "strong CYP3A inhibitors raise ketamine exposure (clarithromycin: oral S-ketamine AUC 2.6-fold; smaller "
        "after IV dosing; itraconazole did not raise it in one study); start at the low end and titrate",
        ref("hagelberg2010_clarithromycin"),
        "clarithromycin/Biaxin, nirmatrelvir-ritonavir/Paxlovid, ritonavir/Norvir, ketoconazole, itraconazole, "
        "voriconazole, erythromycin, cobicistat, grapefruit",
    ),
    InteractionClass(
        "interaction_cyp2b6_inhibitor", DrugClass.CYP2B6_INHIBITOR, Kind.NOTE,
        "the CYP2B6 inhibitor ticlopidine raised oral S-ketamine AUC 2.4-fold; start at the low end and titrate",
        ref("peltoniemi2011_ticlopidine"),
        "ticlopidine",
    ),
    InteractionClass(
        "interaction_cyp_inducer", DrugClass.CYP_INDUCER, Kind.NOTE,
        "enzyme inducers lower ketamine exposure (rifampicin: AUC -14 % IV, -86 % oral); a usual dose may be "
        "less effective",
        ref("peltoniemi2012_rifampicin"),
        "carbamazepine/Tegretol, phenytoin/Dilantin, rifampin/Rifadin, phenobarbital, St John's wort",
    ),
    InteractionClass(
        "interaction_psychostimulant", DrugClass.PSYCHOSTIMULANT, Kind.NOTE,
        "psychostimulants may increase blood pressure with (es)ketamine; monitor blood pressure closely",
        ref("spravato_pi"),
        "amphetamine/Adderall, lisdexamfetamine/Vyvanse, methylphenidate/Ritalin/Concerta, "
        "dexmethylphenidate/Focalin, modafinil/Provigil, armodafinil/Nuvigil",
    ),
)
_OPIOIDS = next(i for i in INTERACTIONS if i.code == "interaction_opioid")


def _label(medication: str, found: list[Match]) -> str:
    """The line as written, with the generic name(s) when it was recognised by a brand name."""
    if any(m.by_brand for m in found):
        return f"{medication} ({', '.join(sorted({m.drug.generic for m in found}))})"
    return medication


def _interaction_findings(medications: Iterable[str]) -> list[Finding]:
    meds = list(medications)
    findings: list[Finding] = []
    for interaction in INTERACTIONS:
        labels = [_label(med, found) for med in meds if (found := interaction.matches(med))]
        if labels:
            listed = ", ".join(dict.fromkeys(labels))
            findings.append(Finding(interaction.code, interaction.kind, f"Listed {listed}: {interaction.effect}.",
                                    interaction.source))
    if any(_OPIOIDS.matches(m) for m in meds):
        findings.append(
            Finding(
                "opioid_mme_baseline",
                Kind.NOTE,
                "Record the baseline daily opioid dose in morphine milligram equivalents (CDC 2022 factors; fentanyl "
                "patches by mcg/h) so that a change in opioid use can be measured.",
                ref("cdc2022_opioids"),
            )
        )
    return findings


# --- the rules ----------------------------------------------------------------------------------------


def _allergy_matches(allergies: Iterable[str]) -> list[str]:
    return [a for a in allergies if any(term in a.casefold() for term in KETAMINE_ALLERGY_TERMS)]


def _blood_pressure(vitals: Vitals) -> str:
    return f"{vitals.systolic_mmhg:g}/{vitals.diastolic_mmhg:g} mmHg"


def _hypertension_uncontrolled_by_reading(v: Vitals) -> bool:
    return v.systolic_mmhg >= SYSTOLIC_UNCONTROLLED_MMHG or v.diastolic_mmhg >= DIASTOLIC_UNCONTROLLED_MMHG


def _hypertension_borderline(v: Vitals) -> bool:
    return (
        v.systolic_mmhg >= SYSTOLIC_BORDERLINE_MMHG or v.diastolic_mmhg >= DIASTOLIC_BORDERLINE_MMHG
    ) and not _hypertension_uncontrolled_by_reading(v)


def _eligibility_findings(r: ScreeningRequest) -> list[Finding]:
    p, pain, v, h = r.patient, r.pain, r.vitals, r.history
    out: list[Finding] = []

    def add(code: str, kind: Kind, message: str, source: str) -> None:
        out.append(Finding(code, kind, message, source))

    if p.age_years < ADULT_AGE_YEARS:
        add("age_under_18", Kind.CONTRAINDICATION,
            f"Age {p.age_years:g} years: this is an adult clinic (18 and over); refer to a paediatric pain service.",
            CLINIC_POLICY)
    if p.pregnant:
        add("pregnancy", Kind.CONTRAINDICATION,
            "Pregnant: ketamine infusions should not be used in pregnancy (ASRA 2018, B, Low).", ref("asra2018"))
    allergic = _allergy_matches(r.allergies)
    if allergic:
        add("ketamine_allergy", Kind.CONTRAINDICATION,
            f"Allergy recorded ({', '.join(allergic)}): known hypersensitivity to ketamine or esketamine is a "
            "contraindication (esketamine label).", ref("spravato_pi"))
    if h.cardiovascular is Control.POORLY_CONTROLLED:
        add("cardiovascular_unstable", Kind.CONTRAINDICATION,
            "Poorly controlled cardiovascular disease: do not give ketamine until it is controlled (ASRA 2018, B, Low).",
            ref("asra2018"))
    if h.hypertension is Control.POORLY_CONTROLLED:
        add("hypertension_uncontrolled", Kind.CONTRAINDICATION,
            "Poorly controlled hypertension: ketamine raises blood pressure; control it first (ASRA 2018, B, Low).",
            ref("asra2018"))
    elif _hypertension_uncontrolled_by_reading(v):
        add("hypertension_uncontrolled", Kind.CONTRAINDICATION,
            f"Blood pressure {_blood_pressure(v)} is at or above {SYSTOLIC_UNCONTROLLED_MMHG}/"
            f"{DIASTOLIC_UNCONTROLLED_MMHG}: do not start; repeat the reading and treat the hypertension first.",
            CLINIC_POLICY)
    if h.psychosis is Course.ACTIVE:
        add("psychosis_active", Kind.CONTRAINDICATION,
            "Active psychosis: avoid ketamine (ASRA 2018, B, Low).", ref("asra2018"))
    if h.hepatic_impairment is HepaticImpairment.SEVERE:
        add("hepatic_severe", Kind.CONTRAINDICATION,
            "Severe hepatic disease: avoid ketamine (ASRA 2018, C, Low).", ref("asra2018"))
    if h.substance_use is Course.ACTIVE:
        add("substance_use_active", Kind.CONTRAINDICATION,
            "Active substance misuse: no serial ketamine infusions (ASRA 2018, C, Low).", ref("asra2018"))
    # 4.2 v2 history and absolute vital signs
    if h.cerebrovascular is not None and h.cerebrovascular is not Cerebrovascular.NONE:
        what = {Cerebrovascular.ANEURYSM_OR_AVM: "aneurysmal vascular disease or an arteriovenous malformation",
                Cerebrovascular.INTRACEREBRAL_HEMORRHAGE_HISTORY: "a history of intracerebral haemorrhage"}
        add("cerebrovascular_risk", Kind.CONTRAINDICATION,
            f"{what[h.cerebrovascular].capitalize()}: ketamine raises blood pressure; the esketamine label "
            "contraindicates it in these conditions (applied to IV ketamine).", ref("spravato_pi"))
    if h.coronary is Coronary.RECENT_EVENT:
        add("coronary_recent_event", Kind.CONTRAINDICATION,
            "Myocardial infarction or unstable angina in the last 3 months: poorly controlled cardiovascular disease; "
            "do not give ketamine until cardiology has stabilised it (ASRA 2018, B, Low).", ref("asra2018"))
    if h.thyroid is Thyroid.HYPERTHYROID_UNTREATED:
        add("hyperthyroidism_untreated", Kind.CONTRAINDICATION,
            "Untreated hyperthyroidism: ketamine's sympathetic stimulation adds to the thyrotoxic tachycardia and "
            "hypertension; treat the thyroid first (clinic policy).", CLINIC_POLICY)
    if h.mania is Course.ACTIVE:
        add("mania_active", Kind.CONTRAINDICATION,
            "Active mania or hypomania: ketamine can worsen it; defer until the mood disorder is stable "
            "(clinic policy, by analogy with ASRA 2018's poorly controlled psychoses).", CLINIC_POLICY)
    if v.spo2_pct is not None and v.spo2_pct < SPO2_MIN_PCT:
        add("hypoxaemia", Kind.CONTRAINDICATION,
            f"SpO2 {v.spo2_pct:g} % at screening is below {SPO2_MIN_PCT} %: find and treat the cause before any "
            "sedating infusion; repeat the reading (clinic policy).", CLINIC_POLICY)

    if pain.duration_weeks < CHRONIC_PAIN_MIN_WEEKS:
        if ConditionId.CRPS in pain.conditions:
            add("pain_not_chronic", Kind.NOTE,
                f"Pain for {pain.duration_weeks:g} weeks (under {CHRONIC_PAIN_MIN_WEEKS}): for CRPS the Budapest "
                "criteria set no minimum duration, so the 3-month rule does not apply; confirm the Budapest clinical "
                "criteria are met and documented." + (
                    " The other conditions listed are not yet chronic and are not the indication."
                    if len(pain.conditions) > 1 else ""),
                ref("harden2010_budapest"))
        else:
            add("pain_not_chronic", Kind.UNMET_REQUIREMENT,
                f"Pain for {pain.duration_weeks:g} weeks: chronic pain persists or recurs for longer than 3 months "
                f"(at least {CHRONIC_PAIN_MIN_WEEKS} weeks; IASP / ICD-11).", ref("treede2019_icd11"))
    if not pain.prior_treatments:
        add("not_refractory", Kind.UNMET_REQUIREMENT,
            "No prior treatment recorded: ketamine is for pain that usual medicines and non-drug treatments have "
            "not relieved; record what was tried (clinic policy).", CLINIC_POLICY)

    if h.intracranial_pressure is Pressure.ELEVATED:
        add("intracranial_pressure", Kind.PRECAUTION,
            "Raised intracranial pressure: avoid, or use lower doses with extreme caution (ASRA 2018, C, Low).",
            ref("asra2018"))
    if h.intraocular_pressure is Pressure.ELEVATED:
        add("intraocular_pressure", Kind.PRECAUTION,
            "Raised intraocular pressure: avoid, or use lower doses with extreme caution (ASRA 2018, C, Low).",
            ref("asra2018"))
    if h.psychosis is Course.HISTORY:
        add("psychosis_history", Kind.PRECAUTION,
            "History of psychosis: psychiatric review before treatment and close watch for psychotomimetic effects.",
            CLINIC_POLICY)
    if h.hepatic_impairment is HepaticImpairment.MODERATE:
        add("hepatic_moderate", Kind.PRECAUTION,
            "Moderate hepatic disease: use with caution; liver tests at baseline and after the infusion "
            "(ASRA 2018, C, Low).", ref("asra2018"))
    if h.substance_use is Course.HISTORY:
        add("substance_use_history", Kind.PRECAUTION,
            "History of substance misuse: universal precautions for misuse (PDMP check, agreement, follow-up "
            "screening) before serial infusions.", CLINIC_POLICY)
    if h.hypertension is not Control.POORLY_CONTROLLED and _hypertension_borderline(v):
        add("hypertension_borderline", Kind.PRECAUTION,
            f"Blood pressure {_blood_pressure(v)} is {SYSTOLIC_BORDERLINE_MMHG}-{SYSTOLIC_UNCONTROLLED_MMHG - 1} "
            f"systolic or {DIASTOLIC_BORDERLINE_MMHG}-{DIASTOLIC_UNCONTROLLED_MMHG - 1} diastolic: recheck before the "
            "infusion, defer if it stays there, and monitor blood pressure closely.", CLINIC_POLICY)
    if h.coronary is Coronary.STABLE:
        add("coronary_disease", Kind.PRECAUTION,
            "Stable coronary artery disease: baseline ECG to rule out poorly controlled ischaemic heart disease, and "
            "close heart-rate and blood-pressure monitoring (ASRA 2018, C, Low).", ref("asra2018"))
    if h.mania is Course.HISTORY:
        add("mania_history", Kind.PRECAUTION,
            "History of mania or hypomania (bipolar disorder): psychiatric review before treatment; watch for a "
            "switch into mania after infusions (clinic policy).", CLINIC_POLICY)
    if h.seizures is Control.POORLY_CONTROLLED:
        add("seizures_poorly_controlled", Kind.PRECAUTION,
            "Poorly controlled seizures: neurology review before treatment, seizure precautions during the infusion, "
            "and no drugs that lower the seizure threshold (clinic policy).", CLINIC_POLICY)
    if h.alcohol_use is AlcoholUse.HEAVY:
        add("alcohol_heavy", Kind.PRECAUTION,
            "Heavy alcohol use: liver tests at baseline and after the infusion (liver-toxicity risk), screen for "
            "misuse, and no infusion while intoxicated (ketamine label: caution in chronic alcohol use).",
            ref("ketalar_pi"))
    if p.breastfeeding:
        add("breastfeeding", Kind.PRECAUTION,
            "Breastfeeding: ketamine passes into milk and its effect on the infant is unknown; the esketamine label "
            "advises against breastfeeding during treatment. Discuss pausing breastfeeding or expressing and "
            "discarding milk.", ref("spravato_pi"))
    if v.heart_rate_bpm is not None and v.heart_rate_bpm > HEART_RATE_MAX_BPM:
        add("tachycardia", Kind.PRECAUTION,
            f"Heart rate {v.heart_rate_bpm:g}/min at screening is above {HEART_RATE_MAX_BPM}: ketamine raises heart "
            "rate; find the cause (pain, anxiety, thyroid, dehydration), repeat the reading and get an ECG if it "
            "persists (clinic policy).", CLINIC_POLICY)
    low_rr, high_rr = RESPIRATORY_RATE_RANGE
    rr = v.respiratory_rate_per_min
    if rr is not None and not low_rr <= rr <= high_rr:
        add("respiratory_rate_abnormal", Kind.PRECAUTION,
            f"Respiratory rate {rr:g}/min at screening is outside {low_rr}-{high_rr}: repeat it and find the cause "
            "before a sedating infusion (clinic policy).", CLINIC_POLICY)
    return out


def _note_findings(r: ScreeningRequest) -> list[Finding]:
    p, h = r.patient, r.history
    out: list[Finding] = []
    conditions = [CONDITIONS[c] for c in r.pain.conditions]

    if any(c.evidence.level is EvidenceLevel.MODERATE for c in conditions):
        out.append(Finding(
            "crps_evidence", Kind.NOTE,
            "CRPS has the strongest evidence for ketamine infusions (ASRA 2018: moderate evidence of improvement for "
            "up to 12 weeks, grade B).", ref("asra2018")))
    weak = [c for c in conditions if c.weak_or_no_evidence]
    if weak and not any(c.evidence.level in (EvidenceLevel.MODERATE, EvidenceLevel.WEAK) for c in conditions):
        names = ", ".join(c.name for c in weak)
        out.append(Finding(
            "weak_evidence_consent", Kind.NOTE,
            f"Weak or no evidence for ketamine in {names} (ASRA 2018): document the clinical rationale and obtain "
            "informed consent that names the uncertain benefit.", CLINIC_POLICY))
    elif weak:
        names = ", ".join(c.name for c in weak)
        out.append(Finding(
            "weak_evidence_consent", Kind.NOTE,
            f"The other conditions listed ({names}) have weak or no evidence (ASRA 2018): if they are the target of "
            "treatment, document the rationale and the consent.", CLINIC_POLICY))
    if any(c.id is ConditionId.SPINAL_CORD_INJURY for c in conditions):
        out.append(Finding(
            "sci_short_term_evidence", Kind.NOTE,
            "Spinal cord injury pain: weak evidence of short-term benefit only (ASRA 2018, C, Low); set expectations.",
            ref("asra2018")))

    if h.hepatic_impairment is HepaticImpairment.MILD:
        out.append(Finding(
            "hepatic_mild", Kind.NOTE,
            "Mild hepatic impairment: consider liver tests at baseline and before repeat courses; repeated multi-day "
            "courses have caused drug-induced liver injury.", ref("noppers2011")))
    if h.cardiovascular is Control.CONTROLLED:
        out.append(Finding(
            "baseline_ecg", Kind.NOTE,
            "Controlled cardiovascular disease: baseline ECG to rule out poorly controlled ischaemic heart disease "
            "(ASRA 2018, C, Low).", ref("asra2018")))
    if h.hypertension is Control.CONTROLLED:
        out.append(Finding(
            "hypertension_controlled", Kind.NOTE,
            "Treated hypertension: take the usual antihypertensives on the day; check blood pressure before the dose, "
            "about 40 minutes in, and until it is stable.", ref("spravato_pi")))

    low, high = PREGNANCY_TEST_AGE_YEARS
    if p.sex is Sex.FEMALE and low <= p.age_years <= high and not p.pregnant:
        recorded = "" if p.pregnant is False else " Pregnancy status was not recorded."
        out.append(Finding(
            "pregnancy_test", Kind.NOTE,
            f"Could become pregnant (female, {low}-{high} years): urine pregnancy test before each course "
            f"(clinic policy; pregnancy is a contraindication).{recorded}", CLINIC_POLICY))

    out.append(Finding(
        "escort_no_driving", Kind.NOTE,
        "An adult escort must take the patient home; no driving or machinery until the next day after a restful "
        "sleep (esketamine label, applied to IV ketamine).", ref("spravato_pi")))
    out.extend(_interaction_findings(r.medications))
    return out


def _evidence(r: ScreeningRequest) -> tuple[ConditionEvidence, ...]:
    rows = []
    for cid in r.pain.conditions:
        c = CONDITIONS[cid]
        rows.append(ConditionEvidence(
            c.id, c.name, c.evidence.level, c.evidence.grade.label() if c.evidence.grade else None,
            c.evidence.summary, c.evidence.source))
    return tuple(rows)


def screen(request: ScreeningRequest) -> ScreeningResult:
    """Judge one request against every screening rule; pure and deterministic."""
    findings = _eligibility_findings(request) + _note_findings(request)
    findings.sort(key=lambda f: _KIND_ORDER[f.kind])  # stable: rule order within a kind
    return ScreeningResult(decide(f.kind for f in findings), tuple(findings), _evidence(request))


# --- the rule catalogue (docs/clinical-rules.md is generated from it) ----------------------------------


def _rule(code: str, kind: Kind, threshold: str, action: str, source: str, grade: str | None = None) -> Rule:
    return Rule(code=code, domain="screening", kind=kind.value, threshold=threshold, action=action,
                source=source, grade=grade)


_BL, _CL = B_LOW.label(), C_LOW.label()

RULES: tuple[Rule, ...] = (
    _rule("age_under_18", Kind.CONTRAINDICATION, "age_years < 18", "not eligible: adult clinic; refer", CLINIC_POLICY),
    _rule("pregnancy", Kind.CONTRAINDICATION, "pregnant = true", "not eligible", "asra2018", _BL),
    _rule("ketamine_allergy", Kind.CONTRAINDICATION,
          "an allergy naming ketamine, esketamine, S-ketamine, Ketalar or Spravato (case-insensitive)",
          "not eligible", "spravato_pi"),
    _rule("cardiovascular_unstable", Kind.CONTRAINDICATION, "cardiovascular = poorly_controlled", "not eligible",
          "asra2018", _BL),
    _rule("hypertension_uncontrolled", Kind.CONTRAINDICATION, "hypertension = poorly_controlled",
          "not eligible; control blood pressure first", "asra2018", _BL),
    _rule("hypertension_uncontrolled", Kind.CONTRAINDICATION,
          f"systolic >= {SYSTOLIC_UNCONTROLLED_MMHG} or diastolic >= {DIASTOLIC_UNCONTROLLED_MMHG} mmHg",
          "not eligible today; repeat reading, treat hypertension", CLINIC_POLICY),
    _rule("psychosis_active", Kind.CONTRAINDICATION, "psychosis = active", "not eligible", "asra2018", _BL),
    _rule("hepatic_severe", Kind.CONTRAINDICATION, "hepatic_impairment = severe", "not eligible", "asra2018", _CL),
    _rule("substance_use_active", Kind.CONTRAINDICATION, "substance_use = active",
          "not eligible (no serial infusions)", "asra2018", _CL),
    _rule("cerebrovascular_risk", Kind.CONTRAINDICATION,
          "cerebrovascular = aneurysm_or_avm or intracerebral_hemorrhage_history",
          "not eligible (esketamine label contraindications, applied to IV ketamine)", "spravato_pi"),
    _rule("coronary_recent_event", Kind.CONTRAINDICATION,
          "coronary = recent_event (myocardial infarction or unstable angina in the last 3 months)",
          "not eligible: poorly controlled cardiovascular disease", "asra2018", _BL),
    _rule("hyperthyroidism_untreated", Kind.CONTRAINDICATION, "thyroid = hyperthyroid_untreated",
          "not eligible: treat the thyroid first", CLINIC_POLICY),
    _rule("mania_active", Kind.CONTRAINDICATION, "mania = active", "not eligible: defer until stable", CLINIC_POLICY),
    _rule("hypoxaemia", Kind.CONTRAINDICATION, f"spo2_pct < {SPO2_MIN_PCT} at screening",
          "not eligible today: repeat, find and treat the cause", CLINIC_POLICY),
    _rule("pain_not_chronic", Kind.UNMET_REQUIREMENT,
          f"duration_weeks < {CHRONIC_PAIN_MIN_WEEKS} and conditions do not include crps",
          "not eligible: pain not yet chronic (persists or recurs > 3 months)", "treede2019_icd11"),
    _rule("pain_not_chronic", Kind.NOTE, f"duration_weeks < {CHRONIC_PAIN_MIN_WEEKS} and conditions include crps",
          "no duration rule for CRPS (Budapest criteria): confirm and document the criteria", "harden2010_budapest"),
    _rule("not_refractory", Kind.UNMET_REQUIREMENT, "prior_treatments is empty",
          "not eligible: record the treatments tried", CLINIC_POLICY),
    _rule("intracranial_pressure", Kind.PRECAUTION, "intracranial_pressure = elevated",
          "avoid, or lower doses with extreme caution", "asra2018", _CL),
    _rule("intraocular_pressure", Kind.PRECAUTION, "intraocular_pressure = elevated",
          "avoid, or lower doses with extreme caution", "asra2018", _CL),
    _rule("psychosis_history", Kind.PRECAUTION, "psychosis = history",
          "psychiatric review; watch for psychotomimetic effects", CLINIC_POLICY),
    _rule("hepatic_moderate", Kind.PRECAUTION, "hepatic_impairment = moderate",
          "caution; liver tests before and after", "asra2018", _CL),
    _rule("substance_use_history", Kind.PRECAUTION, "substance_use = history",
          "universal precautions for misuse", CLINIC_POLICY),
    _rule("hypertension_borderline", Kind.PRECAUTION,
          f"systolic {SYSTOLIC_BORDERLINE_MMHG}-{SYSTOLIC_UNCONTROLLED_MMHG - 1} or diastolic "
          f"{DIASTOLIC_BORDERLINE_MMHG}-{DIASTOLIC_UNCONTROLLED_MMHG - 1} mmHg (and not uncontrolled)",
          "recheck; defer if persistent; close blood-pressure monitoring", CLINIC_POLICY),
    _rule("coronary_disease", Kind.PRECAUTION, "coronary = stable", "baseline ECG; close HR and BP monitoring",
          "asra2018", _CL),
    _rule("mania_history", Kind.PRECAUTION, "mania = history", "psychiatric review; watch for a switch into mania",
          CLINIC_POLICY),
    _rule("seizures_poorly_controlled", Kind.PRECAUTION, "seizures = poorly_controlled",
          "neurology review; seizure precautions", CLINIC_POLICY),
    _rule("alcohol_heavy", Kind.PRECAUTION, "alcohol_use = heavy", "liver tests before and after; misuse screen",
          "ketalar_pi"),
    _rule("breastfeeding", Kind.PRECAUTION, "breastfeeding = true",
          "discuss pausing breastfeeding (esketamine label: not recommended)", "spravato_pi"),
    _rule("tachycardia", Kind.PRECAUTION, f"heart_rate_bpm > {HEART_RATE_MAX_BPM} at screening",
          "repeat; find the cause; ECG if persistent", CLINIC_POLICY),
    _rule("respiratory_rate_abnormal", Kind.PRECAUTION,
          f"respiratory_rate_per_min < {RESPIRATORY_RATE_RANGE[0]} or > {RESPIRATORY_RATE_RANGE[1]} at screening",
          "repeat; find the cause before a sedating infusion", CLINIC_POLICY),
    _rule("crps_evidence", Kind.NOTE, "conditions include crps", "note the strongest evidence (moderate, B)",
          "asra2018", "B"),
    _rule("weak_evidence_consent", Kind.NOTE, "a condition with weak/no evidence (ASRA D, Low, or not addressed)",
          "document rationale and informed consent", CLINIC_POLICY),
    _rule("sci_short_term_evidence", Kind.NOTE, "conditions include spinal_cord_injury",
          "set expectations: short-term benefit only", "asra2018", _CL),
    _rule("hepatic_mild", Kind.NOTE, "hepatic_impairment = mild", "consider liver tests at baseline and before repeats",
          "noppers2011"),
    _rule("baseline_ecg", Kind.NOTE, "cardiovascular = controlled", "baseline ECG", "asra2018", _CL),
    _rule("hypertension_controlled", Kind.NOTE, "hypertension = controlled",
          "blood pressure before, ~40 min in, and until stable", "spravato_pi"),
    _rule("pregnancy_test", Kind.NOTE,
          f"sex = female, age {PREGNANCY_TEST_AGE_YEARS[0]}-{PREGNANCY_TEST_AGE_YEARS[1]}, not pregnant",
          "urine pregnancy test before each course", CLINIC_POLICY),
    _rule("escort_no_driving", Kind.NOTE, "always", "escort home; no driving until the next day after sleep",
          "spravato_pi"),
    *(
        _rule(i.code, i.kind, "medications include (generic or brand name, whole word, any case or dose) "
              + i.examples, i.effect, i.source)
        for i in INTERACTIONS
    ),
    _rule("opioid_mme_baseline", Kind.NOTE, "medications include an opioid", "record baseline daily MME",
          "cdc2022_opioids"),
)
