"""Validated questionnaires (PROMs, issue 15): the instruments, their scoring and severity bands. Pure, no I/O.

Only instruments whose terms allow free use in clinical software are shipped (the licence checks are in
:mod:`ketaclinic.evidence.catalog.questionnaires`):

- **PHQ-9** (Kroenke 2001): nine items 0-3, total 0-27; ``minimal`` 0-4, ``mild`` 5-9, ``moderate`` 10-14,
  ``moderately_severe`` 15-19, ``severe`` 20-27. Any answer above 0 on item 9 (thoughts of being better off
  dead or of self-harm) is the flag ``self_harm_thoughts``: the physician is alerted the same day.
- **GAD-7** (Spitzer 2006): seven items 0-3, total 0-21; ``minimal`` 0-4, ``mild`` 5-9, ``moderate`` 10-14,
  ``severe`` 15-21.
- **PGIC** (Guy 1976's global improvement scale as the patient's impression, Farrar 2001): one item, 1 very much
  improved ... 4 no change ... 7 very much worse; 1 and 2 ("very much" or "much improved") are responders.

Missing items: PHQ-9 and GAD-7 are prorated (the mean of the answered items times the number of items, rounded
half up) when at most 2 of 9 (PHQ-9) or 1 of 7 (GAD-7) items are missing; more missing items, or a missing
PGIC answer, leave the instrument unscorable (:class:`Unscorable`). PHQ-9's limit is the published rule
(Arrieta 2017, as applied by Kroenke 2010; the developers' manual has none); GAD-7's one of seven is clinic policy
by the same share, since no published GAD-7 rule was found (``phq_missing_items``).

A clinic that holds a licence for another instrument (Brief Pain Inventory, PROMIS-29, PCS, DN4 ...) adds it as
a custom instrument with the same model (:class:`CustomInstrumentIn`): items, options, sum scoring, bands and its
own missing-item limit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from ketaclinic.evidence.sources import ref


@dataclass(frozen=True)
class Option:
    value: int
    label: str
    loinc: str | None = None  # LOINC answer code (LA...), where it was confirmed


@dataclass(frozen=True)
class Item:
    id: str  # link id: phq9_1 ...
    text: str
    options: tuple[Option, ...]
    scored: bool = True

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(o.value for o in self.options)

    def label_of(self, value: int | None) -> str:
        return next((o.label for o in self.options if o.value == value), "not answered")


@dataclass(frozen=True)
class Band:
    code: str
    low: int
    high: int
    label: str


@dataclass(frozen=True)
class Flag:
    code: str
    message: str
    source: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "source": self.source}


@dataclass(frozen=True)
class Instrument:
    id: str
    name: str
    short_name: str
    preamble: str
    items: tuple[Item, ...]
    bands: tuple[Band, ...]
    licence: str
    source: str  # evidence id of the instrument
    licence_source: str | None
    scoring: Literal["sum", "single"] = "sum"
    max_missing: int = 0  # prorated when at most this many scored items are missing
    missing_source: str | None = None
    mcid: float | None = None  # minimal clinically important change of the total (points)
    mcid_source: str | None = None
    higher_is_worse: bool = True
    loinc_panel: str | None = None
    loinc_total: str | None = None
    builtin: bool = True
    minutes: float = 2.0  # about how long it takes
    responder_codes: tuple[str, ...] = ()  # severity codes that count as a responder (PGIC)

    @property
    def scored_items(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.scored)

    @property
    def min_total(self) -> int:
        return sum(min(i.values) for i in self.scored_items) if self.scoring == "sum" else min(self.scored_items[0].values)

    @property
    def max_total(self) -> int:
        return sum(max(i.values) for i in self.scored_items) if self.scoring == "sum" else max(self.scored_items[0].values)

    def band_of(self, total: int) -> Band | None:
        return next((b for b in self.bands if b.low <= total <= b.high), None)

    def summary(self) -> dict[str, Any]:
        """The ``--list`` entry: id, name, items, licence, source."""
        return {"id": self.id, "name": self.name, "items": len(self.scored_items), "licence": self.licence,
                "source": self.source, "licence_source": self.licence_source,
                "range": [self.min_total, self.max_total],
                "missing_items": ({"rule": "prorate", "max_missing": self.max_missing, "source": self.missing_source}
                                  if self.max_missing else None),
                "mcid": self.mcid, "mcid_source": self.mcid_source}


class Unscorable(ValueError):
    """The answers cannot be scored (wrong count, a value outside the options, too many missing items)."""

    def __init__(self, code: str, message: str, field: str = "answers"):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Score:
    instrument: str
    total: int
    severity: str | None
    flags: tuple[Flag, ...]
    answered: int
    missing: tuple[int, ...]  # 1-based numbers of the missing scored items
    prorated: bool
    raw_sum: int
    severity_label: str | None = None
    responder: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"instrument": self.instrument, "total": self.total, "severity": self.severity,
                               "flags": [f.as_json() for f in self.flags], "severity_label": self.severity_label,
                               "answered": self.answered, "missing_items": list(self.missing),
                               "prorated": self.prorated}
        if self.responder is not None:
            out["responder"] = self.responder
        return out


FREQUENCY = (Option(0, "Not at all", "LA6568-5"), Option(1, "Several days", "LA6569-3"),
             Option(2, "More than half the days", "LA6570-1"), Option(3, "Nearly every day", "LA6571-9"))
DIFFICULTY = (Option(0, "Not difficult at all"), Option(1, "Somewhat difficult"), Option(2, "Very difficult"),
              Option(3, "Extremely difficult"))
DIFFICULTY_TEXT = ("If you checked off any problems, how difficult have these problems made it for you to do your "
                   "work, take care of things at home, or get along with other people?")
PHQ_LICENCE = ("Free to use: developed by Drs Robert L. Spitzer, Janet B.W. Williams, Kurt Kroenke and colleagues "
               "with an educational grant from Pfizer Inc.; no permission required to reproduce, translate, display "
               "or distribute")

PHQ9_TEXTS = (
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself \u2014 or that you are a failure or have let yourself or your family down",
    "Trouble concentrating on things, such as reading the newspaper or watching television",
    "Moving or speaking so slowly that other people could have noticed? Or the opposite \u2014 being so fidgety "
    "or restless that you have been moving around a lot more than usual",
    "Thoughts that you would be better off dead or of hurting yourself in some way",
)
GAD7_TEXTS = (
    "Feeling nervous, anxious, or on edge",
    "Not being able to stop or control worrying",
    "Worrying too much about different things",
    "Trouble relaxing",
    "Being so restless that it is hard to sit still",
    "Becoming easily annoyed or irritable",
    "Feeling afraid as if something awful might happen",
)
PGIC_OPTIONS = (Option(1, "Very much improved"), Option(2, "Much improved"), Option(3, "Minimally improved"),
                Option(4, "No change"), Option(5, "Minimally worse"), Option(6, "Much worse"),
                Option(7, "Very much worse"))
PGIC_CODES = {1: "very_much_improved", 2: "much_improved", 3: "minimally_improved", 4: "no_change",
              5: "minimally_worse", 6: "much_worse", 7: "very_much_worse"}

PHQ9 = Instrument(
    id="phq9", name="Patient Health Questionnaire-9 (PHQ-9)", short_name="PHQ-9",
    preamble="Over the last 2 weeks, how often have you been bothered by any of the following problems?",
    items=tuple(Item(f"phq9_{n}", text, FREQUENCY) for n, text in enumerate(PHQ9_TEXTS, start=1))
    + (Item("phq9_difficulty", DIFFICULTY_TEXT, DIFFICULTY, scored=False),),
    bands=(Band("minimal", 0, 4, "Minimal"), Band("mild", 5, 9, "Mild"), Band("moderate", 10, 14, "Moderate"),
           Band("moderately_severe", 15, 19, "Moderately severe"), Band("severe", 20, 27, "Severe")),
    licence=PHQ_LICENCE, source=ref("kroenke2001_phq9"), licence_source=ref("pfizer_phq_licence"),
    max_missing=2, missing_source=ref("phq_missing_items"), mcid=5, mcid_source=ref("lowe2004_phq9_change"),
    loinc_panel="44249-1", loinc_total="44261-6", minutes=2.0,
)
GAD7 = Instrument(
    id="gad7", name="Generalized Anxiety Disorder-7 (GAD-7)", short_name="GAD-7",
    preamble="Over the last 2 weeks, how often have you been bothered by the following problems?",
    items=tuple(Item(f"gad7_{n}", text, FREQUENCY) for n, text in enumerate(GAD7_TEXTS, start=1))
    + (Item("gad7_difficulty", DIFFICULTY_TEXT, DIFFICULTY, scored=False),),
    bands=(Band("minimal", 0, 4, "Minimal"), Band("mild", 5, 9, "Mild"), Band("moderate", 10, 14, "Moderate"),
           Band("severe", 15, 21, "Severe")),
    licence=PHQ_LICENCE, source=ref("spitzer2006_gad7"), licence_source=ref("pfizer_phq_licence"),
    max_missing=1, missing_source=ref("phq_missing_items"), mcid=4, mcid_source=ref("toussaint2020_gad7_mcid"),
    loinc_panel="69737-5", loinc_total="70274-6", minutes=1.5,
)
PGIC = Instrument(
    id="pgic", name="Patient Global Impression of Change (PGIC)", short_name="PGIC",
    preamble="Since the start of treatment at this clinic, my overall status is:",
    items=(Item("pgic_1", "Since the start of treatment at this clinic, my overall status is:", PGIC_OPTIONS),),
    bands=tuple(Band(PGIC_CODES[o.value], o.value, o.value, o.label) for o in PGIC_OPTIONS),
    licence="Public domain: the global improvement scale of a US government publication (Guy 1976, ECDEU manual)",
    source=ref("farrar2001_pgic"), licence_source=ref("guy1976_cgi"), scoring="single",
    mcid=None, mcid_source=ref("dworkin2008_immpact"), higher_is_worse=True, minutes=0.5,
    responder_codes=("very_much_improved", "much_improved"),
)

INSTRUMENTS: dict[str, Instrument] = {i.id: i for i in (PHQ9, GAD7, PGIC)}

SELF_HARM = "self_harm_thoughts"
SELF_HARM_UNANSWERED = "self_harm_item_unanswered"
#: What the flags say; the clinic's own action is added by the service (clinic settings).
SELF_HARM_MESSAGE = ("PHQ-9 item 9 answered above 0 (thoughts that they would be better off dead or of hurting "
                     "themselves): the physician assesses suicide risk the same day")
SELF_HARM_UNANSWERED_MESSAGE = "PHQ-9 item 9 (thoughts of self-harm) was not answered: ask the patient directly"


def get_instrument(instrument_id: str, custom: Sequence[Instrument] = ()) -> Instrument:
    """The instrument with this id (case and hyphens ignored for the shipped ones: ``PHQ-9`` is ``phq9``)."""
    found = INSTRUMENTS.get(instrument_id.casefold().replace("-", "")) or INSTRUMENTS.get(instrument_id) or next((c for c in custom if c.id == instrument_id), None)
    if found is None:
        known = ", ".join([*INSTRUMENTS, *(c.id for c in custom)])
        raise Unscorable("unknown_instrument", f"unknown instrument {instrument_id!r}: one of {known}", "instrument")
    return found


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def score(instrument: Instrument, answers: Sequence[int | None]) -> Score:
    """Score ``answers`` (scored items in order; ``None`` for a missing item; an unscored trailing item such as
    PHQ-9's difficulty question may be given too and is ignored in the total)."""
    scored = instrument.scored_items
    n = len(scored)
    if len(answers) not in (n, len(instrument.items)):
        raise Unscorable("wrong_item_count", f"{instrument.short_name} has {n} items: give {n} answers in item order "
                         f"(null for an unanswered item); got {len(answers)}")
    for index, (item, answer) in enumerate(zip(instrument.items, answers, strict=False), start=1):
        if answer is not None and answer not in item.values:
            allowed = ", ".join(str(v) for v in item.values)
            raise Unscorable("invalid_answer", f"answers[{index - 1}]: {instrument.short_name} item {index} takes "
                             f"{allowed} (got {answer})", f"answers[{index - 1}]")
    given = list(answers[:n])
    missing = tuple(i for i, a in enumerate(given, start=1) if a is None)
    answered = [a for a in given if a is not None]
    if missing and len(missing) > instrument.max_missing:
        rule = (f"at most {instrument.max_missing} may be missing to prorate" if instrument.max_missing
                else "it has no rule for missing items, so every item must be answered")
        raise Unscorable("too_many_missing", f"{instrument.short_name}: item(s) {', '.join(map(str, missing))} not "
                         f"answered; {rule}")
    raw = sum(answered)
    total = raw if not missing else _round_half_up(raw * n / len(answered))
    band = instrument.band_of(total)
    flags: list[Flag] = []
    if instrument.id == "phq9":
        item9 = given[8]
        if item9 is not None and item9 > 0:
            flags.append(Flag(SELF_HARM, SELF_HARM_MESSAGE, ref("kroenke2001_phq9")))
        elif item9 is None:
            flags.append(Flag(SELF_HARM_UNANSWERED, SELF_HARM_UNANSWERED_MESSAGE, ref("kroenke2001_phq9")))
    responder = (band.code in instrument.responder_codes) if instrument.responder_codes and band else None
    return Score(instrument=instrument.id, total=total, severity=band.code if band else None, flags=tuple(flags),
                 answered=len(answered), missing=missing, prorated=bool(missing), raw_sum=raw,
                 severity_label=band.label if band else None, responder=responder)


def change(instrument: Instrument, baseline: int, latest: int) -> dict[str, Any]:
    """Change from baseline of a total, and whether it reaches the instrument's MCID (improvement when lower)."""
    delta = latest - baseline
    improved = None
    if instrument.mcid is not None:
        improved = (-delta if instrument.higher_is_worse else delta) >= instrument.mcid
    return {"baseline": baseline, "latest": latest, "change": delta, "mcid": instrument.mcid,
            "clinically_important_improvement": improved}


# --- the contract's request (ketaclinic score) ---------------------------------------------------------------


class ScoreRequest(BaseModel):
    """Contract 4.11: ``{"instrument": "phq9" | "gad7" | "pgic", "answers": [ints in item order, null if missing]}``."""

    model_config = ConfigDict(extra="forbid")
    instrument: str = Field(min_length=1, max_length=64)
    answers: list[StrictInt | None] = Field(max_length=200)


def score_request(request: ScoreRequest) -> dict[str, Any]:
    return score(get_instrument(request.instrument), request.answers).as_json()


def list_instruments() -> dict[str, Any]:
    return {"instruments": [i.summary() for i in INSTRUMENTS.values()]}


# --- custom instruments (a clinic's licensed questionnaire) ----------------------------------------------------

SLUG = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


class CustomOptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: StrictInt = Field(ge=-100, le=100)
    label: str = Field(min_length=1, max_length=120)


class CustomItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=500)
    options: list[CustomOptionIn] = Field(min_length=2, max_length=11)

    @field_validator("options")
    @classmethod
    def _distinct(cls, options: list[CustomOptionIn]) -> list[CustomOptionIn]:
        if len({o.value for o in options}) != len(options):
            raise ValueError("each option of an item needs its own value")
        return options


class CustomBandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    label: str = Field(min_length=1, max_length=60)
    min: StrictInt
    max: StrictInt


class CustomInstrumentIn(BaseModel):
    """A licensed instrument a clinic adds: items with options, summed; bands; its own missing-item limit."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="short id, lower case: bpi_sf")
    name: str = Field(min_length=3, max_length=120)
    licence: str = Field(min_length=3, max_length=500, description="who licensed it to the clinic, and the terms")
    preamble: str = Field(default="", max_length=500)
    items: list[CustomItemIn] = Field(min_length=1, max_length=60)
    bands: list[CustomBandIn] = Field(default_factory=list, max_length=12)
    max_missing: StrictInt = Field(default=0, ge=0, description="items that may be missing (prorated); 0: none")
    mcid: float | None = Field(default=None, gt=0, le=1000)
    higher_is_worse: bool = True

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError("2-40 characters: lower-case letters, digits and _ (starting with a letter)")
        if value in INSTRUMENTS:
            raise ValueError(f"{value!r} is a shipped instrument: choose another id")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CustomInstrumentIn:
        if self.max_missing >= len(self.items):
            raise ValueError("max_missing must leave at least one item answered")
        ordered = sorted(self.bands, key=lambda b: b.min)
        for band in ordered:
            if band.min > band.max:
                raise ValueError(f"band {band.code!r}: min is above max")
        for a, b in zip(ordered, ordered[1:], strict=False):
            if b.min <= a.max:
                raise ValueError(f"bands {a.code!r} and {b.code!r} overlap")
        return self


def custom_instrument(definition: dict[str, Any] | CustomInstrumentIn) -> Instrument:
    """An :class:`Instrument` from a stored custom definition."""
    d = definition if isinstance(definition, CustomInstrumentIn) else CustomInstrumentIn.model_validate(definition)
    return Instrument(
        id=d.id, name=d.name, short_name=d.name, preamble=d.preamble,
        items=tuple(Item(f"{d.id}_{n}", it.text, tuple(Option(o.value, o.label) for o in it.options))
                    for n, it in enumerate(d.items, start=1)),
        bands=tuple(Band(b.code, b.min, b.max, b.label) for b in sorted(d.bands, key=lambda b: b.min)),
        licence=d.licence, source=ref("clinic_policy"), licence_source=None, max_missing=d.max_missing,
        missing_source=ref("clinic_policy") if d.max_missing else None, mcid=d.mcid,
        mcid_source=ref("clinic_policy") if d.mcid else None, higher_is_worse=d.higher_is_worse, builtin=False,
        minutes=max(0.5, len(d.items) * 0.2),
    )


# --- schedules: which questionnaires are due ---------------------------------------------------------------------

DEFAULT_SELF_HARM_ACTION = (
    "Physician to contact the patient today and assess suicide risk (ask directly about plans and intent); if the "
    "patient is at imminent risk, call emergency services (US: 911) and give the 988 Suicide & Crisis Lifeline. "
    "Record what was done when acknowledging this alert.")


class QuestionnairePolicy(BaseModel):
    """When questionnaires are due (clinic settings; every number here is clinic policy)."""

    model_config = ConfigDict(extra="forbid")
    baseline: list[str] = Field(default_factory=lambda: ["phq9", "gad7"],
                                description="asked at the evaluation (before any treatment)")
    before_course: list[str] = Field(default_factory=lambda: ["phq9", "gad7"],
                                     description="asked once a plan is signed, before the course's first infusion")
    end_of_course: list[str] = Field(default_factory=lambda: ["phq9", "gad7", "pgic"],
                                     description="asked when the course's last infusion is done")
    monthly: list[str] = Field(default_factory=lambda: ["phq9", "gad7", "pgic"],
                               description="asked every interval after treatment started")
    monthly_interval_days: int = Field(default=30, ge=7, le=365)
    self_harm_action: str = Field(default=DEFAULT_SELF_HARM_ACTION, min_length=10, max_length=1000,
                                  description="what the physician does the same day when PHQ-9 item 9 is above 0")


@dataclass(frozen=True)
class CourseFacts:
    plan_id: int
    signed_at: datetime
    started_at: datetime | None  # the first infusion's start
    ended_at: datetime | None  # when the course's last planned infusion was done (None: still running)


@dataclass(frozen=True)
class DoneFacts:
    instrument: str
    context: str
    plan_id: int | None
    completed_at: datetime


@dataclass(frozen=True)
class Due:
    instrument: str
    context: str
    plan_id: int | None
    since: datetime
    reason: str


CONTEXT_WORDS = {"baseline": "before treatment (baseline)", "pre_course": "before the course",
                 "end_of_course": "at the end of the course", "monthly": "monthly follow-up", "ad_hoc": "asked by staff"}


def due_questionnaires(policy: QuestionnairePolicy, *, evaluated_at: datetime | None, courses: Sequence[CourseFacts],
                       done: Sequence[DoneFacts], now: datetime) -> list[Due]:
    """What is due now, at most one entry per instrument (the first that applies: before a course, end of a
    course, baseline, monthly). ``now`` is passed in (no clock in the core)."""
    found: dict[str, Due] = {}

    def add(instrument: str, context: str, plan_id: int | None, since: datetime, reason: str) -> None:
        if instrument not in found and since <= now:
            found[instrument] = Due(instrument, context, plan_id, since, reason)

    def answered(instrument: str, context: str, plan_id: int | None = None, after: datetime | None = None) -> bool:
        return any(d.instrument == instrument and d.context == context and (plan_id is None or d.plan_id == plan_id)
                   and (after is None or d.completed_at >= after) for d in done)

    for course in sorted(courses, key=lambda c: c.signed_at, reverse=True):
        if course.started_at is None:
            for instrument in policy.before_course:
                if not answered(instrument, "pre_course", course.plan_id):
                    add(instrument, "pre_course", course.plan_id, course.signed_at, "a course is about to start")
        if course.ended_at is not None:
            for instrument in policy.end_of_course:
                if not answered(instrument, "end_of_course", course.plan_id):
                    add(instrument, "end_of_course", course.plan_id, course.ended_at, "the course has ended")
    treated = [c.started_at for c in courses if c.started_at is not None]
    if evaluated_at is not None and not treated:
        for instrument in policy.baseline:
            if not any(d.instrument == instrument for d in done):
                add(instrument, "baseline", None, evaluated_at, "baseline at the evaluation")
    if treated:
        first = min(treated)
        interval = timedelta(days=policy.monthly_interval_days)
        for instrument in policy.monthly:
            latest = max((d.completed_at for d in done if d.instrument == instrument and d.completed_at >= first),
                         default=first)
            if now - latest >= interval:
                add(instrument, "monthly", None, latest + interval, f"every {policy.monthly_interval_days} days")
    return sorted(found.values(), key=lambda d: (d.since, d.instrument))
