"""The diary: own entries only, MME, amendments, and the booster suggestion from the diary and the last session."""

from datetime import timedelta

import pytest

from ketaclinic.services import diary as dy
from ketaclinic.services.errors import Forbidden, NotFound, ValidationFailed
from tests.interop.flows import T0, completed, signed_plan

SESSION_AT = T0 + timedelta(days=7)


def test_a_patient_writes_and_reads_only_their_own_diary(db, clinic):
    me = clinic.actors["patient"]
    entry = dy.add_entry(db, me, dy.DiaryIn(pain_nrs=4, mood=6, sleep=5, function=6, day=T0.date()), now=T0)
    assert entry.patient_id == clinic.own_patient_id and entry.day == T0.date() and entry.created_by == me.user_id
    assert [e.id for e in dy.list_entries(db, me).items] == [entry.id]
    with pytest.raises(NotFound):
        dy.list_entries(db, me, patient_id=clinic.other_patient_id)
    with pytest.raises(NotFound):
        dy.add_entry(db, me, dy.DiaryIn(patient_id=clinic.other_patient_id, pain_nrs=3))
    with pytest.raises(Forbidden):
        dy.list_entries(db, clinic.actors["coordinator"], patient_id=clinic.own_patient_id)
    nurse_entry = dy.add_entry(db, clinic.actors["nurse"], dy.DiaryIn(patient_id=clinic.own_patient_id, pain_nrs=5))
    assert nurse_entry.created_by == clinic.actors["nurse"].user_id
    with pytest.raises(ValidationFailed):
        dy.add_entry(db, me, dy.DiaryIn(pain_nrs=4, day=T0.date() + timedelta(days=1)), now=T0)


def test_opioids_become_mme_and_unknown_ones_are_refused(db, clinic):
    me = clinic.actors["patient"]
    entry = dy.add_entry(db, me, dy.DiaryIn(pain_nrs=6, opioid_doses=[
        {"opioid": "oxycodone", "daily_dose_mg": 20}, {"opioid": "tramadol", "daily_dose_mg": 100}],
        urinary_symptoms={"urgency": True}))
    assert entry.mme_per_day == pytest.approx(50.0) and entry.urinary_symptoms["urgency"] is True
    with pytest.raises(ValidationFailed) as unknown:
        dy.add_entry(db, me, dy.DiaryIn(pain_nrs=6, opioid_doses=[{"opioid": "buprenorphine", "daily_dose_mg": 1}]))
    assert unknown.value.code == "unknown_opioid"
    with pytest.raises(ValueError):
        dy.DiaryIn(pain_nrs=11)


def test_a_correction_replaces_the_entry_it_amends(db, clinic):
    me = clinic.actors["patient"]
    wrong = dy.add_entry(db, me, dy.DiaryIn(pain_nrs=9, day=T0.date()), now=T0)
    dy.add_entry(db, me, dy.DiaryIn(pain_nrs=3, day=T0.date(), amends_id=wrong.id), now=T0)
    with db.reading() as session:
        days = dy.effective_days(dy.patient_entries(session, clinic.own_patient_id))
    assert [(d.day, d.pain_nrs) for d in days] == [(T0.date(), 3)]
    other = dy.add_entry(db, clinic.actors["nurse"], dy.DiaryIn(patient_id=clinic.other_patient_id, pain_nrs=5))
    with pytest.raises(ValidationFailed):
        dy.add_entry(db, me, dy.DiaryIn(pain_nrs=4, amends_id=other.id))


def _diary(db, actor, pains, start):
    for offset, pain in enumerate(pains):
        day = start + timedelta(days=offset)
        dy.add_entry(db, actor, dy.DiaryIn(pain_nrs=pain, day=day.date()), now=day)


def test_fading_relief_suggests_a_booster(db, clinic):
    plan = signed_plan(db, clinic, clinic.own_patient_id)  # baseline NRS 8
    completed(db, clinic, plan, SESSION_AT)
    me = clinic.actors["patient"]
    early = dy.booster_suggestion(db, me, today=SESSION_AT.date() + timedelta(days=1))
    assert not early.suggest_booster and early.last_session_day == SESSION_AT.date()
    _diary(db, me, [3] * 10 + [7] * 8, SESSION_AT + timedelta(days=1))  # relief for 10 days, then gone
    today = (SESSION_AT + timedelta(days=18)).date()
    advice = dy.booster_suggestion(db, me, today=today)
    assert advice.suggest_booster and advice.relief_faded and advice.had_relief
    assert advice.baseline_pain_nrs == 8 and advice.source == "clinic_policy"
    physician_view = dy.booster_suggestion(db, clinic.actors["physician"], clinic.own_patient_id, today=today)
    assert physician_view.suggest_booster
    with pytest.raises(NotFound):
        dy.booster_suggestion(db, me, clinic.other_patient_id)


def test_no_relief_is_not_a_booster(db, clinic):
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    completed(db, clinic, plan, SESSION_AT)
    _diary(db, clinic.actors["patient"], [8] * 18, SESSION_AT + timedelta(days=1))
    advice = dy.booster_suggestion(db, clinic.actors["patient"], today=(SESSION_AT + timedelta(days=18)).date())
    assert advice.relief_faded and not advice.had_relief and not advice.suggest_booster
    assert "no response" in advice.message
