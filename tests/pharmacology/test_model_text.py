"""Each model's parameters in words are written from the numbers it computes with (issue 18), and
the micro-constant parameterisation takes keywords only (k13 and k21 swap places between the
papers and the solver)."""

from __future__ import annotations

import pytest

from ketaclinic.pharmacology.models import (
    DEFAULT_MODEL_ID,
    MODELS,
    PEREZ_RUIXO_2021,
    Allometric,
    PerKgMicro,
    get_model,
)

#: The text as it was typed by hand before it was generated (the list-models output must not change).
TYPED_BEFORE = {
    "domino1984": "V1 = 0.063 L/kg × weight; k10 0.4381, k12 0.5921, k13 0.5900, k21 0.2470, k31 0.0146 /min",
    "clements1981": "V1 = 1.7522 L/kg × weight; k10 0.0109, k12 0.0186, k21 0.0137 /min",
    "hijazi2003": "V1 = 1.08 L/kg × weight; k10 0.0333, k12 0.0088, k21 0.0030 /min",
    "herd2007": "V1 38.7 L/70 kg, V2 102 L/70 kg (exponent 1); CL 90 L/h/70 kg, Q 215 L/h/70 kg (exponent 0.75)",
    "hornik2018": "V1 32.8 L/70 kg, V2 152 L/70 kg (exponent 1); CL 38.9 L/h/70 kg, Q 54.9 L/h/70 kg "
                  "(exponent 0.75); values as coded in opentiva",
    "perezruixo2021": "Vc 192 L, Vp1 143 L (Q1 84.3 L/h), Vp2 417 L (Q2 37.6 L/h), liver Vh 101 L exchanging at "
                      "Qh 151 L/h (−2.19 L/h per year over 60), eliminating kel 1.11 + kmet 2.77 /h "
                      "(plasma CL ≈ 109 L/h); no weight covariate",
}


@pytest.mark.parametrize("model_id", sorted(TYPED_BEFORE))
def test_generated_text_equals_what_was_shown(model_id: str) -> None:
    assert get_model(model_id).parameters_text == TYPED_BEFORE[model_id]
    assert get_model(model_id).describe()["parameters"] == TYPED_BEFORE[model_id]


def test_every_model_has_generated_text() -> None:
    assert set(MODELS) == set(TYPED_BEFORE)


def test_the_text_follows_the_numbers() -> None:
    """A changed constant changes the text: it is not typed a second time."""
    model = PerKgMicro(v1_l_per_kg=0.1, k10_per_min=0.5, k12_per_min=0.25, k21_per_min=0.125)
    assert model.text == "V1 = 0.1 L/kg × weight; k10 0.5000, k12 0.2500, k21 0.1250 /min"
    assert Allometric(v1_l=10, v2_l=20, cl_l_per_h=30, q_l_per_h=40).text == (
        "V1 10 L/70 kg, V2 20 L/70 kg (exponent 1); CL 30 L/h/70 kg, Q 40 L/h/70 kg (exponent 0.75)")


def test_micro_constants_are_keywords_only() -> None:
    with pytest.raises(TypeError):
        PerKgMicro(0.063, 0.4381, 0.5921, 0.2470, 0.5900, 0.0146)  # type: ignore[misc]


def test_k13_and_k21_reach_the_solver_by_name() -> None:
    """Swapping k13 and k21 would change the peripheral volumes: V2 = V1 k12 / k21, V3 = V1 k13 / k31."""
    params = get_model("domino1984").typical(70.0, 40.0)
    v1 = 0.063 * 70
    assert params["v2_l"] == pytest.approx(v1 * 0.5921 / 0.2470)
    assert params["v3_l"] == pytest.approx(v1 * 0.5900 / 0.0146)


def test_perez_ruixo_clearance_is_computed() -> None:
    """The well-stirred liver's clearance is what the engine's typical subject clears (under 60 years)."""
    engine_l_per_h = get_model("perezruixo2021").disposition(70.0, 40.0).plasma_clearance_l_per_min()[0] * 60
    assert PEREZ_RUIXO_2021.plasma_clearance_l_per_h() == pytest.approx(engine_l_per_h, rel=1e-6)


def test_default_model_is_a_known_model() -> None:
    assert DEFAULT_MODEL_ID in MODELS
