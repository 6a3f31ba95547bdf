"""Published ketamine pharmacokinetic models, each with its citation, structure, covariates,
the population it was fitted on and the ranges outside which its answer is an extrapolation.

Every model is reduced to the canonical parameters of :class:`Disposition` (volumes in L,
clearances in L/min). Parameter values for the five classic sets were read in opentiva's
``ketamine.py`` (github.com/opentiva/opentiva @4c6b38cf) and checked against the papers'
abstracts where those give them; see ``docs/research/pk-parameters.md``. Corrections to other
tools: Hijazi 2003 studied *adult* ICU patients, so opentiva's "age ≤ 18" limit is not used;
opentiva's ke0 values come from an assumed 1-min time to peak effect, so they are labelled
derived and replaced by a published value where one exists.

Intranasal bioavailability (issue 11). Racemic ketamine: F 0.45, Yanagihara 2003 (25 mg nasal spray,
absolute F against IV in the same three adults), consistent with Malinovsky 1996 (0.50 in children;
the 0.25 in that paper is rectal). The Pharmacotherapy 2022 table (11-17 %, falling with dose) is
the low outlier and was used before; of the two, 0.45 also errs towards predicting more exposure,
the safer side for peaks and dissociation. Its tmax (16 min) is kept, as no other adult racemic
tmax was read. Esketamine (Spravato): F 0.48 from the label, replacing the 0.62 we had derived
from Perez-Ruixo 2021 for a first spray alone; Perez-Ruixo's nasal ka 2.93 /h is kept because with
it this model peaks at 32 min, inside the label's 20-40 min.

Metabolites (norketamine, noresketamine) are not modelled: every model lists this and every
simulation answer warns of it (:data:`METABOLITES_NOT_MODELLED`).

Inter-individual variability (IIV) is log-normal: ``P_i = P_typ · exp(η_i)``,
``η_i ~ N(0, ω²)`` with ``ω² = ln(1 + CV²)``. Where the source gives no variability, the
default of :data:`DEFAULT_IIV_CV` is used and every output says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Protocol

import numpy as np

from ketaclinic.evidence.sources import CLINIC_POLICY, ref
from ketaclinic.pharmacology.disposition import PARAMETERS, Disposition

#: Assumed CV when a source publishes no variability: 30 % on every parameter, a middle value
#: of the published ketamine IIVs (13 % CL Fanta 2015 … 64 % V1 Herd 2007). Clinic policy,
#: flagged as an assumption in every population output.
DEFAULT_IIV_CV: Mapping[str, float] = {p: 0.30 for p in PARAMETERS}
DEFAULT_IIV_SOURCE = ref(CLINIC_POLICY)

#: Kamp 2020 meta-analysis (18 studies): weighted mean ketamine clearance 79 L/h at 70 kg (95 % CI 69-90).
KAMP2020_CL_L_PER_H = 79.0
KAMP2020_CL_CI_L_PER_H = (69.0, 90.0)
KAMP2020_SOURCE = ref("kamp2020")

#: Said in every simulation answer and every model entry: only the parent drug is predicted.
METABOLITES_NOT_MODELLED = (
    "metabolites are not modelled: norketamine (racemic ketamine) and noresketamine (esketamine) are not predicted, "
    "although after oral, sublingual or swallowed nasal doses they reach concentrations similar to or above the "
    "parent drug; plasma values are the parent drug only"
)


@dataclass(frozen=True)
class Route:
    """An extravascular route: bioavailability and first-order absorption.

    When only a time to peak (``tmax_min``) is published, ``ka`` is derived for each model so
    that its typical 70-kg adult reaches the peak at that time (see :func:`derived_ka_per_min`).
    """

    route: str
    bioavailability: float
    source: str
    ka_per_min: float | None = None
    tmax_min: float | None = None
    ka_source: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        ref(self.source)
        if self.ka_source:
            ref(self.ka_source)
        if not 0 < self.bioavailability <= 1:
            raise ValueError("bioavailability must be in (0, 1]")
        if self.ka_per_min is None and self.tmax_min is None:
            raise ValueError("a route needs ka_per_min or tmax_min")


#: Adult racemic-ketamine routes (the sources' numbers; see docs/research/pk-parameters.md §6).
ADULT_ROUTES: Mapping[str, Route] = {
    "oral": Route(
        "oral", 0.23, ref("chong2006"), tmax_min=0.96 * 60, ka_source=ref("chong2006"),
        note="Oral racemic ketamine 25 mg in 6 patients: F 23 ± 9 %, tmax 0.96 ± 0.8 h (Chong 2006).",
    ),
    "sublingual": Route(
        "sublingual", 0.29, ref("rolan2014"), tmax_min=45.0, ka_source=ref("rolan2014"),
        note="Sublingual wafer 25 mg: F 29 % (90 % CI 27-31), median tmax 0.75 h (Rolan 2014).",
    ),
    "intranasal": Route(
        "intranasal", 0.45, ref("yanagihara2003"), tmax_min=16.0, ka_source=ref("intranasal2022"),
        note="Racemic nasal spray: F 0.45 (25 mg spray, absolute F against IV in the same 3 adults, Yanagihara 2003; "
        "Malinovsky 1996 found 0.50 in children). Published F ranges from 0.11 to 0.50 (Pharmacotherapy 2022 Table 6: "
        "17 / 13 / 11 % at 10 / 30 / 50 mg), so the real exposure may be up to 4 times lower than predicted. "
        "tmax 16 min from Pharmacotherapy 2022 Table 6 (50 mg; 14-23 min across doses).",
    ),
    "im": Route(
        "im", 0.93, ref("clements1982"), tmax_min=15.0, ka_source=ref(CLINIC_POLICY),
        note="F 93 % in adults (Clements 1982, secondary sources). No published adult IM absorption rate "
        "was found: tmax 15 min is an assumption (clinic policy) and is flagged in the output.",
    ),
}


class Parameterisation(Protocol):
    """A model's typical parameters for (weight_kg, age_years), and its numbers in words."""

    def __call__(self, weight_kg: float, age_years: float | None) -> dict[str, float]: ...

    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class ValidRange:
    weight_kg: tuple[float, float]
    age_years: tuple[float, float]
    note: str = ""


