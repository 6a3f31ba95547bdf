"""Design 4.3 v2 on the pages (issue 11): height on the patient record, the dosing weight beside every
mg/kg figure in the plan builder and the console, the care profile chosen by a physician with a reason,
and the bedside refusing a soft session total until a physician gives a reason."""

from __future__ import annotations

import re
from datetime import timedelta

from ketaclinic.clock import utcnow
from ketaclinic.services import patients as pt
from ketaclinic.services import plans as pl
from ketaclinic.services import sessions as ss
from tests.interop.flows import EVENT, T0, checklist, signed_evaluation
from tests.web.conftest import csrf_of

OVER_4_MG_PER_KG = {  # each step within its own soft limit; together 4.2 mg/kg: past the soft session total (4)
    "protocol": "custom_iv", "concentration_mg_per_ml": "1.0",
    "steps-0-kind": "bolus", "steps-0-dose_mg_per_kg": "0.35",
    "steps-1-kind": "bolus", "steps-1-dose_mg_per_kg": "0.35",
    "steps-2-kind": "infusion", "steps-2-rate_mg_per_kg_per_h": "0.7", "steps-2-duration_min": "240",
    "steps-3-kind": "bolus", "steps-3-dose_mg_per_kg": "0.35",
    "steps-4-kind": "bolus", "steps-4-dose_mg_per_kg": "0.35"}


def _patient_form(client, path: str, **values) -> dict[str, str]:
    page = client.get(path)
    base = {"csrf_token": csrf_of(page.text), "given_name": "Synthetic", "family_name": "Height",
            "birth_date": "1975-05-06", "sex": "female", "weight_kg": "130"}
    version = re.search(r'name="version" value="(\d+)"', page.text)
    if version:
        base["version"] = version.group(1)
    return {**base, **values}


def _set_body(db, clinic, height_cm: float, weight_kg: float):
    physician = clinic.actors["physician"]
    current = pt.get_patient(db, physician, clinic.own_patient_id)
    return pt.update_patient(db, physician, clinic.own_patient_id, current.version,
                             pt.PatientPatch(height_cm=height_cm, weight_kg=weight_kg))


def _count_patients(db, clinic) -> int:
    return len(pt.list_patients(db, clinic.actors["physician"], limit=200).items)


# --- the patient record ----------------------------------------------------------------------


def test_a_bad_height_says_what_is_allowed_and_nothing_is_saved(signed_in, clinic, db):
    client = signed_in("physician")
    before = _count_patients(db, clinic)
    for typed, words in (("16.5", "Was it typed in inches or metres?"), ("1650", "millimetres"), ("tall", "not a number")):
        answer = client.post("/patients/new", data=_patient_form(client, "/patients/new", height_cm=typed))
        assert answer.status_code == 422
        error = re.search(r'<p class="error" id="e-height_cm">([^<]+)</p>', answer.text)
        assert error and "120–230 cm" in error.group(1) and words in error.group(1), answer.text[-3000:]
        assert f'value="{typed}"' in answer.text  # what was typed stays in the field
    assert _count_patients(db, clinic) == before
    # the edit page refuses it the same way, and the record keeps its old height
    _set_body(db, clinic, 165, 68)
    edit = f"/patients/{clinic.own_patient_id}/edit"
    answer = client.post(edit, data=_patient_form(client, edit, height_cm="65", given_name="Synthetic", family_name="Own",
                                                  birth_date="1970-01-02", weight_kg="68"))
    assert answer.status_code == 422 and "120–230 cm" in answer.text
    assert pt.get_patient(db, clinic.actors["nurse"], clinic.own_patient_id).height_cm == 165


def test_height_is_kept_and_the_chart_shows_bmi_and_the_dosing_weight(signed_in, clinic, db):
    client = signed_in("physician")
    form = client.get("/patients/new")
    assert 'id="f-height_cm"' in form.text and "Height (cm)" in form.text and "120–230 cm" in form.text
    saved = client.post("/patients/new", data=_patient_form(client, "/patients/new", height_cm="165 cm"),
                        follow_redirects=False)
    assert saved.status_code == 303, saved.text[-2000:]
    chart = client.get(saved.headers["location"]).text
    height = re.search(r'id="patient-height">(.*?)</dd>', chart, re.S).group(1)
    assert "165 cm" in height and "BMI 47.8 kg/m²" in height
    assert "dosing weight 86.2 kg (adjusted for BMI 47.8)" in chart
    # without a height the chart says so, and why it matters
    other = client.get(f"/patients/{clinic.other_patient_id}").text
    assert "not recorded" in re.search(r'id="patient-height">(.*?)</dd>', other, re.S).group(1)


