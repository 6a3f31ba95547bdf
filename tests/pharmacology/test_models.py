"""Published models: citations, ranges, routes and the corrections to other tools."""

from __future__ import annotations

import numpy as np
import pytest

from ketaclinic.evidence.sources import get_source
from ketaclinic.pharmacology.engine import Inputs, Solution
from ketaclinic.pharmacology.models import MODELS, derived_ka_per_min, get_model, route_absorption

REQUIRED = {"domino1984", "clements1981", "hijazi2003", "herd2007", "hornik2018"}


def test_required_models_exist_with_resolvable_sources():
    assert REQUIRED <= set(MODELS)
    for model in MODELS.values():
        get_source(model.source)
        for source in (model.iiv_source, model.ke0_source):
            if source:
                get_source(source)
        for route in model.routes.values():
            get_source(route.source)
            if route.ka_source:
                get_source(route.ka_source)


def test_domino_parameters_match_the_published_set():
    d = get_model("domino1984").disposition(70.0, 40.0)
    k = d.micro_constants()
    assert np.isclose(d.v1_l[0], 0.063 * 70)
    for name, value in {"k10": 0.4381, "k12": 0.5921, "k13": 0.5900, "k21": 0.2470, "k31": 0.0146}.items():
        assert np.isclose(k[name][0], value), name


def test_clearances_are_in_the_published_ballpark():
    """CL = V1·k10: Clements 19.1, Domino 27.6, Hijazi 36.0 mL/min/kg (Hijazi abstract: 36.0)."""
    expected = {"clements1981": 19.1, "domino1984": 27.6, "hijazi2003": 36.0}
    for model_id, ml_min_kg in expected.items():
        d = get_model(model_id).disposition(70.0, 40.0)
        assert d.cl_l_per_min[0] * 1000 / 70 == pytest.approx(ml_min_kg, rel=0.01)
    herd = get_model("herd2007").disposition(70.0, 10.0)
    assert herd.cl_l_per_min[0] * 60 == pytest.approx(90.0)


def test_hijazi_is_an_adult_model():
    """opentiva limits Hijazi to age ≤ 18; the study was of adult ICU patients."""
    model = get_model("hijazi2003")
    warnings = model.range_warnings(70.0, 45.0)
    assert not any("outside" in w for w in warnings)
    assert any("outside" in w for w in model.range_warnings(20.0, 8.0))


def test_patient_outside_range_gets_a_warning_never_silence():
    herd = get_model("herd2007")
    assert any("age 45" in w and "outside" in w for w in herd.range_warnings(70.0, 45.0))
    assert any("weight 90" in w for w in herd.range_warnings(90.0, 10.0))
    assert any("age not given" in w for w in herd.range_warnings(30.0, None))


def test_allometric_scaling():
    hornik = get_model("hornik2018")
    small, big = hornik.disposition(17.5, 5.0), hornik.disposition(70.0, 5.0)
    assert small.v1_l[0] == pytest.approx(big.v1_l[0] / 4)
    assert small.cl_l_per_min[0] == pytest.approx(big.cl_l_per_min[0] / 4**0.75)


@pytest.mark.parametrize("route", ["oral", "sublingual", "intranasal", "im"])
def test_derived_absorption_rate_reproduces_the_published_tmax(route):
    model = get_model("domino1984")
    ka = derived_ka_per_min("domino1984", route)
    tmax = model.routes[route].tmax_min
    grid = np.linspace(0, 6 * tmax, 6001)
    inputs = Inputs(depot_time_min=np.array([0.0]), depot_mg=np.array([[1.0]]), depot_ka_per_min=np.array([[ka]]))
    curve = Solution(model.disposition(70.0, 40.0), inputs).concentration_ng_per_ml(grid)[0]
    assert grid[np.argmax(curve)] == pytest.approx(tmax, abs=0.5)


def test_published_ka_is_used_when_present():
    f, ka, note = route_absorption(get_model("hornik2018"), "oral")
    assert (f, ka) == (0.45, 0.0117)
    assert "brunette2011" in note


def test_unknown_route_and_model_are_named_in_the_error():
    with pytest.raises(KeyError, match="known models"):
        get_model("propofol")
    with pytest.raises(KeyError, match="allowed"):
        route_absorption(get_model("domino1984"), "rectal")


def test_list_entries_have_the_contract_fields():
    for model in MODELS.values():
        entry = model.describe()
        assert {"id", "name", "source", "structure", "population", "ranges"} <= set(entry)
        assert entry["ranges"]["weight_kg"][0] < entry["ranges"]["weight_kg"][1]


