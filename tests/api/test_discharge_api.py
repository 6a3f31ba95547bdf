"""The discharge endpoints take contract 4.7's answers: a missing PADSS item or a bad value is 422 naming the field."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ketaclinic.clock import utcnow
from ketaclinic.services import sessions as ss
from tests.interop.flows import DISCHARGE, running, signed_plan


@pytest.fixture
def observed(db, clinic):
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    now = utcnow()
    visit = running(db, clinic, plan, now - timedelta(hours=3))
    return ss.stop_infusion(db, clinic.actors["nurse"], visit.id, visit.version, now=now - timedelta(minutes=70))


def _post(client, headers, visit, body, path="discharge-assessment"):
    return client.post(f"/api/v1/sessions/{visit.id}/{path}", json=body,
                       headers={**headers["nurse"], "If-Match": f'"{visit.version}"'})


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({**DISCHARGE, "padss": {k: v for k, v in DISCHARGE["padss"].items() if k != "pain"}}, "missing_field", "padss.pain"),
        ({**DISCHARGE, "padss": {**DISCHARGE["padss"], "pain": 5}}, "invalid_input", "padss.pain"),
        ({k: v for k, v in DISCHARGE.items() if k != "steady_gait"}, "missing_field", "steady_gait"),
        ({**DISCHARGE, "ongoing_dissociation": False}, "unknown_field", "ongoing_dissociation"),
        ({**DISCHARGE, "observation": {**DISCHARGE["observation"], "spo2_pct": 101}}, "invalid_input",
         "observation.spo2_pct"),
    ],
)
@pytest.mark.parametrize("path", ["discharge-assessment", "discharge"])
def test_bad_discharge_input_is_422_naming_the_field(client, headers, observed, body, code, field, path) -> None:
    response = _post(client, headers, observed, body, path)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code and field in (error["field"] or ""), error


def test_spo2_91_after_70_minutes_is_refused_with_the_unmet_criterion(client, headers, observed) -> None:
    body = {**DISCHARGE, "observation": {**DISCHARGE["observation"], "spo2_pct": 91}}
    check = _post(client, headers, observed, body)
    assert check.status_code == 200
    out = check.json()
    assert out["ready"] is False and out["padss_total"] == 10
    assert [u["code"] for u in out["unmet"]] == ["spo2_low"]
    refused = _post(client, headers, observed, body, "discharge")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "discharge_criteria_unmet"
    assert "spo2_low" in refused.json()["error"]["message"]
    done = _post(client, headers, observed, DISCHARGE, "discharge")
    assert done.status_code == 200 and done.json()["state"] == "discharged"
