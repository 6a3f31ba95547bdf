"""The drug library beyond ketamine: adjuncts and rescue drugs a plan may order as needed (PRN),
and the checks a PRN order and each dose given under it pass (issue 14, the medication record).

Pure and table-driven. Ketamine's own library (pump limits per care profile) is
:mod:`ketaclinic.clinical.dosing`; this module is its companion for the drugs a nurse gives by hand
during a session: an antiemetic for nausea, an antihypertensive for a blood-pressure rise, a
benzodiazepine for distressing dissociation, an antisialagogue for hypersalivation, and what the
protocols premedicate with (Schwartzman 2009: midazolam 2 mg IV and clonidine 0.1 mg by mouth).

Each number carries its source: the drug's US label where the label sets it (read in reprints of
the label: ``checked="secondary"`` in ``evidence/catalog/medication_record.py``), otherwise clinic
policy. KetaClinic is decision support: the physician signs every order; the limits catch slips
(a 10-fold dose, a dose too soon, one dose too many), they do not choose the drug.

How an order is judged (:func:`check_order`, when the physician writes it)
    * the drug must be in the library, the route one of the drug's, the indication one of its uses;
    * the dose above the drug's **hard** per-dose maximum is refused (``hard_limit``); above the
      **soft** maximum it needs the physician's reason (``soft_limit`` without one);
    * the most the order could give in one session (dose x maximum doses) is judged the same way
      against the drug's per-session limits;
    * the minimum interval between doses may be longer than the library's, never shorter.

How a dose is judged at the bedside (:func:`check_dose`): hard stops only, no override (the
physician accepted any soft limit when signing the order). The dose and route are the order's; the
order's maximum per session, its minimum interval since the last dose of the same drug, and the
drug's hard per-session maximum (every dose of the drug in the session, under any order) must hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from ketaclinic.clinical.dosing import Bound
from ketaclinic.clinical.rules import Rule
from ketaclinic.evidence.sources import CLINIC_POLICY, ref

DOSE_QUANTUM = Decimal("0.01")
"""Doses are recorded to 0.01 mg (glycopyrrolate 0.1 mg, clonidine 0.1 mg are the smallest usual doses)."""

MAX_DOSES_PER_SESSION_CAP = 10
"""No PRN order allows more than 10 doses in one session (clinic policy: catches a slip in the count)."""


class Indication(StrEnum):
    """Why a PRN dose is given: each ties the order to the bedside finding that calls for it."""

    NAUSEA_VOMITING = "nausea_vomiting"
    HYPERTENSION = "hypertension"
    PSYCHOMIMETIC_DISTRESS = "psychomimetic_distress"
    HYPERSALIVATION = "hypersalivation"
    PREMEDICATION = "premedication"


INDICATION_LABELS: dict[str, str] = {
    "nausea_vomiting": "nausea or vomiting",
    "hypertension": "blood-pressure rise",
    "psychomimetic_distress": "distressing dissociation, hallucinations or agitation",
    "hypersalivation": "hypersalivation",
    "premedication": "premedication before the infusion",
}

#: The alert rules (clinical/monitoring.py) whose finding a PRN order's indication answers. The
#: ``nausea_vomiting`` rule's action is ``give_medication``; the blood-pressure and psychomimetic rules
#: ask to reduce or pause the rate and to call the physician, who may give the rescue drug in the plan:
#: the console offers the matching order beside those alerts too.
ALERT_INDICATIONS: dict[str, str] = {
    "nausea_vomiting": "nausea_vomiting",
    "bp_critical": "hypertension",
    "bp_elevated": "hypertension",
    "bp_rise_from_baseline": "hypertension",
    "psychomimetic_distress": "psychomimetic_distress",
    "rass_agitation": "psychomimetic_distress",
}

ROUTE_LABELS = {"iv": "IV", "oral": "by mouth", "im": "IM", "sublingual": "sublingual"}


class MarError(ValueError):
    """An order or a dose the library or the order refuses: ``code`` as the API answers it."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True)