def test_adult_model_with_published_variability():
    """Perez-Ruixo 2021 (esketamine, 820 adults): hepatic first-pass structure, plasma CL ≈ 109 L/h."""
    model = get_model("perezruixo2021")
    d = model.disposition(74.0, 45.0)
    assert d.plasma_clearance_l_per_min()[0] * 60 == pytest.approx(109.0, rel=0.01)
    older = model.disposition(74.0, 80.0)
    assert older.qh_l_per_min[0] * 60 == pytest.approx(151.0 - 2.19 * 20)
    assert not model.iiv_assumed and model.variability_cv()["v1_l"] == 0.275
    assert "kmet" in model.iiv_note
    assert model.drug.startswith("S-ketamine")


def test_hepatic_compartment_steady_state_and_solver_agreement():
    from .reference_ode import reference_concentration

    d = get_model("perezruixo2021").disposition(74.0, 45.0)
    inputs = Inputs(bolus_time_min=np.array([0.0]), bolus_mg=np.array([28.0]),
                    infusion_start_min=np.array([10.0]), infusion_end_min=np.array([130.0]),
                    infusion_mg_per_min=np.array([0.3]))
    times = np.linspace(0, 600, 61)
    ours = Solution(d, inputs).concentration_ng_per_ml(times)[0]
    ref, _ = reference_concentration(d, inputs, times)
    assert np.allclose(ours, ref, rtol=1e-6)


# --------------------------------------------------------------------------- issue 11: corrected numbers


def test_racemic_intranasal_bioavailability_is_yanagihara_not_the_2022_outlier():
    """F 0.45 (Yanagihara 2003, within-subject against IV); 0.13 (Pharmacotherapy 2022) must not come back."""
    from ketaclinic.pharmacology.models import ADULT_ROUTES

    route = ADULT_ROUTES["intranasal"]
    assert route.bioavailability == 0.45 and route.source == "yanagihara2003"
    assert route.tmax_min == 16.0 and route.ka_source == "intranasal2022"
    assert "0.11 to 0.50" in route.note
    for model in MODELS.values():
        if model.drug == "racemic ketamine":
            assert model.routes["intranasal"].bioavailability == 0.45, model.id
    assert "45%" in get_source("yanagihara2003").note
    assert "0.50 nasal" in get_source("malinovsky1996").note and "RECTAL" in get_source("malinovsky1996").note


def test_esketamine_intranasal_bioavailability_is_the_label_value():
    """Spravato label: F about 48 %, tmax 20-40 min; the derived 0.62 must not come back."""
    model = get_model("perezruixo2021")
    route = model.routes["intranasal"]
    assert route.bioavailability == 0.48 and route.source == "spravato_pi_pk"
    assert route.ka_per_min == pytest.approx(2.93 / 60) and route.ka_source == "perezruixo2021"
    assert get_source("spravato_pi_pk").kind == "label" and "48%" in get_source("spravato_pi_pk").note
    # the absorption rate is consistent with the label: the typical subject peaks 20-40 min after a dose
    grid = np.linspace(0, 120, 1201)
    inputs = Inputs(depot_time_min=np.array([0.0]), depot_mg=np.array([[1.0]]),
                    depot_ka_per_min=np.array([[route.ka_per_min]]))
    curve = Solution(model.disposition(74.0, 45.0), inputs).concentration_ng_per_ml(grid)[0]
    assert 20 <= grid[np.argmax(curve)] <= 40


def test_hornik_clearance_is_flagged_as_half_the_kamp_meta_analysis():
    from ketaclinic.pharmacology.models import KAMP2020_CL_L_PER_H

    assert KAMP2020_CL_L_PER_H == 79.0 and "79 L/h" in get_source("kamp2020").note
    entry = get_model("hornik2018").describe()
    assert entry["clearance"]["ratio"] == pytest.approx(0.49, abs=0.005)
    assert entry["clearance"]["source"] == "kamp2020"
    assert any("about half" in n and "Kamp 2020" in n for n in entry["notes"])
    assert get_model("clements1981").describe()["clearance"]["ratio"] == pytest.approx(1.02, abs=0.01)


def test_every_model_says_metabolites_are_not_modelled():
    for model in MODELS.values():
        text = model.describe()["metabolites"]
        assert "not modelled" in text and "norketamine" in text and "noresketamine" in text
