"""The pre-infusion checklist: may the nurse start today's infusion?

A pure function of the facts given (:class:`ChecklistFacts`), with the time passed in as
``now``; no clock is read. Each item says whether it is met, why, on whose authority, and
whether an unmet item blocks the start (``blocking``) or only asks for attention.

The numbers are in :class:`ChecklistPolicy` (ASA fasting times, the clinic's blood-pressure hold,
how fresh a baseline or a pregnancy test must be); a clinic may change them.

Baseline SpO2 below 92 % or heart rate above 110/min (clinic policy, issue 11) block the start
until a **physician** records why it is safe to go ahead: a :class:`ChecklistOverride` naming the
item, who and why. Such an item stays unmet (the record shows the reading) but carries the
override, and :func:`ready_to_start` counts it. Only these two items can be overridden; the blood
pressure hold, escort, consent, pregnancy, urinary and liver items cannot.

Consent (issue 13) is read from the signed document (:class:`ConsentFacts`: the version signed, when,
whether it is the current version, whether this is a new course), under the same rule as the start guard
(:func:`ketaclinic.clinical.consent.consent_holds`). Checklists recorded before carry the nurse's old
yes/no box (``consent_signed``), which is still read when no ``consent`` is given.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from ketaclinic.clinical.consent import ConsentState, consent_holds
from ketaclinic.clinical.rules import Rule
from ketaclinic.clinical.vitals import Vitals
from ketaclinic.evidence.sources import CLINIC_POLICY, ref

IntakeKind = Literal["clear_liquid", "light_meal", "fatty_meal", "non_human_milk"]


class FastingHistory(BaseModel):
    """When the patient last had each kind of intake (``None``: none in the relevant time)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    asked: bool
    last_clear_liquid_at: AwareDatetime | None = None
    last_light_meal_at: AwareDatetime | None = None
    last_fatty_meal_at: AwareDatetime | None = None
    last_non_human_milk_at: AwareDatetime | None = None

    def last_intake(self) -> dict[str, datetime | None]:
        return {
            "clear_liquid": self.last_clear_liquid_at,
            "light_meal": self.last_light_meal_at,
            "fatty_meal": self.last_fatty_meal_at,
            "non_human_milk": self.last_non_human_milk_at,
        }


OverridableCode = Literal["baseline_spo2_low", "baseline_tachycardia"]
OVERRIDABLE_CODES: tuple[str, ...] = ("baseline_spo2_low", "baseline_tachycardia")


class ChecklistOverride(BaseModel):
    """A physician's decision to start despite an overridable unmet item: which item, who, why, when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: OverridableCode
    reason: str = Field(min_length=1, max_length=2000)
    by: str = Field(min_length=1, max_length=200)
    role: Literal["physician"]
    at: AwareDatetime | None = None

    @field_validator("reason", "by")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class ConsentFacts(BaseModel):
    """The patient's consent as the signatures show it (read by services/consent.py, never typed by the nurse):
    ``state`` as :func:`ketaclinic.clinical.consent.consent_holds` takes it, the version signed and when, the
    current version, and whether this is the course's first infusion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state: ConsentState
    current_version: int = Field(ge=1)
    signed_version: int | None = Field(default=None, ge=1)
    signed_at: AwareDatetime | None = None
    signature_id: int | None = None
    withdrawn_at: AwareDatetime | None = None
    first_of_course: bool = True

    @property
    def holds(self) -> bool:
        return consent_holds(self.state, self.first_of_course)