class AdjunctDrug:
    """One drug of the adjunct library: its routes, usual dose, limits and uses, each with a source."""

    id: str
    name: str
    drug_class: str
    routes: tuple[str, ...]
    indications: tuple[str, ...]
    usual_dose_mg: Bound
    dose_soft_max_mg: Bound
    dose_hard_max_mg: Bound
    session_soft_max_mg: Bound
    session_hard_max_mg: Bound
    min_interval_min: Bound
    schedule: str | None = None  # DEA schedule when controlled ("IV" for midazolam): its doses go through the register
    cautions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (self.usual_dose_mg.value <= self.dose_soft_max_mg.value <= self.dose_hard_max_mg.value):
            raise ValueError(f"{self.id}: usual <= soft <= hard per dose")
        if not (self.session_soft_max_mg.value <= self.session_hard_max_mg.value):
            raise ValueError(f"{self.id}: session soft <= hard")
        if self.dose_hard_max_mg.value > self.session_hard_max_mg.value:
            raise ValueError(f"{self.id}: one dose cannot be allowed past the session maximum")
        for indication in self.indications:
            Indication(indication)

    @property
    def controlled(self) -> bool:
        return self.schedule is not None

    def as_dict(self) -> dict[str, Any]:
        def b(bound: Bound) -> dict[str, Any]:
            return {"value": bound.value, "source": bound.source, "why": bound.why}

        return {
            "id": self.id, "name": self.name, "drug_class": self.drug_class, "routes": list(self.routes),
            "indications": list(self.indications), "usual_dose_mg": b(self.usual_dose_mg),
            "dose_soft_max_mg": b(self.dose_soft_max_mg), "dose_hard_max_mg": b(self.dose_hard_max_mg),
            "session_soft_max_mg": b(self.session_soft_max_mg), "session_hard_max_mg": b(self.session_hard_max_mg),
            "min_interval_min": b(self.min_interval_min), "schedule": self.schedule, "cautions": list(self.cautions),
        }


_P = CLINIC_POLICY

