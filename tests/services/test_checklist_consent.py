"""The pre-infusion checklist shows consent from the signed document (issue 13): "consent required" without a
standing signature, the version and date when signed, the re-consent a new version asks for at the next course;
the old yes/no box of earlier checklists stays readable. SQLite: nothing here depends on the engine."""

from datetime import UTC, datetime, timedelta

import pytest

from ketaclinic.clinical.checklist import (
    ChecklistFacts,
    ConsentFacts,
    FastingHistory,
    ready_to_start,
    run_checklist,
)
from ketaclinic.clinical.consent import DEFAULT_BODY, DEFAULT_TITLE, consent_holds
from ketaclinic.services import consent as cn
from ketaclinic.services import sessions as ss
from ketaclinic.services.errors import Conflict
from tests.consent_support import sign_in
from tests.interop.flows import T0, checked_in, signed_plan
from tests.services.test_consent import _new_patient

AT = T0 + timedelta(days=7)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine() -> str:
    return "sqlite"


def _item(items, code="consent_signed"):
    return next(i for i in items if (i["code"] if isinstance(i, dict) else i.code) == code)


# --- pure -----------------------------------------------------------------------------------------------

def _facts(**consent) -> ChecklistFacts:
    return ChecklistFacts(now=NOW, fasting=FastingHistory(asked=True), escort_present=True, can_become_pregnant=False,
                          urinary_symptoms="none", consent=ConsentFacts(**consent) if consent else None)


@pytest.mark.parametrize(("state", "first", "holds"), [
    ("valid", True, True), ("valid", False, True), ("outdated", False, True), ("outdated", True, False),
    ("withdrawn", False, False), ("withdrawn", True, False), ("none", True, False), ("none", False, False)])
def test_the_rule_the_guard_and_the_checklist_share(state, first, holds):
    assert consent_holds(state, first) is holds
    signed = {} if state == "none" else {"signed_version": 1, "signed_at": NOW - timedelta(days=3)}
    item = _item(run_checklist(_facts(state=state, current_version=2 if state == "outdated" else 1,
                                      first_of_course=first, **signed)))
    assert item.met is holds and item.blocking
    assert item.message.startswith("Consent signed" if holds else "Consent required")


def test_the_item_names_the_version_date_and_the_reconsent():
    valid = _item(run_checklist(_facts(state="valid", current_version=2, signed_version=2,
                                       signed_at=NOW - timedelta(days=3))))
    assert "version 2 signed 2026-11-28, the current version" in valid.message
    mid_course = _item(run_checklist(_facts(state="outdated", current_version=2, signed_version=1,
                                            signed_at=NOW - timedelta(days=40), first_of_course=False)))
    assert "current version is 2" in mid_course.message and "re-consent is needed before the next course" in mid_course.message
    new_course = _item(run_checklist(_facts(state="outdated", current_version=2, signed_version=1,
                                            signed_at=NOW - timedelta(days=40))))
    assert not new_course.met and "new course" in new_course.message and "signs version 2" in new_course.message


def test_old_checklists_keep_their_yes_no_box_and_nothing_given_blocks():
    old = ChecklistFacts(now=NOW, fasting=FastingHistory(asked=True), escort_present=True, can_become_pregnant=False,
                         urinary_symptoms="none", consent_signed=True)
    assert _item(run_checklist(old)).met and _item(run_checklist(old)).message == "Informed consent signed."
    neither = run_checklist(_facts())
    assert not _item(neither).met and not ready_to_start(neither)


# --- through the service: the checklist reads the signatures ------------------------------------------------

def test_the_checklist_shows_consent_required_without_a_signature_and_passes_once_signed(db, clinic):
    """Remove the consent item from the checklist (or stop reading the signatures) and this fails."""
    nurse = clinic.actors["nurse"]
    patient_id = _new_patient(db, clinic)
    visit = checked_in(db, clinic, signed_plan(db, clinic, patient_id), AT)  # the old box says "yes": ignored
    item = _item(visit.checklist["items"])
    assert not item["met"] and item["blocking"] and item["message"].startswith("Consent required")
    assert not visit.checklist["ready"] and "consent_signed" in visit.checklist["blocking"]
    assert visit.checklist["consent"]["state"] == "none" and "consent_signed" not in visit.checklist["facts"]
    assert cn.for_session(db, nurse, visit.id).state == "none"
    with pytest.raises(Conflict) as refused:
        ss.start_session(db, nurse, visit.id, visit.version, now=AT, double_check=clinic.actors["physician"])
    assert refused.value.code == "consent_required"  # the start names the reason, not only "checklist_not_met"

    signature = sign_in(db, nurse, patient_id, "Synthetic Unsigned", now=AT - timedelta(minutes=5))
    visit = ss.get_session(db, nurse, visit.id)  # signing at the chair judged the recorded checklist again
    item = _item(visit.checklist["items"])
    assert item["met"] and visit.checklist["ready"]
    assert item["message"] == f"Consent signed: version 1 signed {AT.date().isoformat()}, the current version."
    assert visit.checklist["consent"]["signature_id"] == signature.id
    started = ss.start_session(db, nurse, visit.id, visit.version, now=AT, double_check=clinic.actors["physician"])
    assert started.state == "running" and _item(started.checklist["items"])["met"]


def test_a_new_version_shows_as_reconsent_at_the_next_course(db, clinic):
    admin, nurse, physician = clinic.actors["admin"], clinic.actors["nurse"], clinic.actors["physician"]
    plan = signed_plan(db, clinic, clinic.own_patient_id)  # the fixture signed version 1
    first = checked_in(db, clinic, plan, AT)
    ss.start_session(db, nurse, first.id, first.version, now=AT, double_check=physician)
    cn.publish_document(db, admin, 1, cn.DocumentIn(title=DEFAULT_TITLE, body=DEFAULT_BODY + "\nReviewed.\n",
                                                    reviewed_by="Dr Synthetic Director"))
    same_course = checked_in(db, clinic, plan, AT + timedelta(days=1))
    item = _item(same_course.checklist["items"])
    assert item["met"] and "re-consent is needed before the next course" in item["message"]
    next_course = checked_in(db, clinic, signed_plan(db, clinic, clinic.own_patient_id, now=AT + timedelta(days=20)),
                             AT + timedelta(days=30))
    item = _item(next_course.checklist["items"])
    assert not item["met"] and "the current version is 2" in item["message"]
    assert next_course.checklist["consent"] | {"signed_at": None} == {
        "state": "outdated", "current_version": 2, "signed_version": 1, "signed_at": None,
        "signature_id": next_course.checklist["consent"]["signature_id"], "withdrawn_at": None,
        "first_of_course": True}


def test_a_withdrawal_at_the_chair_shows_on_the_recorded_checklist(db, clinic):
    nurse = clinic.actors["nurse"]
    visit = checked_in(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), AT)
    assert _item(visit.checklist["items"])["met"] and visit.checklist["ready"]
    signature = cn.consent_status(db, nurse, clinic.own_patient_id).signature
    cn.withdraw(db, clinic.actors["patient"], signature.id, cn.WithdrawIn(reason="not today"), now=AT)
    visit = ss.get_session(db, nurse, visit.id)
    item = _item(visit.checklist["items"])
    assert not item["met"] and "withdrew" in item["message"] and not visit.checklist["ready"]
