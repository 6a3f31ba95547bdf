"""The medication record over HTTP (issue 14): a physician's PRN order, a nurse's dose, refusals in the error shape."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.interop.flows import T0, running, signed_plan

ORDER = {"drug": "ondansetron", "dose_mg": 4, "route": "iv", "indication": "nausea_vomiting", "max_doses_per_session": 1}


@pytest.mark.parametrize("engine", ["sqlite"])
def test_an_order_and_a_dose_over_the_api(client, headers, db, clinic):
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    nurse, physician = headers["nurse"], headers["physician"]
    assert client.post(f"/api/v1/plans/{plan.id}/prn-orders", headers=nurse, json=ORDER).status_code == 403
    hard = client.post(f"/api/v1/plans/{plan.id}/prn-orders", headers=physician, json={**ORDER, "dose_mg": 40})
    assert hard.status_code == 422 and hard.json()["error"]["code"] == "hard_limit"
    assert hard.json()["error"]["field"] == "dose_mg"
    typo = client.post(f"/api/v1/plans/{plan.id}/prn-orders", headers=physician, json={**ORDER, "drug": "ondansteron"})
    assert typo.status_code == 422
    made = client.post(f"/api/v1/plans/{plan.id}/prn-orders", headers=physician, json=ORDER)
    assert made.status_code == 201 and made.json()["amendment"] and made.json()["status"] == "active"
    visit = running(db, clinic, plan, T0 + timedelta(days=7))
    prn = client.get(f"/api/v1/sessions/{visit.id}/prn", headers=nurse).json()
    assert [r["can_give"] for r in prn["orders"]] == [True]
    given = client.post(f"/api/v1/sessions/{visit.id}/prn-doses", headers=nurse, json={"order_id": made.json()["id"]})
    assert given.status_code == 201 and given.json()["label"] == "Ondansetron 4 mg IV"
    again = client.post(f"/api/v1/sessions/{visit.id}/prn-doses", headers=nurse, json={"order_id": made.json()["id"]})
    assert again.status_code == 422 and again.json()["error"]["code"] == "order_max_reached"
    assert client.get(f"/api/v1/sessions/{visit.id}/prn", headers=headers["coordinator"]).status_code == 403
    stopped = client.post(f"/api/v1/prn-orders/{made.json()['id']}/stop", headers=physician, json={"reason": "done"})
    assert stopped.status_code == 201 and stopped.json()["status"] == "stopped"