ADJUNCTS: tuple[AdjunctDrug, ...] = (
    AdjunctDrug(
        "ondansetron", "Ondansetron", "antiemetic (5-HT3 antagonist)", ("iv", "oral"), ("nausea_vomiting",),
        usual_dose_mg=Bound(4.0, ref("ondansetron_pi"), None, "a single 4 mg IV dose for postoperative nausea and vomiting"),
        dose_soft_max_mg=Bound(8.0, _P, None, "twice the usual dose; the label studied 4 and 8 mg"),
        dose_hard_max_mg=Bound(16.0, ref("ondansetron_pi"), None, "no single IV dose above 16 mg (dose-dependent QT prolongation)"),
        session_soft_max_mg=Bound(8.0, _P, None, "two usual doses in one session"),
        session_hard_max_mg=Bound(16.0, _P, None, "the label's largest single IV dose, as a session total"),
        min_interval_min=Bound(30.0, _P, None, "judge the first dose's effect before a second"),
        cautions=("QT prolongation: avoid in congenital long QT; ECG if electrolytes are abnormal or other QT drugs are taken",),
    ),
    AdjunctDrug(
        "midazolam", "Midazolam", "benzodiazepine (Schedule IV)", ("iv",), ("psychomimetic_distress", "premedication"),
        usual_dose_mg=Bound(1.0, ref("midazolam_pi"), None, "the initial IV dose may be as little as 1 mg"),
        dose_soft_max_mg=Bound(2.0, ref("schwartzman2009"), None, "2 mg IV was the trial's premedication; the reference's "
                               "rescue dose is 1-2 mg (a suggestion)"),
        dose_hard_max_mg=Bound(2.5, ref("midazolam_pi"), None, "the initial dose should not exceed 2.5 mg in a healthy adult"),
        session_soft_max_mg=Bound(4.0, ref("schwartzman2009"), None, "the trial gave 2 mg twice"),
        session_hard_max_mg=Bound(5.0, ref("midazolam_pi"), None, "a total above 5 mg is usually not necessary"),
        min_interval_min=Bound(5.0, _P, None, "the label asks at least 2 min to judge each dose; 5 min at the chair"),
        schedule="IV",
        cautions=("respiratory depression with opioids or other CNS depressants: continuous pulse oximetry",
                  "lower doses over 60 years or when debilitated"),
    ),
    AdjunctDrug(
        "clonidine", "Clonidine", "central alpha-2 agonist", ("oral",), ("hypertension", "premedication"),
        usual_dose_mg=Bound(0.1, ref("clonidine_pi"), None, "the initial dose; also the trial's oral premedication"),
        dose_soft_max_mg=Bound(0.1, _P, None, "one usual dose at a time"),
        dose_hard_max_mg=Bound(0.2, _P, None, "twice the usual dose"),
        session_soft_max_mg=Bound(0.2, _P, None, "two usual doses in one session"),
        session_hard_max_mg=Bound(0.6, _P, None, "well under the label's 2.4 mg/day"),
        min_interval_min=Bound(60.0, _P, None, "peak effect takes hours by mouth: judge it before another dose"),
        cautions=("hypotension and sedation add to ketamine's; rebound hypertension if stopped after regular use",),
    ),
    AdjunctDrug(
        "labetalol", "Labetalol", "alpha/beta blocker", ("iv",), ("hypertension",),
        usual_dose_mg=Bound(20.0, ref("labetalol_pi"), None, "20 mg over 2 minutes"),
        dose_soft_max_mg=Bound(20.0, _P, None, "one usual dose at a time in an outpatient chair"),
        dose_hard_max_mg=Bound(80.0, ref("labetalol_pi"), None, "the largest repeat injection the label gives"),
        session_soft_max_mg=Bound(40.0, _P, None, "two usual doses; more means the infusion should stop"),
        session_hard_max_mg=Bound(300.0, ref("labetalol_pi"), None, "the label's total"),
        min_interval_min=Bound(10.0, ref("labetalol_pi"), None, "repeat doses at 10-minute intervals"),
        cautions=("keep the patient supine; re-check the blood pressure 5 and 10 minutes after each dose",
                  "asthma, heart block, bradycardia, heart failure: do not give"),
    ),
    AdjunctDrug(
        "glycopyrrolate", "Glycopyrrolate", "antimuscarinic (antisialagogue)", ("iv",), ("hypersalivation", "premedication"),
        usual_dose_mg=Bound(0.1, ref("glycopyrrolate_pi"), None, "single IV doses of 0.1 mg"),
        dose_soft_max_mg=Bound(0.2, ref("glycopyrrolate_pi"), None, "0.2 mg for a more profound effect"),
        dose_hard_max_mg=Bound(0.4, _P, None, "twice the label's larger dose"),
        session_soft_max_mg=Bound(0.4, _P, None, "a few doses in one session"),
        session_hard_max_mg=Bound(0.8, _P, None, "catches repeated doses past any need for secretions"),
        min_interval_min=Bound(3.0, ref("glycopyrrolate_pi"), None, "repeated as needed at 2-3 minute intervals"),
        cautions=("tachycardia, urinary retention; avoid in glaucoma or obstructive uropathy",),
    ),
)

ADJUNCT_IDS: tuple[str, ...] = tuple(d.id for d in ADJUNCTS)
_BY_ID = {d.id: d for d in ADJUNCTS}


def get_adjunct(drug_id: str) -> AdjunctDrug:
    """The library entry of ``drug_id``; :class:`MarError` ``unknown_drug`` naming the choices."""
    try:
        return _BY_ID[drug_id]
    except KeyError:
        raise MarError("unknown_drug", f"{drug_id!r} is not in the adjunct drug library; allowed: "
                       f"{', '.join(ADJUNCT_IDS)}", "drug") from None


def adjunct_named(text: str) -> AdjunctDrug | None:
    """The library drug a free-text drug name is (``"Ondansetron 4mg"`` -> ondansetron), else None."""
    words = text.casefold().replace("-", " ").split()
    return next((d for d in ADJUNCTS if d.id in words or (words and words[0].startswith(d.id))), None)


def dose(value: float | Decimal) -> Decimal:
    """A dose as recorded: to 0.01 mg, from the decimal a person typed."""
    d = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    return d.quantize(DOSE_QUANTUM)


def fmt_mg(value: float | Decimal) -> str:
    return format(dose(value).normalize(), "f")


# -- the order ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderTerms:
    """What a PRN order says: drug, dose, route, indication, how often and how many per session."""

    drug: str
    dose_mg: float
    route: str
    indication: str
    max_doses_per_session: int
    min_interval_min: float


@dataclass(frozen=True)
class Finding:
    """A soft limit the physician's reason covers (kept with the order)."""

    code: str
    message: str
    source: str

    def as_dict(self) -> dict[str, str]:
        return {"level": "soft", "code": self.code, "message": self.message, "source": self.source}


