"""An evaluation weight more than 20 % from the last one is refused next to the weight field, with a box to
tick; every typed value stays, and the ticked form saves."""

from __future__ import annotations

import re

from tests.web.conftest import csrf_of

FORM = {"age_years": "56", "sex": "female", "weight_kg": "150", "pregnant": "no", "conditions": ["crps"],
        "duration_weeks": "40", "nrs_now": "8", "prior_treatments": ["gabapentinoid"], "systolic_mmhg": "128",
        "diastolic_mmhg": "82", "heart_rate_bpm": "74", "spo2_pct": "98", "cardiovascular": "none",
        "hypertension": "none", "intracranial_pressure": "normal", "intraocular_pressure": "normal",
        "psychosis": "none", "hepatic_impairment": "none", "substance_use": "none",
        "medications": "duloxetine", "notes": "typed history (synthetic)"}


def test_a_weight_slip_is_refused_until_acknowledged(signed_in, clinic):
    client = signed_in("nurse")
    url = f"/patients/{clinic.own_patient_id}/evaluations/new"
    token = csrf_of(client.get(url).text)
    refused = client.post(url, data={**FORM, "csrf_token": token})
    assert refused.status_code == 422
    assert re.search(r'id="e-weight_kg">[^<]*20 %[^<]*tick the box', refused.text)
    assert 'name="weight_change_acknowledged" value="yes"' in refused.text
    assert 'id="f-weight_kg" name="weight_kg" type="number" value="150"' in refused.text
    assert "typed history (synthetic)" in refused.text and 'value="crps" checked' in refused.text
    saved = client.post(url, data={**FORM, "csrf_token": token, "weight_change_acknowledged": "yes"}, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"].startswith("/evaluations/")
