"""Issue 12: an independent double check of the pump program by a second clinician before every start
(a clinic setting, on by default), recorded in the program, as an event and in the audit log."""

from datetime import timedelta

import pytest

from ketaclinic.services import clinic_settings as cs
from ketaclinic.services import sessions as ss
from ketaclinic.services.errors import Conflict, ValidationFailed
from tests.conftest import PASSWORD
from tests.interop.flows import T0, checked_in, checklist, signed_plan

AT = T0 + timedelta(days=7)


def _ready(db, clinic):
    visit = checked_in(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), AT)
    return ss.record_checklist(db, clinic.actors["nurse"], visit.id, visit.version, checklist(AT), now=AT)


def test_the_start_needs_a_second_clinician(db, clinic):
    nurse, physician = clinic.actors["nurse"], clinic.actors["physician"]
    visit = _ready(db, clinic)
    with pytest.raises(Conflict) as missing:
        ss.start_session(db, nurse, visit.id, visit.version, now=AT)
    assert missing.value.code == "double_check_required" and missing.value.field == "double_check"
    with pytest.raises(ValidationFailed) as same:
        ss.start_session(db, nurse, visit.id, visit.version, now=AT, double_check=nurse)
    assert same.value.code == "double_check_same_user"
    with pytest.raises(ValidationFailed) as role:
        ss.start_session(db, nurse, visit.id, visit.version, now=AT, double_check=clinic.actors["coordinator"])
    assert role.value.code == "double_check_role"
    started = ss.start_session(db, nurse, visit.id, visit.version, now=AT, double_check=physician)
    assert started.state == "running" and started.pump_program["double_checked_by"] == "physician"
    notes = [e for e in ss.list_events(db, nurse, visit.id, kind="note").items if "double_check" in e.payload]
    assert notes and notes[0].payload["double_check"]["by"] == "physician"


def test_the_second_clinicians_password_is_checked(db, settings, clinic):
    nurse = clinic.actors["nurse"]
    wrong = ss.StartIn.model_validate({"double_check": {"username": "physician", "password": "not-it"}})
    with pytest.raises(ValidationFailed) as refused:
        ss.double_checker(db, settings, nurse, wrong)
    assert refused.value.code == "double_check_failed"
    right = ss.StartIn.model_validate({"double_check": {"username": "physician", "password": PASSWORD}})
    assert ss.double_checker(db, settings, nurse, right).username == "physician"
    assert ss.double_checker(db, settings, nurse, ss.StartIn()) is None
    assert "not-it" not in repr(wrong)  # the password is never shown


def test_a_clinic_may_turn_the_double_check_off(db, clinic):
    cs.update_settings(db, clinic.actors["admin"], 0, cs.ClinicSettingsPatch(pump_double_check=False))
    visit = _ready(db, clinic)
    started = ss.start_session(db, clinic.actors["nurse"], visit.id, visit.version, now=AT)
    assert started.state == "running" and "double_checked_by" not in started.pump_program
