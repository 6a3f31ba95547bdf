"""The protocol library: the regimens a KetaClinic plan can name, each with its evidence.

A protocol says *what is given* (its default steps, in mg/kg or mg/kg/h so that one protocol fits
every weight), *how it may be changed* (titration, its own limits on top of the drug library),
*how often* (series), *how long the patient stays* (minimum observation after the infusion
stops) and *on whose authority* (evidence ids, with the ASRA 2018 grade where it applies).

Where a number comes only from a seed document (how our clinics describe their practice) it
cites the seed; where no source gives it (titration steps, series length, observation time) it
is ``clinic_policy``, for the medical director to confirm. The drug library and the pump
program live in :mod:`ketaclinic.clinical.dosing`; this module is data plus two small helpers.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from ketaclinic.clinical.rules import Rule
from ketaclinic.evidence.sources import CLINIC_POLICY, ref

Route = Literal["iv", "oral", "intranasal", "im"]
Profile = Literal["low_dose", "anesthesia_staffed"]
Setting = Literal["outpatient", "inpatient"]
StepKind = Literal["bolus", "infusion", "oral"]
LimitQuantity = Literal[
    "bolus_dose_mg_per_kg",
    "infusion_rate_mg_per_kg_per_h",
    "infusion_rate_mg_per_h",
    "infusion_duration_min",
    "session_total_mg",
    "session_infusion_time_min",
    "oral_dose_mg_per_kg",
]
LimitBound = Literal["max", "min", "cap", "advised_min"]

_QUANTITY_WORDS: dict[str, tuple[str, str]] = {
    # quantity -> (short code, unit)
    "bolus_dose_mg_per_kg": ("bolus_dose", "mg/kg"),
    "infusion_rate_mg_per_kg_per_h": ("infusion_rate_per_kg", "mg/kg/h"),
    "infusion_rate_mg_per_h": ("infusion_rate", "mg/h"),
    "infusion_duration_min": ("infusion_duration", "min"),
    "session_total_mg": ("session_total", "mg"),
    "session_infusion_time_min": ("session_infusion_time", "min"),
    "oral_dose_mg_per_kg": ("oral_dose", "mg/kg"),
}


@dataclass(frozen=True)
class ProtocolStep:
    """One default step. Infusions give a rate per kg, or (where the source gives an absolute
    rate, as Goldberg 2010 does) a rate in mg/h; boluses and oral doses give mg/kg."""

    kind: StepKind
    dose_mg_per_kg: float | None = None
    rate_mg_per_kg_per_h: float | None = None
    rate_mg_per_h: float | None = None
    duration_min: float | None = None
    times_per_day: int | None = None
    label: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and v != ""}


@dataclass(frozen=True)
class Titration:
    """How the dose is stepped up: ``start``, then ``step`` every ``interval_min`` as tolerated,
    never above ``max`` (all in ``unit``: an infusion rate, or mg/kg per bolus visit).
    ``description`` is what a nurse reads."""

    description: str
    unit: Literal["mg/kg/h", "mg/h", "mg/kg"]
    start: float
    step: float
    interval_min: float
    max: float
    source: str
    start_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        ref(self.source)

    def next_rate(self, current: float) -> float:
        """The rate after one titration step from ``current`` (never above ``max``), to 4 decimals."""
        raised = Decimal(repr(current)) + Decimal(repr(self.step))
        capped = min(raised, Decimal(repr(self.max)))
        return float(capped.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))

    def as_dict(self) -> dict[str, Any]:
        def r(x: float) -> float:
            return float(Decimal(repr(x)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))

        out: dict[str, Any] = {
            "description": self.description,
            "unit": self.unit,
            "start": r(self.start),
            "step": r(self.step),
            "interval_min": self.interval_min,
            "max": r(self.max),
            "source": self.source,
        }
        if self.start_range:
            out["start_range"] = [r(self.start_range[0]), r(self.start_range[1])]
        return out


@dataclass(frozen=True)
class Series:
    """How many sessions and how far apart (``sessions`` None: open-ended, e.g. daily oral)."""

    sessions: int | None
    interval_days_min: float | None
    interval_days_max: float | None
    source: str
    note: str = ""

    def __post_init__(self) -> None:
        ref(self.source)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ProtocolLimit:
    """A protocol's own limit on top of the drug library.

    ``max``/``min``: a soft limit (a stop unless a physician overrides with a reason);
    ``cap``: the rate is clamped to ``value`` mg/h, as the source regimen did (Schwartzman 2009);
    ``advised_min``: a note that the session is below what the source advises, never a stop.
    """

    quantity: LimitQuantity
    bound: LimitBound
    value: float
    source: str
    why: str
    grade: str | None = None

    def __post_init__(self) -> None:
        ref(self.source)
        if self.bound == "cap" and self.quantity != "infusion_rate_mg_per_h":
            raise ValueError("only an absolute infusion rate (mg/h) can be capped")

    @property
    def unit(self) -> str:
        return _QUANTITY_WORDS[self.quantity][1]

    @property
    def code(self) -> str:
        short = _QUANTITY_WORDS[self.quantity][0]
        suffix = {"max": "above_max", "min": "below_min", "cap": "capped", "advised_min": "below_advised_min"}[self.bound]
        return f"protocol_{short}_{suffix}"

    def fires(self, value: float) -> bool:
        """True when ``value`` is past this limit (a value *at* the limit is within it)."""
        if self.bound in ("max", "cap"):
            return value > self.value
        return value < self.value


@dataclass(frozen=True)
class EvidenceRef:
    """A source behind a protocol, with the ASRA 2018 grade where the guideline grades it."""

    source: str
    grade: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        ref(self.source)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "grade": self.grade, "note": self.note}


@dataclass(frozen=True)
class Protocol:
    id: str
    name: str
    route: Route
    setting: Setting
    summary: str
    steps: tuple[ProtocolStep, ...]
    titration: Titration | None
    series: Series
    min_observation_after_stop_min: float
    observation_source: str
    limits: tuple[ProtocolLimit, ...]
    evidence: tuple[EvidenceRef, ...]
    allowed_kinds: tuple[StepKind, ...]
    default_concentration_mg_per_ml: float = 1.0
    concentration_source: str = CLINIC_POLICY
    requires_explicit_steps: bool = False
    cautions: tuple[str, ...] = ()
    #: The drug library's care profile the protocol runs under (design 4.3 v2): the nurse-run
    #: outpatient ``low_dose`` profile, or ``anesthesia_staffed`` for inpatient and multi-day
    #: continuous infusions with an anaesthesia clinician present.
    profile: Profile = "low_dose"

    def __post_init__(self) -> None:
        ref(self.observation_source)
        ref(self.concentration_source)
        if not self.evidence:
            raise ValueError(f"protocol {self.id!r} names no evidence")
        if not self.requires_explicit_steps and not self.steps:
            raise ValueError(f"protocol {self.id!r} has no default steps")
        for step in self.steps:
            if step.kind not in self.allowed_kinds:
                raise ValueError(f"protocol {self.id!r}: default step kind {step.kind!r} is not allowed")

    @property
    def source(self) -> str:
        """The protocol's primary source (the first evidence entry)."""
        return self.evidence[0].source

    def cap_mg_per_h(self) -> ProtocolLimit | None:
        return next((lim for lim in self.limits if lim.bound == "cap"), None)

    def listing(self) -> dict[str, Any]:
        """The ``--list-protocols`` entry (contract 4.3) plus a plain summary."""
        return {
            "id": self.id,
            "name": self.name,
            "route": self.route,
            "setting": self.setting,
            "source": self.source,
            "summary": self.summary,
            "profile": self.profile,
        }

    def as_dict(self) -> dict[str, Any]:
        """Everything about the protocol, JSON-ready (for the plan screen and the API)."""
        return {
            **self.listing(),
            "steps": [s.as_dict() for s in self.steps],
            "titration": self.titration.as_dict() if self.titration else None,
            "series": self.series.as_dict(),
            "min_observation_after_stop_min": self.min_observation_after_stop_min,
            "observation_source": self.observation_source,
            "limits": [
                {"code": lim.code, "quantity": lim.quantity, "bound": lim.bound, "value": lim.value, "unit": lim.unit,
                 "source": lim.source, "grade": lim.grade, "why": lim.why}
                for lim in self.limits
            ],
            "evidence": [e.as_dict() for e in self.evidence],
            "default_concentration_mg_per_ml": self.default_concentration_mg_per_ml,
            "requires_explicit_steps": self.requires_explicit_steps,
            "cautions": list(self.cautions),
        }