class ChecklistFacts(BaseModel):
    """What the nurse has recorded before the infusion, and the time of the check (``now``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    now: AwareDatetime
    fasting: FastingHistory
    escort_present: bool
    consent: ConsentFacts | None = None
    consent_signed: bool | None = None  # the yes/no box of checklists recorded before issue 13 (used without ``consent``)
    baseline_vitals: Vitals | None = None
    baseline_vitals_at: AwareDatetime | None = None
    can_become_pregnant: bool
    pregnancy_test: Literal["negative", "positive", "not_done"] = "not_done"
    pregnancy_test_at: AwareDatetime | None = None
    urinary_symptoms: Literal["none", "present", "not_asked"] = "not_asked"
    liver_tests_required: bool = False
    liver_tests: Literal["normal", "abnormal", "pending", "not_done"] = "not_done"
    overrides: tuple[ChecklistOverride, ...] = ()

    @model_validator(mode="after")
    def _times_not_in_future(self) -> ChecklistFacts:
        times = {f"fasting.last_{k}_at": v for k, v in self.fasting.last_intake().items()}
        times["baseline_vitals_at"] = self.baseline_vitals_at
        times["pregnancy_test_at"] = self.pregnancy_test_at
        for name, when in times.items():
            if when is not None and when > self.now:
                raise ValueError(f"{name} ({when.isoformat()}) is after now ({self.now.isoformat()})")
        if (self.baseline_vitals is None) != (self.baseline_vitals_at is None):
            raise ValueError("give baseline_vitals and baseline_vitals_at together")
        if self.pregnancy_test != "not_done" and self.pregnancy_test_at is None:
            raise ValueError("pregnancy_test_at is required when a pregnancy test result is given")
        return self


@dataclass(frozen=True)
class ChecklistPolicy:
    """The checklist's numbers. Fasting times are the ASA's; the others are clinic policy."""

    fasting_hours: dict[str, float] = field(
        default_factory=lambda: {"clear_liquid": 2.0, "light_meal": 6.0, "fatty_meal": 8.0, "non_human_milk": 6.0}
    )
    fasting_blocking: bool = True
    baseline_vitals_max_age_min: float = 60
    bp_hold_systolic_mmhg: float = 160
    bp_hold_diastolic_mmhg: float = 100
    bp_label_guide_systolic_mmhg: float = 140
    bp_label_guide_diastolic_mmhg: float = 90
    pregnancy_test_valid_days: float = 7
    baseline_spo2_min_pct: float = 92
    baseline_heart_rate_max_bpm: float = 110


DEFAULT_POLICY = ChecklistPolicy()


@dataclass(frozen=True)
class ChecklistItem:
    code: str
    met: bool
    message: str
    source: str
    blocking: bool
    overridable: bool = False
    override: dict[str, str] | None = None  # {"by", "role", "reason", "at"} when a physician overrode it

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def cleared(self) -> bool:
        """Met, or unmet but overridden by a physician (overridable items only)."""
        return self.met or (self.overridable and self.override is not None)


_INTAKE_NAMES = {
    "clear_liquid": "clear liquids",
    "light_meal": "a light meal",
    "fatty_meal": "fried or fatty food or meat",
    "non_human_milk": "non-human milk",
}


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def _fasting(facts: ChecklistFacts, policy: ChecklistPolicy) -> ChecklistItem:
    source = ref("asa_fasting2017")
    if not facts.fasting.asked:
        return ChecklistItem(
            "fasting", False,
            "Fasting not recorded: ask when the patient last had clear liquids, a light meal, fatty food or milk.",
            source, policy.fasting_blocking,
        )
    too_recent: list[str] = []
    for kind, when in facts.fasting.last_intake().items():
        if when is None:
            continue
        needed_h = policy.fasting_hours[kind]
        since_h = _hours(facts.now - when)
        if since_h < needed_h:
            ready_at = when + timedelta(hours=needed_h)
            too_recent.append(
                f"{_INTAKE_NAMES[kind]} {since_h:.1f} h ago (needs {needed_h:g} h; ready at {ready_at.isoformat(timespec='minutes')})"
            )
    if too_recent:
        return ChecklistItem("fasting", False, "Not fasted long enough: " + "; ".join(too_recent) + ".", source, policy.fasting_blocking)
    times = ", ".join(f"{_INTAKE_NAMES[k]} {policy.fasting_hours[k]:g} h" for k in policy.fasting_hours)
    return ChecklistItem("fasting", True, f"Fasting times met ({times}).", source, policy.fasting_blocking)


def _escort(facts: ChecklistFacts) -> ChecklistItem:
    if facts.escort_present:
        msg = "Escort present to take the patient home; no driving until the next day after a restful sleep."
    else:
        msg = "No escort recorded: the patient must not drive or go home alone after the infusion; arrange a ride first."
    return ChecklistItem("escort_present", facts.escort_present, msg, ref("spravato_pi"), True)


def _consent(facts: ChecklistFacts) -> ChecklistItem:
    """From the signed document when ``consent`` is given (every checklist since issue 13); from the old
    yes/no box otherwise (checklists recorded before, kept readable)."""
    source = ref(CLINIC_POLICY)
    c = facts.consent
    if c is None:
        if facts.consent_signed is None:
            return ChecklistItem("consent_signed", False, "Consent required: the consent state was not checked.",
                                 source, True)
        msg = "Informed consent signed." if facts.consent_signed else "Informed consent not signed: obtain it before starting."
        return ChecklistItem("consent_signed", facts.consent_signed, msg, source, True)
    signed = f"version {c.signed_version} signed {c.signed_at.date().isoformat()}" if c.signed_at else ""
    sign_now = (f" The patient signs version {c.current_version} on the clinic's tablet (the patient's Consent page) "
                "or in the portal.")
    if c.state == "valid":
        msg = f"Consent signed: {signed}, the current version."
    elif c.state == "outdated" and not c.first_of_course:
        msg = (f"Consent signed: {signed}; the current version is {c.current_version}. It holds for this course; "
               "re-consent is needed before the next course.")
    elif c.state == "outdated":
        msg = (f"Consent required: {signed}, but the current version is {c.current_version} and this is a new "
               "course's first infusion." + sign_now)
    elif c.state == "withdrawn":
        msg = f"Consent required: the patient withdrew their consent ({signed})." + sign_now
    else:
        msg = "Consent required: the patient has not signed the consent document." + sign_now
    return ChecklistItem("consent_signed", c.holds, msg, source, True)


def _baseline_vitals(facts: ChecklistFacts, policy: ChecklistPolicy) -> list[ChecklistItem]:
    if facts.baseline_vitals is None or facts.baseline_vitals_at is None:
        return [
            ChecklistItem(
                "baseline_vitals", False,
                "Baseline vital signs not taken: record blood pressure, heart rate and SpO2 before starting.",
                ref(CLINIC_POLICY), True,
            )
        ]
    age_min = (facts.now - facts.baseline_vitals_at).total_seconds() / 60
    items = []
    if age_min > policy.baseline_vitals_max_age_min:
        items.append(
            ChecklistItem(
                "baseline_vitals", False,
                f"Baseline vital signs are {age_min:.0f} min old (at most {policy.baseline_vitals_max_age_min:g} min): repeat them.",
                ref(CLINIC_POLICY), True,
            )
        )
    else:
        items.append(ChecklistItem("baseline_vitals", True, f"Baseline vital signs taken {age_min:.0f} min ago.", ref(CLINIC_POLICY), True))
    v = facts.baseline_vitals
    bp = f"{v.systolic_mmhg:g}/{v.diastolic_mmhg:g} mmHg"
    if v.systolic_mmhg >= policy.bp_hold_systolic_mmhg or v.diastolic_mmhg >= policy.bp_hold_diastolic_mmhg:
        items.append(
            ChecklistItem(
                "baseline_bp_hold", False,
                f"Baseline blood pressure {bp} is at or above the hold of {policy.bp_hold_systolic_mmhg:g}/"
                f"{policy.bp_hold_diastolic_mmhg:g}: defer the infusion and tell the physician.",
                ref(CLINIC_POLICY), True,
            )
        )
    else:
        items.append(
            ChecklistItem(
                "baseline_bp_hold", True,
                f"Baseline blood pressure {bp} is below the hold of {policy.bp_hold_systolic_mmhg:g}/{policy.bp_hold_diastolic_mmhg:g}.",
                ref(CLINIC_POLICY), True,
            )
        )
        if v.systolic_mmhg > policy.bp_label_guide_systolic_mmhg or v.diastolic_mmhg > policy.bp_label_guide_diastolic_mmhg:
            items.append(
                ChecklistItem(
                    "baseline_bp_elevated", False,
                    f"Baseline blood pressure {bp} is above {policy.bp_label_guide_systolic_mmhg:g}/"
                    f"{policy.bp_label_guide_diastolic_mmhg:g}: the physician weighs benefit and risk before starting "
                    "(esketamine label guidance, by analogy).",
                    ref("spravato_bp_medinfo"), False,
                )
            )
    items.append(_overridden(facts, _baseline_spo2(v, policy)))
    items.append(_overridden(facts, _baseline_heart_rate(v, policy)))
    return items


def _baseline_spo2(v: Vitals, policy: ChecklistPolicy) -> ChecklistItem:
    low = v.spo2_pct < policy.baseline_spo2_min_pct
    if low:
        msg = (f"Baseline SpO2 {v.spo2_pct:g} % is below {policy.baseline_spo2_min_pct:g} %: do not start; repeat it, "
               "tell the physician. Only a physician may start anyway, recording why.")
    else:
        msg = f"Baseline SpO2 {v.spo2_pct:g} % (at least {policy.baseline_spo2_min_pct:g} %)."
    return ChecklistItem("baseline_spo2_low", not low, msg, ref(CLINIC_POLICY), True, overridable=True)


def _baseline_heart_rate(v: Vitals, policy: ChecklistPolicy) -> ChecklistItem:
    fast = v.heart_rate_bpm > policy.baseline_heart_rate_max_bpm
    if fast:
        msg = (f"Baseline heart rate {v.heart_rate_bpm:g}/min is above {policy.baseline_heart_rate_max_bpm:g}: do not "
               "start; repeat it, tell the physician. Only a physician may start anyway, recording why.")
    else:
        msg = f"Baseline heart rate {v.heart_rate_bpm:g}/min (at most {policy.baseline_heart_rate_max_bpm:g})."
    return ChecklistItem("baseline_tachycardia", not fast, msg, ref(CLINIC_POLICY), True, overridable=True)


def _overridden(facts: ChecklistFacts, item: ChecklistItem) -> ChecklistItem:
    """The item with the physician's override attached, when it is unmet and one names it."""
    if item.met:
        return item
    found = next((o for o in facts.overrides if o.code == item.code), None)
    if found is None:
        return item
    record = {"by": found.by, "role": found.role, "reason": found.reason,
              "at": found.at.isoformat() if found.at else ""}
    message = f"{item.message} Overridden by {found.by} (physician): {found.reason}"
    return replace(item, message=message, override=record)


