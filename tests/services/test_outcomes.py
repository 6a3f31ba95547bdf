"""Outcomes: responders at 30 %/50 %, durability (Kaplan-Meier), by condition, comparators, a patient's own report."""

from datetime import timedelta

import pytest

from ketaclinic.services import diary as dy
from ketaclinic.services import outcomes as oc
from ketaclinic.services.errors import Forbidden, NotFound
from tests.interop.flows import T0, completed, signed_plan

AT = T0 + timedelta(days=7)


def _diary(db, actor, patient_id, pains, start):
    for offset, pain in enumerate(pains):
        day = start + timedelta(days=offset)
        dy.add_entry(db, actor, dy.DiaryIn(patient_id=patient_id, pain_nrs=pain, day=day.date()), now=day)


def test_cohort_responders_durability_and_comparators(db, clinic):
    nurse = clinic.actors["nurse"]
    for patient_id in (clinic.own_patient_id, clinic.other_patient_id):
        completed(db, clinic, signed_plan(db, clinic, patient_id), AT)
    # baseline 8: own patient 3 for 20 days then 8 (responder, relief lost); other patient 7 (non-responder)
    _diary(db, nurse, clinic.own_patient_id, [3] * 20 + [8] * 10, AT + timedelta(days=1))
    _diary(db, nurse, clinic.other_patient_id, [7] * 30, AT + timedelta(days=1))
    today = (AT + timedelta(days=31)).date()
    result = oc.cohort_outcomes(db, clinic.actors["physician"], today=today)
    assert result["patients_with_a_course"] == 2 and result["assessable"] == 2
    assert result["overall"]["n"] == 2 and result["overall"]["responders_30"] == 1
    crps = result["by_condition"]["crps"]
    assert crps["n"] == 2 and crps["pct_30"] == 50.0
    assert crps["durability"]["n"] == 1 and crps["durability"]["events"] == 1
    assert crps["durability"]["median_days"] == pytest.approx(21.0)
    sources = {c["source"] for c in crps["comparators"]}
    assert {"correll2004", "sigtermans2009_pain", "patil2012"} <= sources and all(c["caveats"] for c in crps["comparators"])
    assert result["caveats"] and "responder" in result["definitions"]
    with pytest.raises(Forbidden):
        oc.cohort_outcomes(db, clinic.actors["coordinator"])


def test_a_patient_sees_their_own_report_only(db, clinic):
    completed(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), AT)
    _diary(db, clinic.actors["patient"], clinic.own_patient_id, [4] * 10, AT + timedelta(days=1))
    report = oc.patient_report(db, clinic.actors["patient"], clinic.own_patient_id, today=(AT + timedelta(days=11)).date())
    assert report.followup_nrs == 4.0 and report.response["responder_50"] and report.course_end == AT.date() + timedelta(days=0)
    with pytest.raises(NotFound):
        oc.patient_report(db, clinic.actors["patient"], clinic.other_patient_id)
    empty = oc.patient_report(db, clinic.actors["nurse"], clinic.other_patient_id)
    assert empty.response is None and empty.message.startswith("Not yet")