@dataclass(frozen=True)
class PKModel:
    """One published model. ``typical`` maps (weight_kg, age_years) to canonical parameters."""

    id: str
    name: str
    source: str
    structure: str
    drug: str
    population: str
    ranges: ValidRange
    #: The parameterisation: called with (weight_kg, age_years); its ``text`` says its numbers.
    typical: Parameterisation
    iiv_cv: Mapping[str, float] | None = None
    iiv_source: str | None = None
    ke0_per_min: float | None = None
    ke0_source: str | None = None
    ke0_note: str = ""
    iiv_note: str = ""
    routes: Mapping[str, Route] = field(default_factory=lambda: dict(ADULT_ROUTES))
    sampling: str = "venous"
    notes: tuple[str, ...] = ()
    #: Said in every simulation answer with this model (as warnings) and in its list entry.
    cautions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for source in (self.source, self.iiv_source, self.ke0_source):
            if source:
                ref(source)

    @property
    def parameters_text(self) -> str:
        """The parameters in words, written from the numbers the model computes with."""
        return self.typical.text

    @property
    def iiv_assumed(self) -> bool:
        return self.iiv_cv is None

    def variability_cv(self) -> Mapping[str, float]:
        return self.iiv_cv if self.iiv_cv is not None else DEFAULT_IIV_CV

    def disposition(self, weight_kg: float, age_years: float | None = None) -> Disposition:
        """The typical subject's disposition for this weight and age."""
        return Disposition.from_clearances(**self.typical(weight_kg, age_years))

    def range_warnings(self, weight_kg: float, age_years: float | None) -> list[str]:
        """Plain-language warnings when the patient lies outside the fitted population."""
        warnings: list[str] = []
        lo, hi = self.ranges.weight_kg
        if not lo <= weight_kg <= hi:
            warnings.append(
                f"weight {weight_kg:g} kg is outside the range {lo:g}-{hi:g} kg of the {self.name} population: "
                "the prediction is an extrapolation"
            )
        lo, hi = self.ranges.age_years
        if age_years is None:
            warnings.append(f"age not given: cannot check it against the {self.name} range {lo:g}-{hi:g} years")
        elif not lo <= age_years <= hi:
            warnings.append(
                f"age {age_years:g} years is outside the range {lo:g}-{hi:g} years of the {self.name} population: "
                "the prediction is an extrapolation"
            )
        if self.ranges.note:
            warnings.append(self.ranges.note)
        return warnings

    def describe(self) -> dict:
        """The entry printed by ``ketaclinic simulate --list-models``."""
        return {
            "id": self.id,
            "name": self.name,
            "source": self.source,
            "structure": self.structure,
            "drug": self.drug,
            "population": self.population,
            "ranges": {
                "weight_kg": list(self.ranges.weight_kg),
                "age_years": list(self.ranges.age_years),
                "note": self.ranges.note,
            },
            "parameters": self.parameters_text,
            "variability": {
                "cv": dict(self.variability_cv()),
                "source": self.iiv_source or DEFAULT_IIV_SOURCE,
                "assumed": self.iiv_assumed,
                "note": self.iiv_note,
            },
            "ke0_per_min": self.ke0_per_min,
            "ke0_source": self.ke0_source,
            "ke0_note": self.ke0_note,
            "routes": sorted(["iv", *self.routes]),
            "clearance": self.clearance_check(),
            "notes": [*self.notes, *self.cautions],
            "metabolites": METABOLITES_NOT_MODELLED,
        }

    def clearance_l_per_h_at_70kg(self) -> float:
        """Typical plasma clearance of a 70-kg, 40-year-old subject, L/h."""
        return float(self.disposition(70.0, 40.0).plasma_clearance_l_per_min()[0] * 60.0)

    def clearance_check(self) -> dict:
        """This model's clearance against the Kamp 2020 meta-analysis (79 L/h at 70 kg)."""
        cl = self.clearance_l_per_h_at_70kg()
        return {
            "l_per_h_at_70kg": round(cl, 1),
            "meta_analysis_l_per_h_at_70kg": KAMP2020_CL_L_PER_H,
            "meta_analysis_95ci": list(KAMP2020_CL_CI_L_PER_H),
            "ratio": round(cl / KAMP2020_CL_L_PER_H, 2),
            "source": KAMP2020_SOURCE,
            "note": "typical 70-kg subject against the Kamp 2020 weighted mean of 18 ketamine studies (11 healthy adults, 3 adult patients, 5 paediatric)"
            + ("" if self.drug == "racemic ketamine" else f"; this model is {self.drug}, so the comparison is indicative"),
        }