def _pregnancy(facts: ChecklistFacts, policy: ChecklistPolicy) -> ChecklistItem:
    source = ref("asra2018")
    if not facts.can_become_pregnant:
        return ChecklistItem("pregnancy_test", True, "Pregnancy test not applicable.", source, True)
    if facts.pregnancy_test == "positive":
        return ChecklistItem(
            "pregnancy_test", False, "Pregnancy test positive: do not give ketamine; tell the physician.", source, True
        )
    if facts.pregnancy_test == "negative" and facts.pregnancy_test_at is not None:
        age_days = (facts.now - facts.pregnancy_test_at).total_seconds() / 86400
        if age_days <= policy.pregnancy_test_valid_days:
            return ChecklistItem("pregnancy_test", True, f"Pregnancy test negative ({age_days:.1f} days ago).", source, True)
        return ChecklistItem(
            "pregnancy_test", False,
            f"Last negative pregnancy test is {age_days:.1f} days old (valid {policy.pregnancy_test_valid_days:g} days): repeat it.",
            source, True,
        )
    return ChecklistItem(
        "pregnancy_test", False, "Pregnancy test needed (the patient can become pregnant): do a urine hCG test.", source, True
    )


def _urinary(facts: ChecklistFacts) -> ChecklistItem:
    source = ref("chan2022_uropathy")
    if facts.urinary_symptoms == "none":
        return ChecklistItem("urinary_symptoms", True, "No urinary symptoms.", source, True)
    if facts.urinary_symptoms == "present":
        return ChecklistItem(
            "urinary_symptoms", False,
            "Urinary symptoms present (frequency, urgency, pain, blood): hold ketamine, send a urinalysis and tell the physician.",
            source, True,
        )
    return ChecklistItem(
        "urinary_symptoms", False,
        "Urinary symptoms not asked: ask about frequency, urgency, bladder pain and blood in the urine.",
        source, True,
    )


