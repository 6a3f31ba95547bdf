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
label by analogy) and say so in their ``source``. The screening is decision support: a physician
signs every evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator

from ketaclinic.clinical.conditions import CONDITIONS, ConditionId
from ketaclinic.clinical.rules import Rule
from ketaclinic.clinical.vitals import Vitals
from ketaclinic.evidence.grades import B_LOW, C_LOW, EvidenceLevel
from ketaclinic.evidence.sources import CLINIC_POLICY, ref

RULE_VERSION = "screening-2026.11-1"
"""Stored with every screening result so a record says which rule set judged it."""

# --- thresholds (each with its source) ----------------------------------------------------------------

ADULT_AGE_YEARS = 18  # clinic policy: an adult clinic
CHRONIC_PAIN_MIN_WEEKS = 12  # seed_chronic_definition: "must last for more than 12 weeks"
SYSTOLIC_UNCONTROLLED_MMHG = 180  # clinic policy (4.2); Del Sant 2020 calls > 180/110 transient hypertension
DIASTOLIC_UNCONTROLLED_MMHG = 110
SYSTOLIC_BORDERLINE_MMHG = 160  # clinic policy (4.2)
DIASTOLIC_BORDERLINE_MMHG = 100
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
NrsScore = Annotated[int, _number_in(0, 10, "on the 0-10 numeric rating scale", integer=True)]

_FORBID = ConfigDict(extra="forbid", frozen=True)


class Patient(BaseModel):
    model_config = _FORBID

    age_years: AgeYears = Field(description="Age in years (allowed 0-120)")
    sex: Sex = Field(description="female, male, other or unknown")
    weight_kg: WeightKg = Field(description="Body weight in kg (allowed 2-400; dosing applies its own 30-250 kg limit)")
    pregnant: bool | None = Field(default=None, description="true, false, or omitted when not recorded")


class Pain(BaseModel):
    model_config = _FORBID

    conditions: list[ConditionId] = Field(min_length=1, max_length=14, description="At least one condition id")
    duration_weeks: DurationWeeks = Field(description="How long the pain has lasted, weeks (allowed 0-5200)")
    nrs_now: NrsScore | None = Field(default=None, description="Pain now on the 0-10 numeric rating scale")
    prior_treatments: list[PriorTreatment] = Field(max_length=11, description="Treatments already tried")

    @field_validator("conditions", "prior_treatments")
    @classmethod
    def _no_repeats(cls, values: list[StrEnum]) -> list[StrEnum]:
        return list(dict.fromkeys(values))


class History(BaseModel):
    model_config = _FORBID

    cardiovascular: Control
    hypertension: Control
    intracranial_pressure: Pressure
    intraocular_pressure: Pressure
    psychosis: Course
    hepatic_impairment: HepaticImpairment
    substance_use: Course


class ScreeningRequest(BaseModel):
    """The ``ketaclinic screen`` input (contract 4.2), plus an optional ``medications`` list."""

    model_config = _FORBID

    patient: Patient
    pain: Pain
    vitals: Vitals
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
    code: str
    names: tuple[str, ...]
    effect: str
    source: str

    def __post_init__(self) -> None:
        ref(self.source)

    def matches(self, medication: str) -> bool:
        text = medication.casefold()
        return any(name in text for name in self.names)