@dataclass(frozen=True, kw_only=True)
class PerKgMicro:
    """A model published as V1 per kg and micro-constants per minute; ``text`` says its numbers.

    Keywords only: the papers list k13 before k21 and the solver takes k21 first, so a positional
    call was a trap."""

    v1_l_per_kg: float
    k10_per_min: float
    k12_per_min: float
    k21_per_min: float
    k13_per_min: float = 0.0
    k31_per_min: float = 0.0

    def __call__(self, weight_kg: float, age_years: float | None) -> dict[str, float]:
        return Disposition.from_micro_constants(
            self.v1_l_per_kg * weight_kg, self.k10_per_min, self.k12_per_min, self.k21_per_min,
            self.k13_per_min, self.k31_per_min,
        ).typical_parameters()

    @property
    def text(self) -> str:
        rates = [("k10", self.k10_per_min), ("k12", self.k12_per_min)]
        if self.k13_per_min:
            rates.append(("k13", self.k13_per_min))
        rates.append(("k21", self.k21_per_min))
        if self.k31_per_min:
            rates.append(("k31", self.k31_per_min))
        return (f"V1 = {self.v1_l_per_kg:g} L/kg × weight; "
                + ", ".join(f"{name} {value:.4f}" for name, value in rates) + " /min")


@dataclass(frozen=True, kw_only=True)
class Allometric:
    """A two-compartment model published per 70 kg with allometric exponents 1 (volumes) and 0.75
    (clearances); ``text`` says its numbers (and ``provenance``, where the values were read)."""

    v1_l: float
    v2_l: float
    cl_l_per_h: float
    q_l_per_h: float
    provenance: str = ""

    def __call__(self, weight_kg: float, age_years: float | None) -> dict[str, float]:
        size = weight_kg / 70.0
        return {
            "v1_l": self.v1_l * size,
            "v2_l": self.v2_l * size,
            "cl_l_per_min": self.cl_l_per_h / 60.0 * size**0.75,
            "q2_l_per_min": self.q_l_per_h / 60.0 * size**0.75,
            "v3_l": 0.0,
            "q3_l_per_min": 0.0,
        }

    @property
    def text(self) -> str:
        text = (f"V1 {self.v1_l:g} L/70 kg, V2 {self.v2_l:g} L/70 kg (exponent 1); CL {self.cl_l_per_h:g} L/h/70 kg, "
                f"Q {self.q_l_per_h:g} L/h/70 kg (exponent 0.75)")
        return f"{text}; {self.provenance}" if self.provenance else text