# -- shared pieces ---------------------------------------------------------------------------

_OBSERVATION_MIN = 60.0
"""Minimum observation after the infusion stops (clinic policy; the Spravato label asks >= 2 h after
intranasal esketamine, which the clinic may prefer; discharge criteria must also be met)."""

_ASRA_GRADE = "C, Low"
_ASRA_MINIMUM = (
    ProtocolLimit(
        "session_total_mg", "advised_min", 80.0, ref("asra2018"),
        "ASRA 2018: a session of at least 80 mg over more than 2 h is advised for a trial of ketamine", _ASRA_GRADE,
    ),
    ProtocolLimit(
        "session_infusion_time_min", "advised_min", 120.0, ref("asra2018"),
        "ASRA 2018: infusions shorter than 2 h are unlikely to give lasting relief", _ASRA_GRADE,
    ),
)
_IV: tuple[StepKind, ...] = ("bolus", "infusion")

_SIGTERMANS_70KG = 70.0  # Sigtermans reports doses "per 70 kg"; converted to mg/kg/h below


PROTOCOLS: tuple[Protocol, ...] = (
    Protocol(
        id="single_infusion_40min",
        name="Single infusion, 0.5 mg/kg over 40 min",
        route="iv",
        setting="outpatient",
        summary="One outpatient infusion of 0.5 mg/kg given evenly over 40 minutes (0.75 mg/kg/h). This is the "
        "depression regimen (the antidepressant trials, Zarate 2006), used by some clinics as a first session to see how a patient tolerates "
        "ketamine; for pain, ASRA 2018 advises at least 80 mg over more than 2 hours, which this session does not reach.",
        steps=(ProtocolStep("infusion", rate_mg_per_kg_per_h=0.75, duration_min=40, label="0.5 mg/kg over 40 min"),),
        titration=None,
        series=Series(1, None, None, CLINIC_POLICY, "a single session, then reassess (ASRA 2018 advises starting with one outpatient infusion)"),
        min_observation_after_stop_min=_OBSERVATION_MIN,
        observation_source=CLINIC_POLICY,
        limits=(
            ProtocolLimit("infusion_rate_mg_per_kg_per_h", "max", 0.75, ref("seed_ketarevive"), "0.5 mg/kg over 40 min is 0.75 mg/kg/h"),
            ProtocolLimit("infusion_duration_min", "min", 40, ref("seed_ketarevive"), "the regimen is 40 min"),
            ProtocolLimit("infusion_duration_min", "max", 40, ref("seed_ketarevive"), "the regimen is 40 min"),
            *_ASRA_MINIMUM,
        ),
        evidence=(
            EvidenceRef(ref("seed_ketarevive"), None, "'A single infusion of 0.5 mg/kg over 40 minutes'"),
            EvidenceRef(ref("zarate2006_depression"), None, "the 0.5 mg/kg over 40 min regimen comes from the depression "
                        "trials, not from chronic-pain studies"),
            EvidenceRef(ref("asra2018"), _ASRA_GRADE, "for chronic pain: at least 80 mg over more than 2 h is advised"),
        ),
        allowed_kinds=("infusion",),
    ),
    Protocol(
        id="outpatient_infusion",
        name="Outpatient infusion series, 40 min to 4 h",
        route="iv",
        setting="outpatient",
        summary="The clinic's standard outpatient session: a slow 0.2 mg/kg bolus, then 0.5 mg/kg/h for up to 4 hours "
        "(sessions of 40 min to 4 h), repeated as a series and followed by boosters. ASRA 2018 advises at least "
        "80 mg over more than 2 hours for a meaningful trial.",
        steps=(
            ProtocolStep("bolus", dose_mg_per_kg=0.2, duration_min=5, label="loading bolus, slow push"),
            ProtocolStep("infusion", rate_mg_per_kg_per_h=0.5, duration_min=240, label="maintenance infusion"),
        ),
        titration=Titration(
            "start at 0.5 mg/kg/h; if tolerated and relief is poor, raise by 0.1 mg/kg/h every 30 min up to 0.75 mg/kg/h "
            "(the low-dose profile's soft maximum)",
            "mg/kg/h", 0.5, 0.1, 30, 0.75, CLINIC_POLICY,
        ),
        series=Series(6, 1, 7, CLINIC_POLICY, "a series of sessions, then boosters when relief fades; the number is the clinic's choice (seed 003)"),
        min_observation_after_stop_min=_OBSERVATION_MIN,
        observation_source=CLINIC_POLICY,
        limits=(
            ProtocolLimit("infusion_duration_min", "min", 40, ref("seed_outpatient_series"), "outpatient sessions run 40 min to 4 h"),
            ProtocolLimit("infusion_duration_min", "max", 240, ref("seed_outpatient_series"), "outpatient sessions run 40 min to 4 h"),
            *_ASRA_MINIMUM,
        ),
        evidence=(
            EvidenceRef(ref("seed_outpatient_series"), None, "outpatient infusions of 40 min to 4 h, as a series, then boosters"),
            EvidenceRef(ref("asra2018"), _ASRA_GRADE, "bolus up to 0.35 mg/kg; infusion 0.5-2 mg/kg/h; at least 80 mg over > 2 h"),
            EvidenceRef(ref("patil2012"), None, "outpatient series in refractory chronic pain (retrospective)"),
        ),
        allowed_kinds=_IV,
    ),
    Protocol(
        id="titrated_infusion",
        name="Titrated infusion, starting at 0.1-0.5 mg/kg/h",
        route="iv",
        setting="outpatient",
        summary="Start low (0.1-0.5 mg/kg/h) and raise the rate step by step as tolerated and as relief requires, "
        "within sessions of 1 to 4 hours.",
        steps=(ProtocolStep("infusion", rate_mg_per_kg_per_h=0.1, duration_min=240, label="starting rate; titrate"),),
        titration=Titration(
            "start at 0.1 mg/kg/h (0.1-0.5 allowed); raise by 0.1 mg/kg/h every 30 min as tolerated, up to 0.75 mg/kg/h "
            "(the low-dose profile's soft maximum)",
            "mg/kg/h", 0.1, 0.1, 30, 0.75, CLINIC_POLICY, start_range=(0.1, 0.5),
        ),
        series=Series(6, 1, 7, CLINIC_POLICY, "sessions repeated over a few weeks (seed 001), then boosters"),
        min_observation_after_stop_min=_OBSERVATION_MIN,
        observation_source=CLINIC_POLICY,
        limits=(
            ProtocolLimit("infusion_rate_mg_per_kg_per_h", "min", 0.1, ref("seed_ketarevive"), "infusions start at 0.1-0.5 mg/kg/h"),
            ProtocolLimit("infusion_duration_min", "min", 60, ref("seed_ketarevive"), "sessions usually last 1-4 hours"),
            ProtocolLimit("infusion_duration_min", "max", 240, ref("seed_ketarevive"), "sessions usually last 1-4 hours"),
        ),
        evidence=(EvidenceRef(ref("seed_ketarevive"), None, "'start at a low dose, around 0.1-0.5 mg/kg per hour', increased gradually"),),
        allowed_kinds=("infusion",),
    ),
    Protocol(
        id="intermittent_bolus",
        name="Intermittent boluses, 0.2-0.35 mg/kg every 3-4 days",
        route="iv",
        setting="outpatient",
        summary="A slow IV bolus of 0.2 mg/kg, raised to at most 0.35 mg/kg (the ASRA 2018 bolus ceiling), every 3 to 4 "
        "days. A clinic page describes boluses up to 0.75 mg/kg; that is past the low-dose definition (Pennsylvania "
        "2020: no more than 0.5 mg/kg), so in the nurse-run low-dose profile 0.5 mg/kg is a hard stop, and anything "
        "above 0.35 mg/kg needs the anesthesia-staffed profile and a physician's override with a reason.",
        steps=(ProtocolStep("bolus", dose_mg_per_kg=0.2, duration_min=5, label="slow IV bolus"),),
        titration=Titration(
            "start at 0.2 mg/kg; raise by 0.05 mg/kg at the next visit if tolerated and relief is short, up to 0.35 mg/kg "
            "(ASRA 2018)", "mg/kg", 0.2, 0.05, 3 * 24 * 60, 0.35, CLINIC_POLICY,
        ),
        series=Series(6, 3, 4, ref("seed_ketarevive"), "every 3-4 days; the number of doses is the clinic's choice"),
        min_observation_after_stop_min=_OBSERVATION_MIN,
        observation_source=CLINIC_POLICY,
        limits=(
            ProtocolLimit("bolus_dose_mg_per_kg", "min", 0.2, ref("seed_ketarevive"), "boluses of 0.2-0.75 mg/kg"),
            ProtocolLimit("bolus_dose_mg_per_kg", "max", 0.35, ref("asra2018"), "ASRA 2018: boluses up to 0.35 mg/kg",
                          _ASRA_GRADE),
        ),
        evidence=(
            EvidenceRef(ref("seed_ketarevive"), None, "'intermittent bolus doses of 0.2-0.75 mg/kg every 3-4 days' (a "
                        "clinic page: the frequency is kept, the top dose is not)"),
            EvidenceRef(ref("asra2018"), _ASRA_GRADE, "bolus up to 0.35 mg/kg"),
            EvidenceRef(ref("pa_lowdose_ketamine2020"), None, "low-dose boluses are no more than 0.5 mg/kg"),
            EvidenceRef(ref("mercadante2000_bolus"), None, "slow boluses of 0.25 and 0.5 mg/kg; more drowsiness and confusion at 0.5"),
        ),
        allowed_kinds=("bolus",),
        cautions=("a bolus above 0.35 mg/kg is past the library's soft limit (ASRA 2018) and the protocol's maximum: it "
                  "needs a physician override with a reason, and above 0.5 mg/kg the anesthesia-staffed profile",),
    ),
    Protocol(
        id="continuous_inpatient_3day",
        name="Continuous infusion 0.1-0.3 mg/kg/h for up to 3 days (inpatient)",
        route="iv",
        setting="inpatient",
        summary="A continuous inpatient infusion at 0.1-0.3 mg/kg/h for up to 3 days, started at 0.1 mg/kg/h and "
        "raised as tolerated.",
        steps=(ProtocolStep("infusion", rate_mg_per_kg_per_h=0.1, duration_min=3 * 24 * 60, label="starting rate; titrate to 0.3"),),
        titration=Titration(
            "start at 0.1 mg/kg/h; raise by 0.05 mg/kg/h every 4 h as tolerated, up to 0.3 mg/kg/h",
            "mg/kg/h", 0.1, 0.05, 240, 0.3, CLINIC_POLICY,
        ),
        series=Series(1, None, None, CLINIC_POLICY, "one admission; repeat courses need liver tests first (Noppers 2011)"),
        min_observation_after_stop_min=_OBSERVATION_MIN,
        observation_source=CLINIC_POLICY,
        limits=(
            ProtocolLimit("infusion_rate_mg_per_kg_per_h", "min", 0.1, ref("seed_ketarevive"), "continuous infusions of 0.1-0.3 mg/kg/h"),
            ProtocolLimit("infusion_rate_mg_per_kg_per_h", "max", 0.3, ref("seed_ketarevive"), "continuous infusions of 0.1-0.3 mg/kg/h"),
            ProtocolLimit("infusion_duration_min", "max", 3 * 24 * 60, ref("seed_ketarevive"), "for up to 3 days"),
        ),
        evidence=(EvidenceRef(ref("seed_ketarevive"), None, "'continuous infusions of 0.1-0.3 mg/kg/hour for up to 3 days'"),),
        profile="anesthesia_staffed",
        allowed_kinds=("infusion",),
        cautions=("inpatient protocol: continuous monitoring on a ward, not in the outpatient chair",),
    ),
    Protocol(
        id="inpatient_course_5day",
        name="Inpatient course, 5-day continuous infusion (10-40 mg/h)",
        route="iv",
        setting="inpatient",
        summary="A five-day inpatient course: racemic ketamine started at 10 mg/h and titrated up to 40 mg/h, then "
        "held for five days (Goldberg 2010; the course one seed patient describes).",
        steps=(ProtocolStep("infusion", rate_mg_per_h=10.0, duration_min=5 * 24 * 60, label="starting rate; titrate to 40 mg/h"),),
        titration=Titration(
            "start at 10 mg/h; raise by 5 mg/h every hour as tolerated, up to 40 mg/h, then hold",
            "mg/h", 10.0, 5.0, 60, 40.0, ref("goldberg2010_inpatient"),
        ),
        series=Series(1, None, None, CLINIC_POLICY, "one admission; repeat courses need liver tests first (Noppers 2011)"),
        min_observation_after_stop_min=_OBSERVATION_MIN,
        observation_source=CLINIC_POLICY,
        limits=(
            ProtocolLimit("infusion_rate_mg_per_h", "max", 40.0, ref("goldberg2010_inpatient"), "titrated from 10 to 40 mg/h"),
            ProtocolLimit("infusion_duration_min", "max", 5 * 24 * 60, ref("seed_inpatient_course"), "five days of infusions"),
        ),
        evidence=(
            EvidenceRef(ref("seed_inpatient_course"), None, "five days of inpatient ketamine infusions"),
            EvidenceRef(ref("goldberg2010_inpatient"), None, "10-40 mg/h for 5 days in 16 CRPS patients (observational)"),
        ),
        profile="anesthesia_staffed",
        allowed_kinds=("infusion",),
        cautions=(
            "inpatient protocol: continuous monitoring on a ward",
            "titration step and interval are clinic policy; the source gives only the 10-40 mg/h range",
        ),
    ),
    Protocol(
        id="oral_adjunct",
        name="Oral ketamine 0.5 mg/kg three times a day (adjunct)",
        route="oral",
        setting="outpatient",
        summary="Ketamine by mouth, 0.5 mg/kg three times a day, added to an established opioid regimen for "
        "neuropathic (cancer) pain; drowsiness is common in the first two weeks.",
        steps=(ProtocolStep("oral", dose_mg_per_kg=0.5, times_per_day=3, label="by mouth, every 8 h"),),
        titration=None,
        series=Series(None, 1, 1, CLINIC_POLICY, "daily while it helps and is tolerated; review at 2 and 4 weeks"),
        min_observation_after_stop_min=_OBSERVATION_MIN,
        observation_source=CLINIC_POLICY,
        limits=(ProtocolLimit("oral_dose_mg_per_kg", "max", 0.5, ref("kannan2002_oral"), "0.5 mg/kg three times daily"),),
        evidence=(
            EvidenceRef(ref("seed_oral_adjunct"), None, "oral 0.5 mg/kg three times a day with morphine"),
            EvidenceRef(ref("kannan2002_oral"), None, "9 cancer patients; 7 had a fall in pain of more than 3 points"),
            EvidenceRef(ref("asra2018"), "B, Low", "oral ketamine as follow-on treatment for responders (GuidelineCentral summary)"),
        ),
        allowed_kinds=("oral",),
        default_concentration_mg_per_ml=10.0,
        concentration_source=ref("gwent_palliative_ketamine2010"),
        cautions=("observation applies to the first dose, given in clinic; later doses are taken at home",),
    ),
    Protocol(
        id="schwartzman2009",
        name="Schwartzman 2009: 0.35 mg/kg/h, 4 h a day for 10 days (max 25 mg/h)",
        route="iv",
        setting="outpatient",
        summary="The outpatient CRPS trial regimen: 0.35 mg/kg/h, never more than 25 mg/h (100 mg per 4-hour session), "
        "4 hours a day for 10 days. Both trial arms also had midazolam and clonidine premedication.",
        steps=(ProtocolStep("infusion", rate_mg_per_kg_per_h=0.35, duration_min=240, label="0.35 mg/kg/h, max 25 mg/h"),),
        titration=None,
        series=Series(10, 1, 1, ref("schwartzman2009"), "4 h a day for 10 days"),
        min_observation_after_stop_min=_OBSERVATION_MIN,
        observation_source=CLINIC_POLICY,
        limits=(
            ProtocolLimit("infusion_rate_mg_per_h", "cap", 25.0, ref("schwartzman2009"), "the rate was capped at 25 mg/h"),
            ProtocolLimit("infusion_rate_mg_per_kg_per_h", "max", 0.35, ref("schwartzman2009"), "maximum 0.35 mg/kg/h"),
            ProtocolLimit("infusion_duration_min", "max", 240, ref("schwartzman2009"), "4 hours a day"),
            ProtocolLimit("session_total_mg", "max", 100.0, ref("schwartzman2009"), "no more than 100 mg per 4-hour session"),
        ),
        evidence=(
            EvidenceRef(ref("schwartzman2009"), None, "double-blind RCT, outpatient CRPS"),
            EvidenceRef(ref("asra2018"), "B", "CRPS: moderate evidence of improvement for up to 12 weeks"),
        ),
        allowed_kinds=("infusion",),
        cautions=("the trial premedicated both arms with midazolam 2 mg IV and clonidine 0.1 mg by mouth; prescribe separately",),
    ),
    Protocol(
        id="sigtermans2009",
        name="Sigtermans 2009: titrated continuous S(+)-ketamine over 4.2 days (inpatient)",
        route="iv",
        setting="inpatient",
        summary="The inpatient CRPS-1 trial regimen: a continuous S(+)-ketamine infusion for 4.2 days, started at "
        "5 mg/h per 70 kg and raised step by step on relief and side effects (end dose 22.2 ± 2.0 mg/h per 70 kg).",
        steps=(
            ProtocolStep(
                "infusion", rate_mg_per_kg_per_h=5.0 / _SIGTERMANS_70KG, duration_min=6048.0,
                label="5 mg/h per 70 kg; titrate",
            ),
        ),
        titration=Titration(
            "start at 5 mg/h per 70 kg; raise by 5 mg/h per 70 kg on relief and side effects, up to 30 mg/h per 70 kg",
            "mg/kg/h", 5.0 / _SIGTERMANS_70KG, 5.0 / _SIGTERMANS_70KG, 240, 30.0 / _SIGTERMANS_70KG, CLINIC_POLICY,
        ),
        series=Series(1, None, None, ref("sigtermans2009_pain"), "one 4.2-day infusion"),
        min_observation_after_stop_min=_OBSERVATION_MIN,
        observation_source=CLINIC_POLICY,
        limits=(
            ProtocolLimit(
                "infusion_rate_mg_per_kg_per_h", "max", 30.0 / _SIGTERMANS_70KG, CLINIC_POLICY,
                "30 mg/h per 70 kg: above the published end dose of 22.2 ± 2.0 mg/h per 70 kg; the trial's own ceiling was not read",
            ),
            ProtocolLimit("infusion_duration_min", "max", 6048.0, ref("sigtermans2009_pain"), "a 4.2-day infusion"),
        ),
        evidence=(
            EvidenceRef(ref("sigtermans2009_pain"), None, "RCT, 60 CRPS-1 patients, S(+)-ketamine for 4.2 days"),
            EvidenceRef(ref("asra2018"), "B", "CRPS: moderate evidence of improvement for up to 12 weeks"),
            EvidenceRef(ref("dahan2011"), None, "the same 100-h infusions, modelled"),
        ),
        profile="anesthesia_staffed",
        allowed_kinds=("infusion",),
        cautions=(
            "the trial used S(+)-ketamine (esketamine), which is more potent than the racemic ketamine of this library; "
            "the program uses the published mg numbers and the physician must confirm the product and dose",
            "inpatient protocol: continuous monitoring on a ward",
        ),
    ),
    Protocol(
        id="custom_iv",
        name="Custom IV program (explicit steps)",
        route="iv",
        setting="outpatient",
        summary="Explicit bolus and infusion steps written by the physician, checked against the drug library's "
        "limits alone.",
        steps=(),
        titration=None,
        series=Series(1, None, None, CLINIC_POLICY, "as the plan says"),
        min_observation_after_stop_min=_OBSERVATION_MIN,
        observation_source=CLINIC_POLICY,
        limits=_ASRA_MINIMUM,
        evidence=(
            EvidenceRef(CLINIC_POLICY, None, "physician-written program under the drug library"),
            EvidenceRef(ref("asra2018"), _ASRA_GRADE, "bolus up to 0.35 mg/kg; infusion 0.5-2 mg/kg/h"),
        ),
        allowed_kinds=_IV,
        requires_explicit_steps=True,
    ),
)

