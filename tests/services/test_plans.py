"""Plans: pump program from the core, hard/soft limits, physician overrides, weight flag, If-Match, signature."""

import threading

import pytest
from sqlalchemy import func, select

from ketaclinic.records.plans import Plan, PlanOverride
from ketaclinic.records.users import User
from ketaclinic.services import evaluations as ev
from ketaclinic.services import plans as pl
from ketaclinic.services.auth import actor_for
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import (
    Conflict,
    Forbidden,
    PreconditionRequired,
    ServiceError,
    ValidationFailed,
)
from ketaclinic.services.users import UserCreate, create_user
from tests.conftest import PASSWORD
from tests.interop.flows import SCREENING, screening, signed_evaluation


def _plan_in(clinic, evaluation_id, **body):
    return pl.PlanIn.model_validate({"patient_id": clinic.own_patient_id, "evaluation_id": evaluation_id,
                                     "protocol": "outpatient_infusion", **body})


def _plans(db):
    with db.reading() as session:
        return session.execute(select(func.count()).select_from(Plan)).scalar_one()


def test_a_plan_needs_a_signed_eligible_evaluation(db, clinic):
    nurse = clinic.actors["nurse"]
    draft = ev.create_evaluation(db, nurse, ev.EvaluationIn(patient_id=clinic.own_patient_id, screening=SCREENING))
    with pytest.raises(Conflict) as unsigned:
        pl.create_plan(db, nurse, _plan_in(clinic, draft.id))
    assert unsigned.value.code == "evaluation_not_signed"
    refused = signed_evaluation(db, clinic, clinic.own_patient_id, screening(history={"psychosis": "active"}))
    with pytest.raises(Conflict) as not_eligible:
        pl.create_plan(db, nurse, _plan_in(clinic, refused.id))
    assert not_eligible.value.code == "not_eligible"


def test_the_program_comes_from_the_core(db, clinic):
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    plan = pl.create_plan(db, clinic.actors["nurse"], _plan_in(clinic, evaluation.id))
    bolus, infusion = plan.pump_program["program"]
    assert plan.weight_kg == 68.0  # the last recorded weight
    assert bolus["dose_mg"] == pytest.approx(13.6) and infusion["rate_mg_per_h"] == pytest.approx(34.0)
    assert plan.series_rule["sessions"] == 6 and plan.series_rule["booster"]["min_interval_days"] == 14
    assert plan.status == "draft" and plan.overrides == []


def test_hard_limit_refuses_and_stores_nothing(db, clinic):
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    with pytest.raises(ValidationFailed) as hard:
        pl.create_plan(db, clinic.actors["physician"], _plan_in(
            clinic, evaluation.id, protocol="custom_iv",
            steps=[{"kind": "infusion", "rate_mg_per_kg_per_h": 2.5, "duration_min": 60}],
            override={"reason": "trying to force it"}))
    assert hard.value.code == "hard_limit"
    assert _plans(db) == 0


def test_a_soft_limit_override_needs_a_physician_and_is_recorded(db, clinic):
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    body = dict(protocol="custom_iv", steps=[{"kind": "bolus", "dose_mg_per_kg": 0.5}])
    with pytest.raises(ValidationFailed) as soft:
        pl.create_plan(db, clinic.actors["physician"], _plan_in(clinic, evaluation.id, **body))
    assert soft.value.code == "soft_limit"
    with pytest.raises(Forbidden) as nurse:
        pl.create_plan(db, clinic.actors["nurse"], _plan_in(clinic, evaluation.id, override={"reason": "x"}, **body))
    assert nurse.value.code == "override_needs_physician"
    physician = clinic.actors["physician"]
    plan = pl.create_plan(db, physician, _plan_in(clinic, evaluation.id, override={"reason": "tolerated before"}, **body))
    assert [o.limit_code for o in plan.overrides] == ["bolus_dose_per_kg_above_soft_max"]
    assert plan.overrides[0].approved_by == physician.user_id and plan.overrides[0].reason == "tolerated before"
    assert plan.dose_check["override"]["by"] == "physician"
    with db.reading() as session:
        assert session.execute(select(func.count()).select_from(PlanOverride)).scalar_one() == 1


def test_a_weight_far_from_the_last_must_be_acknowledged(db, clinic):
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    with pytest.raises(ValidationFailed) as flagged:
        pl.create_plan(db, clinic.actors["nurse"], _plan_in(clinic, evaluation.id, weight_kg=150))
    assert flagged.value.code == "weight_change_unacknowledged" and "pounds" in flagged.value.message
    plan = pl.create_plan(db, clinic.actors["nurse"], _plan_in(clinic, evaluation.id, weight_kg=150,
                                                                weight_change_acknowledged=True))
    flag = plan.dose_check["weight_flag"]
    assert flag["likely_slip"] == "lb_for_kg" and flag["acknowledged_by"] == clinic.actors["nurse"].user_id


def test_if_match_and_signature(db, clinic):
    physician = clinic.actors["physician"]
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    plan = pl.create_plan(db, physician, _plan_in(clinic, evaluation.id))
    with pytest.raises(PreconditionRequired):
        pl.update_plan(db, physician, plan.id, None, pl.PlanPatch(series={"sessions": 4}))
    edited = pl.update_plan(db, physician, plan.id, plan.version, pl.PlanPatch(
        steps=[{"kind": "infusion", "rate_mg_per_kg_per_h": 0.4, "duration_min": 120}], series={"sessions": 4}))
    assert edited.version == plan.version + 1 and edited.series_rule["sessions"] == 4
    assert edited.pump_program["program"][0]["rate_mg_per_h"] == pytest.approx(27.2)
    with pytest.raises(Conflict):
        pl.update_plan(db, physician, plan.id, plan.version, pl.PlanPatch(series={"sessions": 5}))
    with pytest.raises(Forbidden):
        pl.sign_plan(db, clinic.actors["nurse"], plan.id, edited.version)
    signed = pl.sign_plan(db, physician, plan.id, edited.version)
    assert signed.status == "signed" and signed.signed_by == physician.user_id
    with pytest.raises(Conflict) as frozen:
        pl.update_plan(db, physician, plan.id, signed.version, pl.PlanPatch(series={"sessions": 5}))
    assert frozen.value.code == "immutable_record"


def test_two_physicians_editing_the_same_plan_one_wins(db, clinic):
    first = clinic.actors["physician"]
    view = create_user(db, Actor.system("tests"), UserCreate(username="physician2", role="physician", password=PASSWORD))
    with db.reading() as session:
        second = actor_for(session.get(User, view.id), "127.0.0.1")
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    plan = pl.create_plan(db, first, _plan_in(clinic, evaluation.id))
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def edit(actor, sessions):
        barrier.wait()
        try:
            outcomes.append(pl.update_plan(db, actor, plan.id, plan.version, pl.PlanPatch(series={"sessions": sessions})))
        except ServiceError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=edit, args=(first, 3)), threading.Thread(target=edit, args=(second, 8))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [o for o in outcomes if isinstance(o, pl.PlanView)]
    losses = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(wins) == 1 and len(losses) == 1, outcomes
    assert pl.get_plan(db, first, plan.id).series_rule["sessions"] == wins[0].series_rule["sessions"]