OLOFSEN_KE0 = 0.0587  # ln 2 / 11.8 min: S-ketamine analgesia, healthy men (Olofsen 2012)
_OLOFSEN_NOTE = (
    "ke0 0.0587 /min = ln 2 / 11.8 min, the blood-effect-site half-time for pain relief of S-ketamine in "
    "healthy men (Olofsen 2012), borrowed for this racemic model: no adult racemic ke0 is published."
)

MODELS: dict[str, PKModel] = {}
#: The model the clinic's screens draw with (plan preview, session chart, API preview) unless asked
#: for another: the adult racemic model with the small central volume, so the post-bolus peak shows.
DEFAULT_MODEL_ID = "domino1984"


def _register(model: PKModel) -> PKModel:
    MODELS[model.id] = model
    return model


_register(
    PKModel(
        id="domino1984",
        name="Domino (adult, 3-compartment)",
        source=ref("domino1984"),
        structure="three_compartment",
        drug="racemic ketamine",
        population="adults (source population not verified: the paper could not be read)",
        ranges=ValidRange(
            (40.0, 120.0), (18.0, 80.0),
            note="Domino ranges are assumed adult ranges: the study population could not be checked.",
        ),
        typical=PerKgMicro(v1_l_per_kg=0.063, k10_per_min=0.4381, k12_per_min=0.5921, k13_per_min=0.5900,
                           k21_per_min=0.2470, k31_per_min=0.0146),
        ke0_per_min=OLOFSEN_KE0,
        ke0_source=ref("olofsen2012"),
        ke0_note=_OLOFSEN_NOTE,
        sampling="arterial",
        notes=("Small central volume (0.063 L/kg): shows the early peak after a bolus.",),
    )
)
_register(
    PKModel(
        id="clements1981",
        name="Clements 250 µg/kg (adult, 2-compartment)",
        source=ref("clements1981"),
        structure="two_compartment",
        drug="racemic ketamine",
        population="adult volunteers given 250 µg/kg IV (population details not verified)",
        ranges=ValidRange((40.0, 120.0), (18.0, 65.0), note="Clements ranges are assumed adult ranges."),
        typical=PerKgMicro(v1_l_per_kg=1.7522, k10_per_min=0.0109, k12_per_min=0.0186, k21_per_min=0.0137),
        ke0_per_min=OLOFSEN_KE0,
        ke0_source=ref("olofsen2012"),
        ke0_note=_OLOFSEN_NOTE,
        notes=("Very large central volume (1.75 L/kg): no early post-bolus peak.",),
    )
)
_register(
    PKModel(
        id="hijazi2003",
        name="Hijazi (adult ICU, 2-compartment)",
        source=ref("hijazi2003"),
        structure="two_compartment",
        drug="racemic ketamine",
        population="12 adult intensive-care patients with brain or spinal cord injury; CL 36.0 (SD 13.3) mL/min/kg",
        ranges=ValidRange(
            (40.0, 120.0), (18.0, 80.0),
            note="Hijazi studied adults (opentiva's age ≤ 18 limit is wrong); exact ages not verified.",
        ),
        typical=PerKgMicro(v1_l_per_kg=1.08, k10_per_min=0.0333, k12_per_min=0.0088, k21_per_min=0.0030),
        ke0_per_min=OLOFSEN_KE0,
        ke0_source=ref("olofsen2012"),
        ke0_note=_OLOFSEN_NOTE,
    )
)
_register(
    PKModel(
        id="herd2007",
        name="Herd (children, 2-compartment, allometric)",
        source=ref("herd2007"),
        structure="two_compartment",
        drug="racemic ketamine",
        population="54 children in the emergency department, 1-1.5 mg/kg IV; age 8.3 ± 3.5 y, weight 32.5 ± 15.6 kg",
        ranges=ValidRange((10.8, 74.8), (1.0, 14.0)),
        typical=Allometric(v1_l=38.7, v2_l=102.0, cl_l_per_h=90.0, q_l_per_h=215.0),
        iiv_cv={"v1_l": 0.64, "v2_l": 0.517, "cl_l_per_min": 0.381, "q2_l_per_min": 0.19},
        iiv_source=ref("herd2007"),
        ke0_per_min=3.78,
        ke0_source=ref("herd2008"),
        ke0_note="ke0 3.78 /min = ln 2 / 11 s, sedation in children (Herd 2008, same group).",
    )
)
_register(
    PKModel(
        id="hornik2018",
        name="Hornik (children, 2-compartment, allometric, IV and IM)",
        source=ref("hornik2018"),
        structure="two_compartment",
        drug="racemic ketamine",
        population="113 children (63 IV, 50 IM), median age 3.3 y (0.02-17.6), median weight 14 kg (2.4-176.1)",
        ranges=ValidRange((2.4, 176.1), (0.02, 17.6)),
        typical=Allometric(v1_l=32.8, v2_l=152.0, cl_l_per_h=38.9, q_l_per_h=54.9,
                           provenance="values as coded in opentiva"),
        ke0_per_min=4.212,
        ke0_source=ref("opentiva"),
        ke0_note="ke0 4.212 /min is opentiva's value derived from an assumed 1-min time to peak effect, not published.",
        cautions=(
            "Hornik 2018's clearance (38.9 L/h/70 kg) is about half (0.49 x) the Kamp 2020 meta-analysis value "
            "(79 L/h at 70 kg, 95 % CI 69-90): this model predicts roughly twice the exposure of a typical ketamine "
            "model for the same dose, and its values were read only in opentiva's code.",
        ),
        routes={
            **ADULT_ROUTES,
            "im": Route(
                "im", 0.41, ref("hornik2018"), tmax_min=15.0, ka_source=ref(CLINIC_POLICY),
                note="IM F 41 % in children (Hornik 2018); its absorption rate was not found, tmax 15 min assumed.",
            ),
            "oral": Route(
                "oral", 0.45, ref("brunette2011"), ka_per_min=0.0117, ka_source=ref("brunette2011"),
                note="Oral in children (burns): F 0.45 (90 % CI 0.33-0.58), absorption half-life 59 min → ka 0.0117 /min.",
            ),
        },
    )
)