# --- the plan builder ------------------------------------------------------------------------


def test_the_builder_shows_the_adjusted_dosing_weight_beside_every_mg_per_kg_figure(signed_in, clinic, db):
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    _set_body(db, clinic, 165, 130)
    client = signed_in("nurse")
    page = client.get(f"/patients/{clinic.own_patient_id}/plans/new?evaluation_id={evaluation.id}").text
    assert 'data-dosing-weight-kg="86.2"' in page and "Dosing weight 86.2 kg</strong> (adjusted for BMI 47.8" in page
    assert "per kg of the <span id=\"dosing-weight-legend\">dosing weight 86.2 kg (adjusted for BMI 47.8)" in page
    assert "What (per kg × 86.2 kg dosing weight)" in page and "0.50 mg/kg/h</span>" in page  # beside each step of the program
    assert "43.1" in page  # 0.5 mg/kg/h x 86.2 kg, not x 130 kg (65 mg/h)
    assert 'id="session-total"' in page and "mg/kg</strong> of the 86.2 kg dosing weight" in page
    assert "low-dose (nurse-run outpatient chair)" in page
    assert 'id="more-steps"' in page and 'name="steps-5-kind"' in page  # up to six steps, the extra ones folded away
    # the HTMX preview recomputes on the patient's height: a new weight updates the legend out of band
    preview = client.post("/plans/preview", data={"csrf_token": csrf_of(page), "patient_id": str(clinic.own_patient_id),
                                                  "protocol": "outpatient_infusion", "weight_kg": "120",
                                                  "concentration_mg_per_ml": "1.0"})
    assert preview.status_code == 200
    assert 'id="dosing-weight-legend" hx-swap-oob="true">dosing weight 82.2 kg (adjusted for BMI 44.1)' in preview.text


def test_no_height_caps_the_dosing_weight_at_100_kg(signed_in, clinic, db):
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    physician = clinic.actors["physician"]
    current = pt.get_patient(db, physician, clinic.own_patient_id)
    pt.update_patient(db, physician, clinic.own_patient_id, current.version, pt.PatientPatch(weight_kg=120))
    page = signed_in("nurse").get(f"/patients/{clinic.own_patient_id}/plans/new?evaluation_id={evaluation.id}").text
    assert "Dosing weight 100.0 kg</strong> (capped at 100 kg: no height recorded)" in page
    assert "add it on the patient record" in page


def test_a_nurse_sees_the_profile_but_cannot_choose_anesthesia_staffed(signed_in, clinic, db):
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    client = signed_in("nurse")
    path = f"/patients/{clinic.own_patient_id}/plans/new?evaluation_id={evaluation.id}"
    page = client.get(path).text
    assert 'id="profile-shown"' in page and 'value="anesthesia_staffed"' not in page
    assert "Only a physician chooses the anesthesia-staffed profile" in page
    answer = client.post(f"/patients/{clinic.own_patient_id}/plans/new", data={
        "csrf_token": csrf_of(page), "evaluation_id": str(evaluation.id), "weight_kg": "68",
        "profile": "anesthesia_staffed", "profile_reason": "ward", **OVER_4_MG_PER_KG})
    assert answer.status_code == 403
    assert re.search(r'id="e-profile">Only a physician may choose the anesthesia-staffed profile', answer.text)
    assert pl.list_plans(db, clinic.actors["physician"], patient_id=clinic.own_patient_id).items == []


