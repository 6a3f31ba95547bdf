"""The session console's discharge form (contract 4.7) and critical alerts, in-process."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from ketaclinic.clock import utcnow
from ketaclinic.services import sessions as ss
from tests.interop.flows import running, signed_plan
from tests.web.conftest import csrf_of

ANSWERS = {
    "d_systolic_mmhg": "126", "d_diastolic_mmhg": "80", "d_heart_rate_bpm": "72", "d_spo2_pct": "98",
    "d_respiratory_rate_per_min": "14", "d_moaas": "5",
    "q_dissociation_resolved": "yes", "q_oriented": "yes", "q_steady_gait": "yes", "q_escort_present": "yes",
    "padss_vital_signs": "2", "padss_activity": "2", "padss_nausea_vomiting": "2", "padss_pain": "2",
    "padss_bleeding": "2",
}


@pytest.fixture
def observed(db, clinic):
    """A visit whose infusion stopped 70 minutes ago."""
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    now = utcnow()
    visit = running(db, clinic, plan, now - timedelta(hours=3))
    return ss.stop_infusion(db, clinic.actors["nurse"], visit.id, visit.version, now=now - timedelta(minutes=70))


def _post(client, visit, data: dict, **extra: str):
    page = client.get(f"/sessions/{visit.id}")
    body = {"csrf_token": csrf_of(page.text), "version": str(visit.version),
            **data, **extra}
    return client.post(f"/sessions/{visit.id}/discharge", data=body, follow_redirects=False)


def _discharge_form(html: str) -> str:
    return html[html.index('id="discharge-form"'):html.index("</form>", html.index('id="discharge-form"'))]


def test_every_discharge_question_is_asked_with_no_answer_chosen(signed_in, observed) -> None:
    client = signed_in("nurse")
    form = _discharge_form(client.get(f"/sessions/{observed.id}").text)
    assert " checked" not in form  # nothing is pre-selected
    for name in ("q_dissociation_resolved", "q_oriented", "q_steady_gait", "q_escort_present", "padss_vital_signs",
                 "padss_activity", "padss_nausea_vomiting", "padss_pain", "padss_bleeding"):
        assert len(re.findall(rf'type="radio" name="{name}"', form)) >= 2, name
    assert "Still dissociated" not in form and 'name="ongoing_dissociation"' not in form


def test_an_unanswered_padss_item_is_refused_with_a_clear_message(signed_in, observed) -> None:
    client = signed_in("nurse")
    data = {k: v for k, v in ANSWERS.items() if k != "padss_pain"}
    response = _post(client, observed, data)
    assert response.status_code == 422
    assert "answer every question" in response.text and "PADSS: pain" in response.text


def test_an_unanswered_yes_no_question_is_refused(signed_in, observed) -> None:
    client = signed_in("nurse")
    response = _post(client, observed, {k: v for k, v in ANSWERS.items() if k != "q_dissociation_resolved"},
                     check_only="1")
    assert response.status_code == 422
    assert "Has the dissociation resolved" in response.text


def test_discharge_refused_for_spo2_91_after_70_minutes(signed_in, observed, db, clinic) -> None:
    client = signed_in("nurse")
    response = _post(client, observed, {**ANSWERS, "d_spo2_pct": "91"})
    assert response.status_code == 409
    assert 'data-unmet="spo2_low"' in response.text and "Not ready for discharge" in response.text
    assert ss.get_session(db, clinic.actors["nurse"], observed.id).state == "observing"


def test_a_settled_patient_is_discharged(signed_in, observed, db, clinic) -> None:
    client = signed_in("nurse")
    check = _post(client, observed, ANSWERS, check_only="1")
    assert check.status_code == 200 and "Ready for discharge" in check.text
    response = _post(client, observed, ANSWERS)
    assert response.status_code == 303
    assert ss.get_session(db, clinic.actors["nurse"], observed.id).state == "discharged"


def test_a_critical_alert_is_shown_in_red_not_as_a_success_banner(signed_in, db, clinic) -> None:
    client = signed_in("nurse")
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    visit = running(db, clinic, plan, utcnow() - timedelta(minutes=20))
    page = client.get(f"/sessions/{visit.id}")
    response = client.post(f"/sessions/{visit.id}/vitals", follow_redirects=True, data={
        "csrf_token": csrf_of(page.text), "systolic_mmhg": "185", "diastolic_mmhg": "110", "heart_rate_bpm": "84",
        "spo2_pct": "97", "respiratory_rate_per_min": "14", "moaas": "5", "rass": "0"})
    assert response.status_code == 200
    assert 'id="critical-alerts-banner"' in response.text and 'class="alert critical"' in response.text
    assert 'class="flash"' not in response.text
    alerts = [e for e in ss.list_events(db, clinic.actors["nurse"], visit.id, kind="alert").items]
    assert [(a.payload["code"], a.payload["action"]) for a in alerts] == [("bp_critical", "pause_infusion")]