@dataclass(frozen=True, kw_only=True)
class HepaticThreeCompartment:
    """Three compartments and a liver that eliminates (Perez-Ruixo 2021): per-hour values as published,
    no weight covariate, hepatic blood flow falling by ``qh_fall_l_per_h_per_year`` above 60 years."""

    v1_l: float
    v2_l: float
    q2_l_per_h: float
    v3_l: float
    q3_l_per_h: float
    vh_l: float
    qh_l_per_h: float
    qh_fall_l_per_h_per_year: float
    kel_h_per_h: float
    kmet_h_per_h: float

    def qh_at(self, age_years: float | None) -> float:
        return self.qh_l_per_h - self.qh_fall_l_per_h_per_year * max(0.0, (age_years or 0.0) - 60.0)

    def __call__(self, weight_kg: float, age_years: float | None) -> dict[str, float]:
        per_h = 1.0 / 60.0
        return Disposition.from_clearances(
            v1_l=self.v1_l, cl_l_per_min=0.0,
            v2_l=self.v2_l, q2_l_per_min=self.q2_l_per_h * per_h,
            v3_l=self.v3_l, q3_l_per_min=self.q3_l_per_h * per_h,
            vh_l=self.vh_l, qh_l_per_min=self.qh_at(age_years) * per_h,
            kel_h_per_min=self.kel_h_per_h * per_h, kmet_h_per_min=self.kmet_h_per_h * per_h,
        ).typical_parameters()

    def plasma_clearance_l_per_h(self) -> float:
        """Well-stirred liver: CL = Qh x E, E = k Vh / (Qh + k Vh) with k = kel + kmet (under 60 years)."""
        eliminated = (self.kel_h_per_h + self.kmet_h_per_h) * self.vh_l
        return self.qh_l_per_h * eliminated / (self.qh_l_per_h + eliminated)

    @property
    def text(self) -> str:
        return (f"Vc {self.v1_l:g} L, Vp1 {self.v2_l:g} L (Q1 {self.q2_l_per_h:g} L/h), Vp2 {self.v3_l:g} L "
                f"(Q2 {self.q3_l_per_h:g} L/h), liver Vh {self.vh_l:g} L exchanging at Qh {self.qh_l_per_h:g} L/h "
                f"(−{self.qh_fall_l_per_h_per_year:g} L/h per year over 60), eliminating kel {self.kel_h_per_h:g} + "
                f"kmet {self.kmet_h_per_h:g} /h (plasma CL ≈ {self.plasma_clearance_l_per_h():.0f} L/h); "
                "no weight covariate")