def _liver(facts: ChecklistFacts) -> ChecklistItem:
    source = ref("noppers2011")
    if not facts.liver_tests_required:
        return ChecklistItem("liver_tests", True, "Liver tests not required before this session.", source, True)
    if facts.liver_tests == "normal":
        return ChecklistItem("liver_tests", True, "Liver tests before this course are normal.", source, True)
    if facts.liver_tests == "abnormal":
        return ChecklistItem(
            "liver_tests", False,
            "Liver tests abnormal: no repeat course until the physician has reviewed them.", source, True,
        )
    return ChecklistItem(
        "liver_tests", False,
        f"Liver tests required before this repeat course and {facts.liver_tests.replace('_', ' ')}: wait for the result.",
        source, True,
    )


def run_checklist(facts: ChecklistFacts, policy: ChecklistPolicy = DEFAULT_POLICY) -> list[ChecklistItem]:
    """Every checklist item for ``facts`` at ``facts.now``, in the order a nurse works through them."""
    return [
        _fasting(facts, policy),
        _escort(facts),
        _consent(facts),
        *_baseline_vitals(facts, policy),
        _pregnancy(facts, policy),
        _urinary(facts),
        _liver(facts),
    ]


def ready_to_start(items: list[ChecklistItem]) -> bool:
    """True when every blocking item is met, or (SpO2, heart rate only) overridden by a physician."""
    return all(item.cleared for item in items if item.blocking)