INTERACTIONS: tuple[InteractionClass, ...] = (
    InteractionClass(
        "interaction_benzodiazepine",
        ("benzodiazepine", "alprazolam", "clonazepam", "diazepam", "lorazepam", "midazolam", "temazepam",
         "oxazepam", "chlordiazepoxide", "clobazam", "clorazepate", "triazolam"),
        "adds to ketamine's sedation (CNS depressants, esketamine label); benzodiazepines may also blunt the "
        "response. Note the dose and timing; midazolam is the usual rescue for distressing dissociation",
        ref("spravato_pi"),
    ),
    InteractionClass(
        "interaction_lamotrigine",
        ("lamotrigine", "lamictal"),
        "lamotrigine reduced ketamine's perceptual and cognitive effects in healthy volunteers and may reduce "
        "its effect (not confirmed in patients)",
        ref("anand2000_lamotrigine"),
    ),
    InteractionClass(
        "interaction_cyp3a4_inhibitor",
        ("clarithromycin", "erythromycin", "ketoconazole", "ritonavir", "cobicistat", "grapefruit"),
        "strong CYP3A inhibitors raise ketamine exposure (clarithromycin: oral S-ketamine AUC 2.6-fold; smaller "
        "after IV dosing); start at the low end and titrate",
        ref("hagelberg2010_clarithromycin"),
    ),
    InteractionClass(
        "interaction_cyp2b6_inhibitor",
        ("ticlopidine",),
        "the CYP2B6 inhibitor ticlopidine raised oral S-ketamine AUC 2.4-fold; start at the low end and titrate",
        ref("peltoniemi2011_ticlopidine"),
    ),
    InteractionClass(
        "interaction_cyp_inducer",
        ("rifampicin", "rifampin", "carbamazepine", "phenytoin", "phenobarbital", "st john", "st. john",
         "hypericum"),
        "enzyme inducers lower ketamine exposure (rifampicin: AUC -14 % IV, -86 % oral); a usual dose may be "
        "less effective",
        ref("peltoniemi2012_rifampicin"),
    ),
    InteractionClass(
        "interaction_maoi",
        ("phenelzine", "tranylcypromine", "isocarboxazid", "selegiline", "rasagiline", "moclobemide", "maoi",
         "monoamine oxidase"),
        "MAO inhibitors may increase blood pressure with (es)ketamine; monitor blood pressure closely",
        ref("spravato_pi"),
    ),
    InteractionClass(
        "interaction_psychostimulant",
        ("amphetamine", "amfetamine", "lisdexamfetamine", "methylphenidate", "modafinil", "armodafinil",
         "adderall", "ritalin", "vyvanse"),
        "psychostimulants may increase blood pressure with (es)ketamine; monitor blood pressure closely",
        ref("spravato_pi"),
    ),
    InteractionClass(
        "interaction_opioid",
        ("opioid", "morphine", "oxycodone", "hydrocodone", "hydromorphone", "fentanyl", "methadone",
         "buprenorphine", "tramadol", "tapentadol", "codeine", "oxymorphone"),
        "adds to sedation and respiratory depression (CNS depressants, esketamine label); monitor SpO2 and "
        "respiratory rate",
        ref("spravato_pi"),
    ),
)
_OPIOIDS = next(i for i in INTERACTIONS if i.code == "interaction_opioid")


def _interaction_findings(medications: Iterable[str]) -> list[Finding]:
    meds = list(medications)
    findings: list[Finding] = []
    for interaction in INTERACTIONS:
        matched = [m for m in meds if interaction.matches(m)]
        if matched:
            findings.append(
                Finding(interaction.code, Kind.NOTE, f"Listed {', '.join(matched)}: {interaction.effect}.", interaction.source)
            )
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

    if pain.duration_weeks < CHRONIC_PAIN_MIN_WEEKS:
        add("pain_not_chronic", Kind.UNMET_REQUIREMENT,
            f"Pain for {pain.duration_weeks:g} weeks: chronic pain means at least {CHRONIC_PAIN_MIN_WEEKS} weeks.",
            ref("seed_chronic_definition"))
    if not pain.prior_treatments:
        add("not_refractory", Kind.UNMET_REQUIREMENT,
            "No prior treatment recorded: ketamine is for pain that usual medicines and non-drug treatments have "
            "not relieved; record what was tried.", ref("seed_chronic_definition"))

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
    _rule("pain_not_chronic", Kind.UNMET_REQUIREMENT, f"duration_weeks < {CHRONIC_PAIN_MIN_WEEKS}",
          "not eligible: pain not yet chronic", "seed_chronic_definition"),
    _rule("not_refractory", Kind.UNMET_REQUIREMENT, "prior_treatments is empty",
          "not eligible: record the treatments tried", "seed_chronic_definition"),
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
        _rule(i.code, Kind.NOTE, "medications include " + ", ".join(i.names[:6]) + (", ..." if len(i.names) > 6 else ""),
              i.effect, i.source)
        for i in INTERACTIONS
    ),
    _rule("opioid_mme_baseline", Kind.NOTE, "medications include an opioid", "record baseline daily MME",
          "cdc2022_opioids"),
)