#: Perez-Ruixo 2021 Table 3 (as transcribed in nlmixr2lib).
PEREZ_RUIXO_2021 = HepaticThreeCompartment(
    v1_l=192.0, v2_l=143.0, q2_l_per_h=84.3, v3_l=417.0, q3_l_per_h=37.6, vh_l=101.0, qh_l_per_h=151.0,
    qh_fall_l_per_h_per_year=2.19, kel_h_per_h=1.11, kmet_h_per_h=2.77,
)


_register(
    PKModel(
        id="perezruixo2021",
        name="Perez-Ruixo esketamine (adults, 3-compartment + liver, with variability)",
        source=ref("perezruixo2021"),
        structure="three_compartment_with_hepatic_compartment",
        drug="S-ketamine (esketamine)",
        population="820 adults (256 healthy, 564 with treatment-resistant depression), 18-86 y (median 45), "
        "39-170 kg (median 74); intranasal, IV and oral esketamine",
        ranges=ValidRange((39.0, 170.0), (18.0, 86.0)),
        typical=PEREZ_RUIXO_2021,
        iiv_cv={"v1_l": 0.275, "v2_l": 0.493, "qh_l_per_min": 0.232, "vh_l": 0.346, "kel_h_per_min": 1.20, "kmet_h_per_min": 0.30},
        iiv_source=ref("perezruixo2021"),
        iiv_note="Published IIV (CV) on Vc 27.5 %, Vp1 49.3 %, Qh 23.2 %, Vh 34.6 %, kel 120 %; the kmet IIV is blank "
        "in the paper's Table 3, so 30 % is assumed (as nlmixr2lib does).",
        ke0_per_min=OLOFSEN_KE0,
        ke0_source=ref("olofsen2012"),
        ke0_note="ke0 0.0587 /min = ln 2 / 11.8 min: S-ketamine analgesia in healthy men (Olofsen 2012).",
        routes={
            "oral": Route(
                "oral", round(0.64 * (1 - 0.722), 3), ref("perezruixo2021"), ka_per_min=0.97 / 60,
                ka_source=ref("perezruixo2021"),
                note="Esketamine oral solution: Fgut 0.64 × (1 − hepatic extraction 0.722) ≈ 0.178, ka 0.97 /h "
                "(Perez-Ruixo 2021). Derived approximation: the depot empties into plasma, so the ~40-min liver "
                "transit and the 0.32-h zero-order phase are not represented.",
            ),
            "intranasal": Route(
                "intranasal", 0.48, ref("spravato_pi_pk"), ka_per_min=2.93 / 60,
                ka_source=ref("perezruixo2021"),
                note="Esketamine nasal spray (Spravato): mean absolute F 48 % (label), tmax 20-40 min after the last "
                "spray (label). ka 2.93 /h is Perez-Ruixo 2021's nasal absorption rate; with it this model peaks at "
                "32 min after a dose, inside the label's range. One depot stands for the nasal and the swallowed parts.",
            ),
            "sublingual": ADULT_ROUTES["sublingual"],
            "im": ADULT_ROUTES["im"],
        },
        notes=(
            "Esketamine, not racemic ketamine: S-ketamine is roughly twice as potent, so compare bands with care.",
            "Sublingual and intramuscular absorption are racemic-ketamine values applied to esketamine.",
        ),
    )
)


