"""Clinic settings: versioned and append-only, admin only, If-Match, audited; the library only tightens
and is what plans, rate changes, checklists and discharge then use."""

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from ketaclinic.records.audit import AuditEntry
from ketaclinic.records.clinic_settings import ClinicSettingsVersion
from ketaclinic.services import clinic_settings as cs
from ketaclinic.services import sessions as ss
from ketaclinic.services.errors import Conflict, Forbidden, PreconditionRequired, ValidationFailed
from tests.interop.flows import DISCHARGE, T0, checked_in, event, running, signed_plan

AT = T0 + timedelta(days=7)
TIGHTER = {"drug_library": {"limits": {"infusion_rate_mg_per_kg_per_h": {"soft_max": 0.6, "hard_max": 0.9}},
                            "concentrations_mg_per_ml": [1.0, 2.0]}}


def _patch(**body):
    return cs.ClinicSettingsPatch.model_validate(body)


def test_defaults_until_saved_then_versions_with_who_when_and_what(db, clinic):
    admin = clinic.actors["admin"]
    start = cs.get_settings(db, admin)
    assert start.version == 0 and start.data.fasting_hours.light_meal == 6 and start.library == start.default_library
    first = cs.update_settings(db, admin, 0, _patch(clinic_name="Synthetic Pain Clinic", note="opening"))
    second = cs.update_settings(db, admin, 1, _patch(**TIGHTER))
    assert (first.version, second.version) == (1, 2)
    assert second.data.clinic_name == "Synthetic Pain Clinic"  # kept from version 1
    assert {c["field"] for c in second.changes} == {
        "drug_library.limits.infusion_rate_mg_per_kg_per_h.soft_max",
        "drug_library.limits.infusion_rate_mg_per_kg_per_h.hard_max", "drug_library.concentrations_mg_per_ml"}
    assert second.created_by_username == "admin"
    per_kg = next(lim for lim in second.library["limits"] if lim["quantity"] == "infusion_rate_mg_per_kg_per_h")
    assert per_kg["hard_max"]["value"] == 0.9 and per_kg["soft_max"]["value"] == 0.6
    assert second.library["concentrations_mg_per_ml"] == [1.0, 2.0] and "v2" in second.library["name"]
    with db.reading() as session:
        actions = session.execute(select(AuditEntry.action).where(AuditEntry.action == "clinic_settings.update")).all()
        assert len(actions) == 2
        assert [v.version for v in session.execute(select(ClinicSettingsVersion)).scalars()] == [1, 2]
    assert [v.version for v in cs.list_versions(db, admin)] == [2, 1]


def test_if_match_and_only_the_admin(db, clinic):
    admin = clinic.actors["admin"]
    with pytest.raises(PreconditionRequired):
        cs.update_settings(db, admin, None, _patch(clinic_name="X"))
    cs.update_settings(db, admin, 0, _patch(clinic_name="X"))
    with pytest.raises(Conflict) as stale:
        cs.update_settings(db, admin, 0, _patch(clinic_name="Y"))
    assert "stale" in stale.value.message
    for role in ("physician", "nurse", "coordinator", "patient"):
        with pytest.raises(Forbidden):
            cs.update_settings(db, clinic.actors[role], 1, _patch(clinic_name="Z"))
    assert cs.get_settings(db, clinic.actors["nurse"]).data.clinic_name == "X"
    with pytest.raises(Forbidden):
        cs.get_settings(db, clinic.actors["coordinator"])


