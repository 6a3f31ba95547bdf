"""Issue 12, bug 5: when a soft limit stops the order, the physician still sees the mL/h table and the
PK chart of the program awaiting the decision, marked as not accepted; and the preview says in words
when a population percentile reaches a band an analgesic regimen should stay below."""

from __future__ import annotations

import re

from ketaclinic.pharmacology.targets import band_flags
from tests.interop.flows import signed_evaluation
from tests.web.conftest import csrf_of
from tests.web.test_dosing_v2_web import OVER_4_MG_PER_KG


def _preview(signed_in, clinic, db, **order: str) -> str:
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    client = signed_in("physician")
    page = client.get(f"/patients/{clinic.own_patient_id}/plans/new?evaluation_id={evaluation.id}").text
    body = {"csrf_token": csrf_of(page), "evaluation_id": str(evaluation.id), "weight_kg": "68",
            "patient_id": str(clinic.own_patient_id), **order}
    return client.post("/plans/preview", data=body).text


def test_a_soft_limit_keeps_the_program_and_its_chart_in_view(signed_in, clinic, db) -> None:
    preview = _preview(signed_in, clinic, db, **OVER_4_MG_PER_KG)
    assert 'id="limit-stop"' in preview and 'id="pending-program" data-accepted="no"' in preview
    pending = preview[preview.index('id="pending-program"'):]
    assert "Not accepted yet" in pending and "47.6" in pending  # 0.7 mg/kg/h x 68 kg = 47.6 mL/h at 1 mg/mL
    chart = re.search(r'<img class="chart" src="([^"]+)"', pending).group(1).replace("&amp;", "&")
    svg = signed_in("physician").get(chart)
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")


def test_a_hard_limit_shows_no_program(signed_in, clinic, db) -> None:
    preview = _preview(signed_in, clinic, db, protocol="custom_iv", concentration_mg_per_ml="1.0",
                       **{"steps-0-kind": "bolus", "steps-0-dose_mg_per_kg": "0.8"})
    assert "Blocked by a hard limit" in preview and "pending-program" not in preview


def test_the_preview_names_a_percentile_over_the_awakening_band(signed_in, clinic, db) -> None:
    # four 0.35 mg/kg slow pushes back to back (soft session limits aside) reach well past 640 ng/mL
    preview = _preview(signed_in, clinic, db, protocol="custom_iv", concentration_mg_per_ml="1.0",
                       **{"steps-0-kind": "bolus", "steps-0-dose_mg_per_kg": "0.35",
                          "steps-1-kind": "bolus", "steps-1-dose_mg_per_kg": "0.35"})
    assert 'data-pk-band="awakening"' in preview and "95th percentile" in preview
    quiet = _preview(signed_in, clinic, db, protocol="outpatient_infusion")
    assert "data-pk-band" not in quiet  # the standard program stays below it


def test_band_flags_name_the_highest_percentile_that_reaches_each_unwanted_band() -> None:
    flags = band_flags([0, 10, 20], {"5": [100, 300, 200], "50": [200, 650, 300], "95": [300, 2100, 500]})
    assert [(f.band, f.percentile, f.peak_ng_per_ml, f.at_min) for f in flags] == [
        ("awakening", "95", 2100.0, 10.0), ("anaesthesia", "95", 2100.0, 10.0)]
    assert band_flags([0, 10], {"95": [100, 639.9]}) == []
    assert band_flags([0, 10], {"50": [100, 700], "95": [100, 639]})[0].percentile == "50"