def check_order(terms: OrderTerms, override_reason: str | None = None) -> tuple[Finding, ...]:
    """Judge a PRN order against the library (see the module docstring). Returns the soft limits the
    physician's reason covers; raises :class:`MarError` for a hard stop or a soft one without a reason."""
    drug = get_adjunct(terms.drug)
    if terms.route not in drug.routes:
        raise MarError("route_not_allowed", f"{drug.name} is given {' or '.join(ROUTE_LABELS.get(r, r) for r in drug.routes)} "
                       f"in the library, not {ROUTE_LABELS.get(terms.route, terms.route)}", "route")
    if terms.indication not in drug.indications:
        uses = ", ".join(INDICATION_LABELS[i] for i in drug.indications)
        raise MarError("indication_not_allowed", f"{drug.name} is in the library for: {uses}", "indication")
    given = dose(terms.dose_mg)
    if given <= 0:
        raise MarError("invalid_input", "the dose must be above 0 mg", "dose_mg")
    if not 1 <= terms.max_doses_per_session <= MAX_DOSES_PER_SESSION_CAP:
        raise MarError("invalid_input", f"maximum doses per session is 1 to {MAX_DOSES_PER_SESSION_CAP}",
                       "max_doses_per_session")
    if terms.min_interval_min < drug.min_interval_min.value:
        raise MarError("interval_too_short", f"{drug.name} doses at least {fmt_num(drug.min_interval_min.value)} min apart "
                       f"[{drug.min_interval_min.source}]: {drug.min_interval_min.why}", "min_interval_min")
    soft: list[Finding] = []
    hard = drug.dose_hard_max_mg
    if given > dose(hard.value):
        raise MarError("hard_limit", f"{drug.name} {fmt_mg(given)} mg is above the hard maximum of {fmt_num(hard.value)} mg "
                       f"per dose [{hard.source}]: {hard.why}. Nothing was ordered.", "dose_mg")
    if given > dose(drug.dose_soft_max_mg.value):
        b = drug.dose_soft_max_mg
        soft.append(Finding("dose_above_soft_max", f"{drug.name} {fmt_mg(given)} mg is above the usual maximum of "
                            f"{fmt_num(b.value)} mg per dose [{b.source}]: {b.why}", b.source))
    most = given * terms.max_doses_per_session
    hard = drug.session_hard_max_mg
    if most > dose(hard.value):
        raise MarError("hard_limit", f"{terms.max_doses_per_session} doses of {fmt_mg(given)} mg = {fmt_mg(most)} mg is above "
                       f"the hard maximum of {fmt_num(hard.value)} mg of {drug.name} per session [{hard.source}]: {hard.why}. "
                       "Nothing was ordered.", "max_doses_per_session")
    if most > dose(drug.session_soft_max_mg.value):
        b = drug.session_soft_max_mg
        soft.append(Finding("session_above_soft_max", f"up to {fmt_mg(most)} mg of {drug.name} per session is above the usual "
                            f"maximum of {fmt_num(b.value)} mg [{b.source}]: {b.why}", b.source))
    if soft and not (override_reason or "").strip():
        raise MarError("soft_limit", "; ".join(f.message for f in soft) + ". A physician's reason is needed to order it.",
                       "override_reason")
    return tuple(soft)


def fmt_num(value: float) -> str:
    return format(Decimal(repr(float(value))).normalize(), "f")


# -- a dose at the bedside ---------------------------------------------------------------------


@dataclass(frozen=True)
class GivenDose:
    """A dose already given in this session: its drug, the order it was given under, when, how much."""

    drug: str
    order_id: int | None
    given_at: datetime
    dose_mg: float


@dataclass(frozen=True)
class DoseCheck:
    """A dose the order and the library allow: which dose of the order it is, the drug's session total after it."""

    dose_mg: float
    route: str
    number: int
    of_max: int
    session_total_mg: float
    next_allowed_at: datetime
    findings: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {"dose_mg": self.dose_mg, "route": self.route, "number": self.number, "of_max": self.of_max,
                "session_total_mg": self.session_total_mg, "next_allowed_at": self.next_allowed_at.isoformat()}


