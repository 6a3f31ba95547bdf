"""Issue 11 in the pages (no browser): the evaluation form takes the 4.2 v2 fields and shows their
findings; the session console asks a physician (never a nurse) for the reason to start despite a
baseline SpO2 of 90 %."""

from datetime import timedelta

from ketaclinic.clock import utcnow
from ketaclinic.services import sessions as ss
from tests.interop.flows import checklist, signed_plan
from tests.web.conftest import csrf_of

FORM = {"age_years": "52", "sex": "female", "weight_kg": "68", "conditions": ["crps"], "duration_weeks": "40",
        "prior_treatments": ["gabapentinoid"], "systolic_mmhg": "120", "diastolic_mmhg": "80", "heart_rate_bpm": "70",
        "spo2_pct": "98", "cardiovascular": "none", "hypertension": "none", "intracranial_pressure": "normal",
        "intraocular_pressure": "normal", "psychosis": "none", "hepatic_impairment": "none", "substance_use": "none"}


def test_the_evaluation_form_offers_and_judges_the_v2_fields(signed_in, clinic):
    client = signed_in("nurse")
    page = client.get(f"/patients/{clinic.own_patient_id}/evaluations/new")
    for name in ("coronary", "cerebrovascular", "thyroid", "seizures", "mania", "alcohol_use", "breastfeeding",
                 "height_cm", "respiratory_rate_per_min"):
        assert f'name="{name}"' in page.text, name
    token = csrf_of(page.text)
    live = client.post("/evaluations/screen", data={**FORM, "coronary": "recent_event", "medications": "Nardil 15 mg"},
                       headers={"X-CSRF-Token": token})
    assert 'id="decision">not eligible' in live.text
    assert "Myocardial infarction or unstable angina" in live.text and "Nardil 15 mg (phenelzine)" in live.text
    saved = client.post(f"/patients/{clinic.own_patient_id}/evaluations/new",
                        data={**FORM, "csrf_token": token, "mania": "history", "breastfeeding": "yes", "height_cm": "165",
                              "heart_rate_bpm": "", "spo2_pct": ""}, follow_redirects=True)
    assert saved.status_code == 200, saved.text[:500]
    assert "History of mania" in saved.text and "Breastfeeding" in saved.text
    assert 'value="history" selected' in saved.text  # the stored value comes back into the form


def test_a_bad_v2_value_in_the_form_is_422_at_the_field(signed_in, clinic):
    client = signed_in("nurse")
    token = csrf_of(client.get(f"/patients/{clinic.own_patient_id}/evaluations/new").text)
    response = client.post(f"/patients/{clinic.own_patient_id}/evaluations/new",
                           data={**FORM, "csrf_token": token, "coronary": "weird"})
    assert response.status_code == 422
    assert 'id="e-coronary"' in response.text


def _blocked_visit(db, clinic):
    nurse = clinic.actors["nurse"]
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    now = utcnow()
    visit = ss.schedule_session(db, nurse, ss.SessionIn(patient_id=plan.patient_id, plan_id=plan.id, scheduled_at=now),
                                now=now - timedelta(days=1))
    visit = ss.check_in(db, nurse, visit.id, visit.version, ss.CheckInIn())
    low = {"systolic_mmhg": 128, "diastolic_mmhg": 82, "heart_rate_bpm": 74, "spo2_pct": 90}
    return ss.record_checklist(db, nurse, visit.id, visit.version, checklist(utcnow(), baseline_vitals=low))


def test_the_console_asks_the_physician_not_the_nurse_for_an_override(signed_in, db, clinic):
    visit = _blocked_visit(db, clinic)
    nurse_page = signed_in("nurse").get(f"/sessions/{visit.id}")
    assert "The checklist blocks the start" in nurse_page.text
    assert 'id="override-needs-physician"' in nurse_page.text and "checklist-override-form" not in nurse_page.text
    client = signed_in("physician")
    page = client.get(f"/sessions/{visit.id}")
    assert 'id="checklist-override-form"' in page.text
    done = client.post(f"/sessions/{visit.id}/checklist/override",
                       data={"csrf_token": csrf_of(page.text), "version": str(visit.version),
                             "override_reason": "COPD; 90 % is her usual; oxygen on"}, follow_redirects=True)
    assert done.status_code == 200
    assert "Override recorded" in done.text and "Overridden by physician" in done.text
    assert 'id="start-infusion"' in done.text


def test_a_nurse_posting_an_override_is_refused(signed_in, db, clinic):
    visit = _blocked_visit(db, clinic)
    client = signed_in("nurse")
    page = client.get(f"/sessions/{visit.id}")
    response = client.post(f"/sessions/{visit.id}/checklist/override",
                           data={"csrf_token": csrf_of(page.text), "version": str(visit.version),
                                 "override_reason": "I think it is fine"})
    assert response.status_code == 403
    assert not ss.get_session(db, clinic.actors["nurse"], visit.id).checklist["ready"]
