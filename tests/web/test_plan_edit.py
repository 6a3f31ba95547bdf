"""Editing a draft plan in the builder: If-Match with the plan's version; a stale one keeps what was typed."""

from __future__ import annotations

from ketaclinic.services import plans as pl
from tests.interop.flows import T0, signed_evaluation
from tests.web.conftest import csrf_of


def _draft(db, clinic):
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    return pl.create_plan(db, clinic.actors["physician"], pl.PlanIn.model_validate(
        {"patient_id": clinic.own_patient_id, "evaluation_id": evaluation.id, "protocol": "outpatient_infusion"}), now=T0)



def test_a_draft_is_edited_and_a_stale_version_keeps_the_typed_values(signed_in, clinic, db):
    plan = _draft(db, clinic)
    client = signed_in("physician")
    assert f'href="/plans/{plan.id}/edit"' in client.get(f"/plans/{plan.id}").text
    page = client.get(f"/plans/{plan.id}/edit")
    assert page.status_code == 200 and f"Edit draft plan {plan.id}" in page.text
    assert f'name="version" value="{plan.version}"' in page.text
    base = {"csrf_token": csrf_of(page.text), "version": str(plan.version), "protocol": "outpatient_infusion",
            "weight_kg": "68", "concentration_mg_per_ml": "1.0", "sessions": "4",
            "steps-0-kind": "bolus", "steps-0-dose_mg_per_kg": "0.2",
            "steps-1-kind": "infusion", "steps-1-rate_mg_per_kg_per_h": "0.4", "steps-1-duration_min": "240"}
    saved = client.post(f"/plans/{plan.id}/edit", data=base, follow_redirects=False)
    assert saved.status_code == 303, saved.text[:2000]
    now = pl.get_plan(db, clinic.actors["physician"], plan.id)
    assert now.version == plan.version + 1 and now.series_rule["sessions"] == 4
    assert now.pump_program["program"][1]["rate_mg_per_h"] == 27.2  # 0.4 mg/kg/h x 68 kg
    stale = client.post(f"/plans/{plan.id}/edit", data={**base, "steps-1-rate_mg_per_kg_per_h": "0.45"})
    assert stale.status_code == 409
    assert "Someone else changed this plan" in stale.text and 'value="0.45"' in stale.text
    assert pl.get_plan(db, clinic.actors["physician"], plan.id).version == plan.version + 1