def test_the_anesthesia_staffed_profile_needs_the_physicians_reason(signed_in, clinic, db):
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    client = signed_in("physician")
    path = f"/patients/{clinic.own_patient_id}/plans/new?evaluation_id={evaluation.id}"
    page = client.get(path).text
    assert '<option value="anesthesia_staffed">' in page and 'id="f-profile_reason"' in page
    body = {"csrf_token": csrf_of(page), "evaluation_id": str(evaluation.id), "weight_kg": "68",
            "profile": "anesthesia_staffed", **OVER_4_MG_PER_KG}
    missing = client.post(f"/patients/{clinic.own_patient_id}/plans/new", data={**body, "profile_reason": "  "})
    assert missing.status_code == 422
    error = re.search(r'<p class="error" id="e-profile_reason">([^<]+)</p>', missing.text)
    assert error and "Give the reason for the anesthesia-staffed profile" in error.group(1)
    assert pl.list_plans(db, clinic.actors["physician"], patient_id=clinic.own_patient_id).items == []
    # with a reason: 4.4 mg/kg is within the anesthesia-staffed session soft limit (8 mg/kg)
    saved = client.post(f"/patients/{clinic.own_patient_id}/plans/new",
                        data={**body, "profile_reason": "Day ward with an anaesthetist present (synthetic)"},
                        follow_redirects=False)
    assert saved.status_code == 303, saved.text[-3000:]
    plan = client.get(saved.headers["location"]).text
    assert 'data-profile="anesthesia_staffed"' in plan and "anesthesia-staffed (an anaesthesia clinician present)" in plan
    assert "Day ward with an anaesthetist present (synthetic)" in plan and "chosen by physician" in plan
    chart = client.get(f"/patients/{clinic.own_patient_id}").text
    assert "anesthesia staffed profile" in chart and "Why this profile" in chart


def test_a_soft_session_total_asks_for_the_physicians_reason_in_the_builder(signed_in, clinic, db):
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    client = signed_in("physician")
    page = client.get(f"/patients/{clinic.own_patient_id}/plans/new?evaluation_id={evaluation.id}").text
    body = {"csrf_token": csrf_of(page), "evaluation_id": str(evaluation.id), "weight_kg": "68",
            "patient_id": str(clinic.own_patient_id), **OVER_4_MG_PER_KG}
    preview = client.post("/plans/preview", data=body).text
    stop = re.search(r'id="limit-stop">(.*?)</div>', preview, re.S).group(1)
    assert "Soft limit: a physician's reason is needed" in stop and "session total 4.2 mg/kg" in stop
    assert "285.6 mg in the session at a dosing weight of 68 kg" in stop
    refused = client.post(f"/patients/{clinic.own_patient_id}/plans/new", data=body)
    assert refused.status_code == 422
    assert re.search(r'id="e-override_reason">[^<]*session total 4.2 mg/kg[^<]*A physician must give a reason', refused.text)
    saved = client.post(f"/patients/{clinic.own_patient_id}/plans/new",
                        data={**body, "override_reason": "Tolerated 4.2 mg/kg before (synthetic)"}, follow_redirects=False)
    assert saved.status_code == 303
    plan = client.get(saved.headers["location"]).text
    assert "Soft limits accepted" in plan and "Tolerated 4.2 mg/kg before" in plan
    assert "Session total <strong>285.6 mg = 4.20 mg/kg</strong> of the 68.0 kg dosing weight" in plan


# --- the bedside -----------------------------------------------------------------------------


def _event(body):
    return EVENT.validate_python(body)


def _running(db, clinic, protocol: str = "outpatient_infusion"):
    """A low-dose session (68 kg, 0.2 mg/kg bolus + 0.5 mg/kg/h for 4 h = 2.2 mg/kg) started 40 min ago."""
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    physician, nurse = clinic.actors["physician"], clinic.actors["nurse"]
    draft = pl.create_plan(db, physician, pl.PlanIn(patient_id=clinic.own_patient_id, evaluation_id=evaluation.id,
                                                    protocol=protocol), now=T0)
    plan = pl.sign_plan(db, physician, draft.id, draft.version, now=T0)
    start = utcnow() - timedelta(minutes=40)
    visit = ss.schedule_session(db, nurse, ss.SessionIn(patient_id=plan.patient_id, plan_id=plan.id, scheduled_at=start),
                                now=start - timedelta(days=1))
    visit = ss.check_in(db, nurse, visit.id, visit.version, ss.CheckInIn(), now=start - timedelta(minutes=20))
    visit = ss.record_checklist(db, nurse, visit.id, visit.version, checklist(start - timedelta(minutes=15)),
                                now=start - timedelta(minutes=10))
    visit = ss.start_session(db, nurse, visit.id, visit.version, ss.StartIn(ketamine_lot_number="K-1"), now=start,
                             double_check=physician)
    return visit