@pytest.mark.parametrize("library,field", [
    ({"limits": {"infusion_rate_mg_per_kg_per_h": {"hard_max": 2.5}}}, "drug_library.limits.infusion_rate_mg_per_kg_per_h"),
    ({"limits": {"bolus_dose_mg_per_kg": {"soft_max": 1.5}}}, "drug_library.limits.bolus_dose_mg_per_kg"),
    ({"limits": {"weight_kg": {"hard_min": 20}}}, "drug_library.limits.weight_kg"),
    ({"concentrations_mg_per_ml": [1.0, 5.0]}, "drug_library.concentrations_mg_per_ml"),
])
def test_the_library_is_never_loosened(db, clinic, library, field):
    with pytest.raises(ValidationFailed) as refused:
        cs.update_settings(db, clinic.actors["admin"], 0, _patch(drug_library=library))
    assert refused.value.code == "library_loosened" and refused.value.field == field
    assert cs.get_settings(db, clinic.actors["admin"]).version == 0


def test_fasting_times_may_be_longer_than_the_asa_never_shorter(db, clinic):
    with pytest.raises(ValueError, match="ASA minimum of 2 h"):
        _patch(fasting_hours={"clear_liquid": 1})
    view = cs.update_settings(db, clinic.actors["admin"], 0, _patch(fasting_hours={"clear_liquid": 3}))
    assert view.data.fasting_hours.clear_liquid == 3 and view.data.fasting_hours.fatty_meal == 8


def test_settings_rows_are_append_only(db, clinic):
    cs.update_settings(db, clinic.actors["admin"], 0, _patch(clinic_name="X"))
    with pytest.raises(Exception, match="(?i)append-only|refused"), db.engine.begin() as connection:
        connection.execute(text("UPDATE clinic_settings_versions SET note = 'rewritten'"))


def test_plans_and_rate_changes_use_the_clinics_library(db, clinic):
    admin, physician = clinic.actors["admin"], clinic.actors["physician"]
    plan = signed_plan(db, clinic, clinic.own_patient_id)  # 0.5 mg/kg/h under the default library
    cs.update_settings(db, admin, 0, _patch(
        drug_library={"limits": {"infusion_rate_mg_per_kg_per_h": {"soft_max": 0.4, "hard_max": 0.8}}},
        booster_min_interval_days=21))
    with pytest.raises(ValidationFailed) as soft:
        signed_plan(db, clinic, clinic.own_patient_id)
    assert soft.value.code == "soft_limit"
    accepted = signed_plan(db, clinic, clinic.own_patient_id, override={"reason": "tolerated 0.5 before"})
    assert "clinic settings v1" in accepted.pump_program["drug_library"]
    assert accepted.series_rule["booster"]["min_interval_days"] == 21
    visit = running(db, clinic, plan, AT)
    with pytest.raises(ValidationFailed) as hard:
        event(db, physician, visit.id, {"kind": "rate_change", "rate_mg_per_kg_per_h": 1.0, "reason": "pain",
                                        "override_reason": "x"}, AT + timedelta(minutes=20))
    assert hard.value.code == "hard_limit"  # 1.0 was only soft under the default library


def test_checklist_and_discharge_use_the_clinics_times(db, clinic):
    nurse = clinic.actors["nurse"]
    cs.update_settings(db, clinic.actors["admin"], 0, _patch(fasting_hours={"light_meal": 10},
                                                             minimum_observation_min=90))
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    visit = checked_in(db, clinic, plan, AT)  # light meal 8 h before: enough for the ASA, not for this clinic
    fasting = next(i for i in visit.checklist["items"] if i["code"] == "fasting")
    assert fasting["met"] is False and "10" in fasting["message"]
    other = signed_plan(db, clinic, clinic.other_patient_id)
    cs.update_settings(db, clinic.actors["admin"], 1, _patch(fasting_hours={"light_meal": 6}))
    visit = running(db, clinic, other, AT)
    visit = ss.stop_infusion(db, nurse, visit.id, visit.version, now=AT + timedelta(minutes=60))
    check = ss.assess_discharge_now(db, nurse, visit.id, ss.DischargeIn.model_validate(DISCHARGE),
                                    now=AT + timedelta(minutes=130))
    assert check.minimum_observation_min == 90 and "observation_time" in {u["code"] for u in check.unmet}