_BY_ID = {p.id: p for p in PROTOCOLS}
if len(_BY_ID) != len(PROTOCOLS):  # pragma: no cover - a data error caught at import
    raise ValueError("duplicate protocol id")

PROTOCOL_IDS: tuple[str, ...] = tuple(_BY_ID)


class UnknownProtocolError(KeyError):
    """A protocol id that is not in the library; the message names the allowed ids."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_protocol(protocol_id: str) -> Protocol:
    """The protocol with this id, or :class:`UnknownProtocolError` naming the allowed ids."""
    try:
        return _BY_ID[protocol_id]
    except KeyError:
        raise UnknownProtocolError(
            f"unknown protocol {protocol_id!r}; allowed: {', '.join(PROTOCOL_IDS)}"
        ) from None


def list_protocols() -> list[dict[str, Any]]:
    """``{"id","name","route","setting","source","summary"}`` for each protocol, in library order."""
    return [p.listing() for p in PROTOCOLS]


# -- rules for docs/clinical-rules.md ----------------------------------------------------------

def _limit_rule(protocol: Protocol, lim: ProtocolLimit) -> Rule:
    value = f"{lim.value:.4g} {lim.unit}"
    kind, threshold, action = {
        "max": ("soft_limit", f"> {value}", "stop unless a physician overrides with a reason"),
        "min": ("soft_limit", f"< {value}", "stop unless a physician overrides with a reason"),
        "cap": ("cap", f"> {value}", f"rate clamped to {value}; noted on the program"),
        "advised_min": ("note", f"< {value}", "note on the program (never a stop)"),
    }[lim.bound]
    return Rule(
        code=f"{protocol.id}.{lim.code}", domain="protocols", kind=kind,
        threshold=f"{lim.quantity} {threshold}", action=f"{action} ({lim.why})", source=lim.source, grade=lim.grade,
    )


def _rules() -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for p in PROTOCOLS:
        rules.extend(_limit_rule(p, lim) for lim in p.limits)
        rules.append(
            Rule(
                code=f"{p.id}.min_observation", domain="protocols", kind="observation",
                threshold=f">= {p.min_observation_after_stop_min:g} min after the infusion stops",
                action="no discharge before this time, and not before the discharge criteria are met",
                source=p.observation_source,
            )
        )
    return tuple(rules)


RULES: tuple[Rule, ...] = _rules()