def get_model(model_id: str) -> PKModel:
    try:
        return MODELS[model_id]
    except KeyError:
        raise KeyError(f"unknown model {model_id!r}; known models: {', '.join(sorted(MODELS))}") from None


@cache
def derived_ka_per_min(model_id: str, route: str) -> float:
    """The ka that puts the typical 70-kg, 40-year-old subject's peak at the route's published tmax.

    Found by bisection on the model's own closed-form solution: tmax falls monotonically as ka
    rises, so the root is unique.
    """
    from ketaclinic.pharmacology.engine import Inputs, Solution

    model = get_model(model_id)
    target = model.routes[route].tmax_min
    disposition = model.disposition(70.0, 40.0)
    grid = np.linspace(0.0, max(6 * target, 60.0), 4801)

    def tmax_for(ka: float) -> float:
        inputs = Inputs(depot_time_min=np.array([0.0]), depot_mg=np.array([[1.0]]), depot_ka_per_min=np.array([[ka]]))
        curve = Solution(disposition, inputs).concentration_ng_per_ml(grid)[0]
        return float(grid[int(np.argmax(curve))])

    lo, hi = 1e-4, 10.0
    for _ in range(60):
        mid = np.sqrt(lo * hi)
        if tmax_for(mid) > target:
            lo = mid
        else:
            hi = mid
    return float(np.sqrt(lo * hi))


def route_absorption(model: PKModel, route: str) -> tuple[float, float, str]:
    """(bioavailability, ka per min, provenance text) for an extravascular route of this model."""
    if route not in model.routes:
        raise KeyError(f"route {route!r} has no published absorption for {model.name}; allowed: iv, {', '.join(sorted(model.routes))}")
    spec = model.routes[route]
    if spec.ka_per_min is not None:
        return spec.bioavailability, spec.ka_per_min, f"{route}: F {spec.bioavailability:g} ({spec.source}), ka {spec.ka_per_min:g} /min ({spec.ka_source or spec.source})"
    ka = derived_ka_per_min(model.id, route)
    return (
        spec.bioavailability,
        ka,
        f"{route}: F {spec.bioavailability:g} ({spec.source}); ka {ka:.4g} /min derived so that this model's typical "
        f"70-kg adult peaks at the published tmax of {spec.tmax_min:g} min ({spec.ka_source})",
    )