def blocking_unmet(items: list[ChecklistItem]) -> list[ChecklistItem]:
    """The blocking items that stop the start (unmet and not overridden)."""
    return [item for item in items if item.blocking and not item.cleared]


def overridable_unmet(items: list[ChecklistItem]) -> list[ChecklistItem]:
    """Unmet items a physician could override (none of them overridden yet)."""
    return [item for item in items if item.overridable and not item.met and item.override is None]


_P = DEFAULT_POLICY
RULES: tuple[Rule, ...] = (
    Rule(
        "fasting", "checklist", "blocking",
        ", ".join(f"{_INTAKE_NAMES[k]} >= {h:g} h" for k, h in _P.fasting_hours.items()),
        "defer the start until fasted", ref("asa_fasting2017"),
    ),
    Rule("escort_present", "checklist", "blocking", "escort present to take the patient home (no driving until the next day)",
         "do not start without an escort", ref("spravato_pi")),
    Rule("consent_signed", "checklist", "blocking",
         "a standing signature of the current consent version (an earlier version holds until its course ends)",
         "do not start; the patient signs the current version", ref(CLINIC_POLICY)),
    Rule("baseline_vitals", "checklist", "blocking", f"BP, HR, SpO2 taken <= {_P.baseline_vitals_max_age_min:g} min before start",
         "take or repeat baseline vital signs", ref(CLINIC_POLICY)),
    Rule("baseline_bp_hold", "checklist", "blocking",
         f"baseline systolic >= {_P.bp_hold_systolic_mmhg:g} or diastolic >= {_P.bp_hold_diastolic_mmhg:g} mmHg",
         "defer the infusion; tell the physician", ref(CLINIC_POLICY)),
    Rule("baseline_spo2_low", "checklist", "blocking",
         f"baseline SpO2 < {_P.baseline_spo2_min_pct:g} %",
         "do not start; repeat; only a physician may override, recording who and why", ref(CLINIC_POLICY)),
    Rule("baseline_tachycardia", "checklist", "blocking",
         f"baseline heart rate > {_P.baseline_heart_rate_max_bpm:g}/min",
         "do not start; repeat; only a physician may override, recording who and why", ref(CLINIC_POLICY)),
    Rule("baseline_bp_elevated", "checklist", "advisory",
         f"baseline above {_P.bp_label_guide_systolic_mmhg:g}/{_P.bp_label_guide_diastolic_mmhg:g} mmHg (below the hold)",
         "physician weighs benefit and risk", ref("spravato_bp_medinfo")),
    Rule("pregnancy_test", "checklist", "blocking",
         f"can become pregnant: negative test within {_P.pregnancy_test_valid_days:g} days; positive test",
         "test first; positive: do not give ketamine", ref("asra2018"), grade="B, Low"),
    Rule("urinary_symptoms", "checklist", "blocking", "urinary symptoms asked at every visit; any present",
         "hold ketamine, urinalysis, physician review", ref("chan2022_uropathy")),
    Rule("liver_tests", "checklist", "blocking", "liver tests required by follow-up (repeat course) and not normal",
         "wait for normal results or physician review", ref("noppers2011")),
)
