"""Design 4.3 v2 through the services: the dosing weight from the patient's height and sex, the
care profile chosen by a physician with a reason, clinic settings per profile, and the bedside
judging a rate change or an extra bolus against the whole session."""

from datetime import timedelta

import pytest

from ketaclinic.services import clinic_settings as cs
from ketaclinic.services import patients as pt
from ketaclinic.services import plans as pl
from ketaclinic.services.errors import Forbidden, ValidationFailed
from tests.interop.flows import T0, event, running, signed_evaluation, signed_plan

AT = T0 + timedelta(days=7)


def _plan_in(clinic, evaluation_id, **body):
    return pl.PlanIn.model_validate({"patient_id": clinic.own_patient_id, "evaluation_id": evaluation_id,
                                     "protocol": "outpatient_infusion", **body})


def _set_height(db, clinic, height_cm: float, weight_kg: float | None = None):
    physician = clinic.actors["physician"]
    current = pt.get_patient(db, physician, clinic.own_patient_id)
    patch = {"height_cm": height_cm} | ({"weight_kg": weight_kg} if weight_kg is not None else {})
    return pt.update_patient(db, physician, clinic.own_patient_id, current.version, pt.PatientPatch.model_validate(patch))


def test_the_patient_record_keeps_a_height_within_120_to_230_cm(db, clinic):
    assert _set_height(db, clinic, 165).height_cm == 165
    with pytest.raises(ValueError, match="height_cm"):
        pt.PatientPatch.model_validate({"height_cm": 16.5})  # metres typed where cm belong


def test_an_obese_patient_is_planned_on_the_adjusted_weight(db, clinic):
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    _set_height(db, clinic, 165, weight_kg=130)
    plan = pl.create_plan(db, clinic.actors["physician"], _plan_in(clinic, evaluation.id))
    # the fixture patient is female: IBW 56.97 kg, BMI 47.8 -> 56.97 + 0.4 x 73.03 = 86.2 kg
    assert (plan.dosing_weight_kg, plan.dosing_weight_basis, plan.weight_kg) == (86.2, "adjusted", 130.0)
    assert plan.pump_program["program"][1]["rate_mg_per_h"] == pytest.approx(43.1)  # 0.5 x 86.2, not 65


def test_the_anesthesia_staffed_profile_needs_a_physician_and_a_reason(db, clinic):
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    body = dict(protocol="custom_iv", profile="anesthesia_staffed", steps=[
        {"kind": "infusion", "rate_mg_per_kg_per_h": 1.0, "duration_min": 120}])
    with pytest.raises(Forbidden) as nurse:
        pl.create_plan(db, clinic.actors["nurse"], _plan_in(clinic, evaluation.id, profile_reason="ward", **body))
    assert nurse.value.code == "profile_needs_physician"
    with pytest.raises(ValidationFailed) as bare:
        pl.create_plan(db, clinic.actors["physician"], _plan_in(clinic, evaluation.id, profile_reason="  ", **body))
    assert bare.value.code == "profile_reason_required" and bare.value.field == "profile_reason"
    plan = pl.create_plan(db, clinic.actors["physician"],
                          _plan_in(clinic, evaluation.id, profile_reason="inpatient ward, anaesthetist present", **body))
    assert plan.profile == "anesthesia_staffed" and plan.profile_reason == "inpatient ward, anaesthetist present"
    assert plan.dose_check["profile_chosen_by"] == "physician" and plan.overrides == []  # 1.0 is within its soft max
    low = pl.create_plan(db, clinic.actors["physician"], _plan_in(
        clinic, evaluation.id, protocol="custom_iv", steps=body["steps"], override={"reason": "tolerated before"}))
    assert low.profile == "low_dose" and [o.limit_code for o in low.overrides] == ["infusion_rate_per_kg_above_soft_max"]


def test_an_inpatient_protocol_runs_under_the_anesthesia_staffed_profile_with_its_reason(db, clinic):
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    with pytest.raises(ValidationFailed) as bare:
        pl.create_plan(db, clinic.actors["physician"], _plan_in(clinic, evaluation.id, protocol="sigtermans2009"))
    assert bare.value.code == "profile_reason_required"
    plan = pl.create_plan(db, clinic.actors["physician"], _plan_in(clinic, evaluation.id, protocol="sigtermans2009",
                                                                    profile_reason="admitted for the trial regimen"))
    assert plan.profile == "anesthesia_staffed"


def test_a_clinic_tightens_the_anesthesia_staffed_profile_on_its_own(db, clinic):
    admin = clinic.actors["admin"]
    patch = cs.ClinicSettingsPatch.model_validate({"drug_library_anesthesia_staffed": {
        "limits": {"infusion_rate_mg_per_kg_per_h": {"hard_max": 1.5}}}})
    view = cs.update_settings(db, admin, 0, patch)
    assert view.libraries["anesthesia_staffed"]["limits"][0]["hard_max"]["value"] == 1.5
    assert view.libraries["low_dose"]["limits"][0]["hard_max"]["value"] == 1.0
    with pytest.raises(ValidationFailed) as loose:
        cs.update_settings(db, admin, view.version, cs.ClinicSettingsPatch.model_validate({
            "drug_library_anesthesia_staffed": {"limits": {"infusion_rate_mg_per_kg_per_h": {"hard_max": 2.5}}}}))
    assert loose.value.code == "library_loosened"
    assert loose.value.field == "drug_library_anesthesia_staffed.limits.infusion_rate_mg_per_kg_per_h"
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    with pytest.raises(ValidationFailed) as hard:
        pl.create_plan(db, clinic.actors["physician"], _plan_in(
            clinic, evaluation.id, protocol="custom_iv", profile="anesthesia_staffed", profile_reason="ICU",
            steps=[{"kind": "infusion", "rate_mg_per_kg_per_h": 1.6, "duration_min": 60}], override={"reason": "x"}))
    assert hard.value.code == "hard_limit"


