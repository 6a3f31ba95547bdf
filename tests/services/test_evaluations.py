"""Evaluations through the services: screening inside, sign-off, immutability, amendments, roles, If-Match."""

import pytest
from sqlalchemy import select

from ketaclinic.clinical.screening import RULE_VERSION, ScreeningRequest, screen
from ketaclinic.records.audit import AuditEntry
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.services import evaluations as ev
from ketaclinic.services.errors import Conflict, Forbidden, NotFound, PreconditionRequired, ValidationFailed
from tests.interop.flows import SCREENING, T0, screening


def test_screening_runs_inside_and_is_stored_with_its_rule_version(db, clinic):
    document = screening(patient={"pregnant": True})
    view = ev.create_evaluation(db, clinic.actors["nurse"], ev.EvaluationIn(patient_id=clinic.own_patient_id,
                                                                            screening=document), now=T0)
    expected = screen(ScreeningRequest.model_validate(document)).as_json()
    assert view.decision == "not_eligible" and view.screening_result == expected
    assert "pregnancy" in {f["code"] for f in view.screening_result["findings"]}
    assert view.rule_version == RULE_VERSION and view.status == "draft"
    with db.reading() as session:
        stored = session.get(Evaluation, view.id)
        assert stored.screening_input["patient"]["pregnant"] is True and stored.rule_version == RULE_VERSION


def test_signed_evaluation_never_changes_and_amendment_keeps_the_original(db, clinic):
    nurse, physician = clinic.actors["nurse"], clinic.actors["physician"]
    draft = ev.create_evaluation(db, nurse, ev.EvaluationIn(patient_id=clinic.own_patient_id,
                                                            screening=screening(vitals={"systolic_mmhg": 184})), now=T0)
    assert draft.decision == "not_eligible"
    with pytest.raises(Forbidden):
        ev.sign_evaluation(db, nurse, draft.id, draft.version)
    signed = ev.sign_evaluation(db, physician, draft.id, draft.version)
    assert signed.status == "signed" and signed.signed_by == physician.user_id
    with pytest.raises(Conflict) as refused:
        ev.update_evaluation(db, physician, signed.id, signed.version, ev.EvaluationPatch(notes="changed"))
    assert refused.value.code == "immutable_record"
    amendment = ev.amend_evaluation(db, physician, signed.id, ev.AmendmentIn(screening=SCREENING, reason="repeat BP 128/82"))
    assert amendment.amends_id == signed.id and amendment.decision == "eligible" and amendment.status == "draft"
    original = ev.get_evaluation(db, physician, signed.id)
    assert original.decision == "not_eligible" and original.version == signed.version
    assert original.amended_by == [amendment.id]
    ev.sign_evaluation(db, physician, amendment.id, amendment.version)
    with db.reading() as session:
        assert ev.current_signed_evaluation(session, clinic.own_patient_id).id == amendment.id


def test_draft_edits_need_the_current_version(db, clinic):
    nurse = clinic.actors["nurse"]
    draft = ev.create_evaluation(db, nurse, ev.EvaluationIn(patient_id=clinic.own_patient_id, screening=SCREENING))
    with pytest.raises(PreconditionRequired):
        ev.update_evaluation(db, nurse, draft.id, None, ev.EvaluationPatch(notes="x"))
    edited = ev.update_evaluation(db, nurse, draft.id, draft.version,
                                  ev.EvaluationPatch(screening=screening(history={"psychosis": "history"})))
    assert edited.version == draft.version + 1 and edited.decision == "eligible_with_precautions"
    with pytest.raises(Conflict) as stale:
        ev.update_evaluation(db, nurse, draft.id, draft.version, ev.EvaluationPatch(notes="late"))
    assert stale.value.code == "stale_version"


def test_a_pounds_for_kilograms_weight_must_be_acknowledged(db, clinic):
    slip = screening(patient={"weight_kg": 150})
    with pytest.raises(ValidationFailed) as flagged:
        ev.create_evaluation(db, clinic.actors["nurse"], ev.EvaluationIn(patient_id=clinic.own_patient_id, screening=slip))
    assert flagged.value.code == "weight_change_unacknowledged" and "pounds" in flagged.value.message
    view = ev.create_evaluation(db, clinic.actors["nurse"], ev.EvaluationIn(
        patient_id=clinic.own_patient_id, screening=slip, weight_change_acknowledged=True))
    assert view.weight_flag is not None and view.weight_flag["likely_slip"] == "lb_for_kg"


def test_roles_and_isolation(db, clinic):
    view = ev.create_evaluation(db, clinic.actors["physician"], ev.EvaluationIn(patient_id=clinic.own_patient_id,
                                                                                screening=SCREENING))
    for role in ("coordinator", "admin", "patient"):
        with pytest.raises(Forbidden):
            ev.get_evaluation(db, clinic.actors[role], view.id)
    with pytest.raises(NotFound):
        ev.get_evaluation(db, clinic.actors["nurse"], view.id + 999)
    with db.reading() as session:
        actions = session.execute(select(AuditEntry.action).where(AuditEntry.record_type == "evaluation")).scalars().all()
    assert "evaluation.create" in actions