def check_dose(order_id: int, terms: OrderTerms, given: Iterable[GivenDose], now: datetime, *,
               dose_mg: float | None = None, route: str | None = None) -> DoseCheck:
    """Judge one PRN dose about to be given under an order (hard stops only; see the module docstring)."""
    drug = get_adjunct(terms.drug)
    ordered = dose(terms.dose_mg)
    if dose_mg is not None and dose(dose_mg) != ordered:
        raise MarError("dose_differs_from_order", f"the order is {drug.name} {fmt_mg(ordered)} mg; a different dose "
                       "needs a new order from the physician", "dose_mg")
    if route is not None and route != terms.route:
        raise MarError("route_differs_from_order", f"the order is {drug.name} {ROUTE_LABELS.get(terms.route, terms.route)}; "
                       "another route needs a new order", "route")
    same_drug = sorted((g for g in given if g.drug == drug.id), key=lambda g: g.given_at)
    under_order = [g for g in same_drug if g.order_id == order_id]
    if len(under_order) >= terms.max_doses_per_session:
        raise MarError("order_max_reached", f"this order allows {terms.max_doses_per_session} dose"
                       f"{'s' if terms.max_doses_per_session != 1 else ''} of {drug.name} per session and "
                       f"{len(under_order)} {'has' if len(under_order) == 1 else 'have'} been given: call the physician",
                       "order_id")
    if same_drug:
        last = same_drug[-1].given_at
        ready = last + timedelta(minutes=terms.min_interval_min)
        if now < ready:
            wait = (ready - now).total_seconds() / 60
            raise MarError("interval_not_elapsed", f"the last {drug.name} dose was {fmt_num(round((now - last).total_seconds() / 60, 1))} "
                           f"min ago; this order needs {fmt_num(terms.min_interval_min)} min between doses "
                           f"(wait {fmt_num(round(wait, 1))} min more)", "order_id")
    total = sum((dose(g.dose_mg) for g in same_drug), Decimal(0)) + ordered
    hard = drug.session_hard_max_mg
    if total > dose(hard.value):
        raise MarError("hard_limit", f"{drug.name} {fmt_mg(ordered)} mg now would make {fmt_mg(total)} mg this session, above "
                       f"the hard maximum of {fmt_num(hard.value)} mg [{hard.source}]: {hard.why}", "order_id")
    return DoseCheck(float(ordered), terms.route, len(under_order) + 1, terms.max_doses_per_session, float(total),
                     now + timedelta(minutes=terms.min_interval_min))


def orders_for_alert(alert_code: str, orders: Iterable[Any]) -> list[Any]:
    """The PRN orders (anything with ``.indication``) that answer an alert, in the order given."""
    indication = ALERT_INDICATIONS.get(alert_code)
    return [] if indication is None else [o for o in orders if getattr(o, "indication", None) == indication]


def _catalogue() -> tuple[Rule, ...]:
    rows = []
    for d in ADJUNCTS:
        rows.append(Rule(f"{d.id}_dose", "medication_record", "hard",
                         f"{d.name} > {fmt_num(d.dose_hard_max_mg.value)} mg per dose", "refuse the order",
                         d.dose_hard_max_mg.source))
        rows.append(Rule(f"{d.id}_session", "medication_record", "hard",
                         f"{d.name} > {fmt_num(d.session_hard_max_mg.value)} mg per session", "refuse the order or the dose",
                         d.session_hard_max_mg.source))
    rows += [
        Rule("prn_soft_limits", "medication_record", "soft",
             "a PRN dose, or the most an order can give in a session, above the drug's usual maximum",
             "the physician gives a reason on the order", ref(CLINIC_POLICY)),
        Rule("prn_order_maximum", "medication_record", "hard", "a dose past the order's maximum per session",
             "refuse the dose; call the physician", ref(CLINIC_POLICY)),
        Rule("prn_interval", "medication_record", "hard",
             "a dose sooner than the order's minimum interval after the last dose of the drug (never shorter than the "
             "library's)", "refuse the dose, saying when it may be given", ref(CLINIC_POLICY)),
        Rule("prn_alert_offer", "medication_record", "offer",
             "an open alert whose finding a PRN order's indication answers (nausea/vomiting; blood-pressure rise; "
             "distressing dissociation or agitation)", "offer that order beside the alert", ref(CLINIC_POLICY)),
    ]
    return tuple(rows)


RULES: tuple[Rule, ...] = _catalogue()