# --- the bedside -------------------------------------------------------------------------------


def test_a_rate_change_that_would_push_the_session_past_its_total_needs_the_physician(db, clinic):
    # 68 kg, 0.2 mg/kg bolus + 0.5 mg/kg/h for 240 min = 2.2 mg/kg planned
    nurse, physician = clinic.actors["nurse"], clinic.actors["physician"]
    visit = running(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), AT)
    ok = event(db, nurse, visit.id, {"kind": "rate_change", "rate_mg_per_kg_per_h": 0.7, "reason": "pain"},
               AT + timedelta(minutes=10))  # 0.7 mg/kg/h for the rest: about 2.9 mg/kg, within 4
    assert ok.payload["limits"] == [] and ok.payload["dosing_weight_kg"] == 68.0
    back = event(db, nurse, visit.id, {"kind": "rate_change", "rate_mg_per_kg_per_h": 0.5, "reason": "dizzy"},
                 AT + timedelta(minutes=12))
    assert back.payload["limits"] == []
    push = {"kind": "medication", "drug": "ketamine", "dose": 20, "unit": "mg", "route": "iv", "lot_number": "K-1"}
    for minute in (15, 20, 25, 30, 35):  # 5 x 0.29 mg/kg: about 3.7 mg/kg in all, within 4
        event(db, physician, visit.id, push, AT + timedelta(minutes=minute))
    # 0.75 mg/kg/h is within the step's soft maximum, but from minute 40 it makes about 4.6 mg/kg in the session
    with pytest.raises(ValidationFailed) as soft:
        event(db, nurse, visit.id, {"kind": "rate_change", "rate_mg_per_kg_per_h": 0.75, "reason": "pain"},
              AT + timedelta(minutes=40))
    assert soft.value.code == "soft_limit" and "session total" in soft.value.message
    with pytest.raises(Forbidden):
        event(db, nurse, visit.id, {"kind": "rate_change", "rate_mg_per_kg_per_h": 0.75, "reason": "pain",
                                    "override_reason": "me"}, AT + timedelta(minutes=40))
    agreed = event(db, physician, visit.id, {"kind": "rate_change", "rate_mg_per_kg_per_h": 0.75, "reason": "pain",
                                             "override_reason": "reviewed at the bedside"}, AT + timedelta(minutes=41))
    assert [lim["code"] for lim in agreed.payload["limits"]] == ["session_total"]


def test_an_extra_bolus_counts_towards_the_session_total(db, clinic):
    nurse, physician = clinic.actors["nurse"], clinic.actors["physician"]
    visit = running(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), AT)
    push = {"kind": "medication", "drug": "ketamine", "dose": 20, "unit": "mg", "route": "iv", "lot_number": "K-1"}
    given = event(db, nurse, visit.id, push, AT + timedelta(minutes=5))  # 0.29 mg/kg, under a bolus order
    assert given.payload["dose_check"]["limits"] == []
    for minute in (10, 15, 20, 25, 30):
        event(db, physician, visit.id, {**push, "override_reason": "breakthrough pain"}, AT + timedelta(minutes=minute))
    # 2.2 mg/kg planned + 6 x 20 mg (1.76 mg/kg) = 3.96 mg/kg; one more push is 4.26: past the soft session total
    with pytest.raises(ValidationFailed) as soft:
        event(db, physician, visit.id, push, AT + timedelta(minutes=35))
    assert soft.value.code == "soft_limit" and "session total" in soft.value.message
    for minute in (40, 45, 50, 55, 60, 65):  # a physician with a reason may go on, up to the hard total
        event(db, physician, visit.id, {**push, "override_reason": "agreed plan"}, AT + timedelta(minutes=minute))
    with pytest.raises(ValidationFailed) as hard:  # 2.2 + 12 x 0.29 + 0.29 = 5.99 ... then past 6 mg/kg
        event(db, physician, visit.id, {**push, "dose": 30, "override_reason": "agreed plan"}, AT + timedelta(minutes=70))
    assert hard.value.code == "hard_limit"


def test_who_may_push_extra_ketamine_is_a_clinic_setting(db, clinic):
    nurse, admin = clinic.actors["nurse"], clinic.actors["admin"]
    push = {"kind": "medication", "drug": "Ketamine", "dose": 10, "unit": "mg", "route": "iv", "lot_number": "K-1"}
    no_order = signed_plan(db, clinic, clinic.own_patient_id, protocol="titrated_infusion")  # no bolus on the plan
    visit = running(db, clinic, no_order, AT)
    with pytest.raises(Forbidden) as refused:
        event(db, nurse, visit.id, push, AT + timedelta(minutes=5))
    assert refused.value.code == "bedside_bolus_needs_physician"
    event(db, clinic.actors["physician"], visit.id, push, AT + timedelta(minutes=6))
    cs.update_settings(db, admin, 0, cs.ClinicSettingsPatch(bedside_bolus="physician_or_nurse"))
    assert event(db, nurse, visit.id, push, AT + timedelta(minutes=7)).payload["dose"] == 10
    view = cs.get_settings(db, admin)
    cs.update_settings(db, admin, view.version, cs.ClinicSettingsPatch(bedside_bolus="physician_only"))
    ordered = running(db, clinic, signed_plan(db, clinic, clinic.other_patient_id), AT)  # has a loading bolus
    with pytest.raises(Forbidden):
        event(db, nurse, ordered.id, push, AT + timedelta(minutes=8))