def test_the_console_shows_the_dosing_weight_and_refuses_a_soft_session_total_until_a_physician_agrees(
        signed_in, clinic, db):
    visit = _running(db, clinic)
    client = signed_in("nurse")
    page = client.get(f"/sessions/{visit.id}").text
    assert "Dosing weight 68.0 kg (actual weight)" in page and "low-dose (nurse-run outpatient chair)" in page
    assert "New rate (mg/kg/h of the 68.0 kg dosing weight)" in page and 'id="medication-form"' in page
    physician = clinic.actors["physician"]
    push = {"kind": "medication", "drug": "ketamine", "dose": 20, "unit": "mg", "route": "iv", "lot_number": "K-1"}
    for minute in (10, 15, 20, 25):  # 2.2 mg/kg planned + 4 x 0.29 mg/kg = about 3.4 mg/kg
        ss.append_event(db, physician, visit.id, _event(push),
                        now=visit.started_at + timedelta(minutes=minute))
    # 0.75 mg/kg/h from now to the end of the 4 h: past the soft session total of 4 mg/kg
    refused = client.post(f"/sessions/{visit.id}/rate", data={"csrf_token": csrf_of(page), "rate_mg_per_kg_per_h": "0.75",
                                                              "reason": "pain 7/10"})
    assert refused.status_code == 422
    error = re.search(r'id="e-rate_mg_per_kg_per_h">([^<]+)<', refused.text).group(1)
    assert "soft limit" in error and "session total" in error and "A physician must give a reason" in error
    assert "Rate change not given" in refused.text.split('id="e-rate', 1)[0]  # the banner at the top says it too
    assert 'id="f-override_reason"' not in refused.text  # the nurse has no box: a physician decides
    # a physician's extra 30 mg (0.44 mg/kg) is past the bolus soft limit and the session total: a reason is asked
    client = signed_in("physician")
    page = client.get(f"/sessions/{visit.id}").text
    pushed = {"csrf_token": csrf_of(page), "med_drug": "ketamine", "med_dose": "30", "med_unit": "mg", "med_route": "iv",
              "med_lot_number": "K-2", "med_reason": "breakthrough pain"}
    soft = client.post(f"/sessions/{visit.id}/medication", data=pushed)
    assert soft.status_code == 422
    assert "A physician must give a reason" in re.search(r'id="e-med_dose">([^<]+)<', soft.text).group(1)
    assert 'id="e-med_override_reason"' in soft.text and 'value="30"' in soft.text
    given = client.post(f"/sessions/{visit.id}/medication", data={**pushed, "med_override_reason": "Agreed (synthetic)"},
                        follow_redirects=True)
    assert "Given: ketamine 30 mg iv recorded. Soft limit accepted" in given.text
    agreed = client.post(f"/sessions/{visit.id}/rate", data={
        "csrf_token": csrf_of(page), "rate_mg_per_kg_per_h": "0.75", "reason": "pain 7/10",
        "override_reason": "Reviewed at the bedside (synthetic)"}, follow_redirects=True)
    assert "Soft limit accepted with the physician" in agreed.text and "Reviewed at the bedside (synthetic)" in agreed.text


def test_a_nurse_without_a_bolus_order_is_told_a_physician_gives_extra_ketamine(signed_in, clinic, db):
    visit = _running(db, clinic, protocol="titrated_infusion")  # no bolus on the plan
    client = signed_in("nurse")
    page = client.get(f"/sessions/{visit.id}").text
    answer = client.post(f"/sessions/{visit.id}/medication", data={
        "csrf_token": csrf_of(page), "med_drug": "ketamine", "med_dose": "10", "med_unit": "mg", "med_route": "iv",
        "med_lot_number": "K-2"})
    assert answer.status_code == 403
    assert "needs a physician here" in re.search(r'id="e-med_drug">([^<]+)<', answer.text).group(1)
