"""The medication record (issue 14): PRN orders on a plan and doses given at the bedside.

Every guard has a test that fails without it: physicians only write orders, hard and soft limits on
the order, a signed plan takes only signed amendments, a stopped order gives nothing, at the bedside
the order's maximum per session, its interval and the drug's session maximum, the dose and route of
the order, and the free-form event refused for a drug ordered PRN. SQLite; one PostgreSQL test for
two nurses giving the last allowed dose at once.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from ketaclinic.records.audit import AuditEntry
from ketaclinic.records.medication_orders import MedicationAdministration
from ketaclinic.records.sessions import SessionEvent
from ketaclinic.services import medication_orders as mo
from ketaclinic.services import plans as pl
from ketaclinic.services.errors import Conflict, Forbidden, ServiceError, ValidationFailed
from tests.interop.flows import NORMAL_VITALS, T0, event, running, signed_evaluation, signed_plan

AT = T0 + timedelta(days=7)
ONDANSETRON = {"drug": "ondansetron", "dose_mg": 4, "route": "iv", "indication": "nausea_vomiting",
               "max_doses_per_session": 2}


def order_in(**changes) -> mo.OrderIn:
    return mo.OrderIn.model_validate({**ONDANSETRON, **changes})


def draft_plan(db, clinic):
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    return pl.create_plan(db, clinic.actors["physician"], pl.PlanIn(
        patient_id=clinic.own_patient_id, evaluation_id=evaluation.id, protocol="outpatient_infusion"))


def doses(db, session_id):
    with db.reading() as uow:
        return list(uow.execute(select(MedicationAdministration).where(MedicationAdministration.session_id == session_id)
                                .order_by(MedicationAdministration.id)).scalars())


@pytest.mark.parametrize("engine", ["sqlite"])
def test_orders_on_a_draft_are_signed_with_the_plan_and_amendments_are_signed_by_their_physician(db, clinic):
    physician, nurse = clinic.actors["physician"], clinic.actors["nurse"]
    draft = draft_plan(db, clinic)
    with pytest.raises(Forbidden):  # nurses give, they do not prescribe
        mo.add_order(db, nurse, draft.id, order_in())
    order = mo.add_order(db, physician, draft.id, order_in())
    assert order.status == "draft" and not order.amendment and order.signed_at is None
    assert order.label == ("Ondansetron 4 mg IV as needed for nausea or vomiting; up to 2 doses per session, "
                           "at least 30 min apart")
    signed = pl.sign_plan(db, physician, draft.id, draft.version, now=T0 + timedelta(hours=1))
    [order] = mo.list_orders(db, nurse, draft.id)
    assert order.status == "active" and order.signed_by == physician.user_id and order.signed_at == signed.signed_at
    extra = mo.add_order(db, physician, draft.id, order_in(drug="labetalol", dose_mg=20, indication="hypertension",
                                                          max_doses_per_session=1), now=T0 + timedelta(hours=2))
    assert extra.amendment and extra.status == "active" and extra.signed_at == T0 + timedelta(hours=2)
    with db.reading() as uow:
        actions = [a.action for a in uow.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()]
    assert actions.count("medication_order.create") == 2 and "medication_order.list" in actions


@pytest.mark.parametrize("engine", ["sqlite"])
def test_an_order_is_judged_against_the_library(db, clinic):
    physician = clinic.actors["physician"]
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    cases = [
        (order_in(dose_mg=40), "hard_limit", "dose_mg"),  # a 10-fold slip: above the label's 16 mg single dose
        (order_in(max_doses_per_session=5), "hard_limit", "max_doses_per_session"),  # 20 mg a session
        (order_in(route="im"), "route_not_allowed", "route"),
        (order_in(indication="hypertension"), "indication_not_allowed", "indication"),
        (order_in(min_interval_min=5), "interval_too_short", "min_interval_min"),
        (order_in(dose_mg=8), "soft_limit", "override_reason"),  # 16 mg a session needs a reason
    ]
    for data, code, field in cases:
        with pytest.raises(ValidationFailed) as refused:
            mo.add_order(db, physician, plan.id, data)
        assert (refused.value.code, refused.value.field) == (code, field), data
    assert mo.list_orders(db, physician, plan.id) == []  # nothing half-written
    kept = mo.add_order(db, physician, plan.id, order_in(dose_mg=8, override_reason="vomited through 4 mg last time"))
    assert [f["code"] for f in kept.dose_check["limits"]] == ["session_above_soft_max"]
    assert kept.dose_check["override"]["reason"] == "vomited through 4 mg last time"


@pytest.mark.parametrize("engine", ["sqlite"])
def test_bedside_two_doses_then_the_maximum_refuses_and_the_alert_is_answered(db, clinic):
    physician, nurse = clinic.actors["physician"], clinic.actors["nurse"]
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    order = mo.add_order(db, physician, plan.id, order_in(), now=T0 + timedelta(hours=4))
    visit = running(db, clinic, plan, AT)
    sick = event(db, nurse, visit.id, {**NORMAL_VITALS, "side_effects": [{"code": "nausea", "severity": "moderate"}]},
                 AT + timedelta(minutes=20))
    with db.reading() as uow:
        alert = uow.execute(select(SessionEvent).where(SessionEvent.session_id == visit.id,
                                                       SessionEvent.kind == "alert")).scalars().one()
    assert alert.payload["action"] == "give_medication" and sick.id
    bedside = mo.session_prn(db, nurse, visit.id, now=AT + timedelta(minutes=21))
    [row] = bedside.orders
    assert row.can_give and row.alert_event_ids == [alert.id]  # the nausea alert offers the ondansetron order

    first = mo.give_dose(db, nurse, visit.id, mo.DoseIn(order_id=order.id, alert_event_id=alert.id),
                         now=AT + timedelta(minutes=22))
    assert (first.drug, first.dose_mg, first.route, first.alert_event_id) == ("ondansetron", 4.0, "iv", alert.id)
    assert first.dose_check["number"] == 1 and first.dose_check["of_max"] == 2
    with db.reading() as uow:
        events = list(uow.execute(select(SessionEvent).where(SessionEvent.session_id == visit.id)
                                  .order_by(SessionEvent.id)).scalars())
    med = next(e for e in events if e.id == first.event_id)
    assert med.kind == "medication" and med.payload["drug"] == "ondansetron" and med.payload["dose"] == 4.0
    ack = [e for e in events if e.kind == "alert_ack"]
    assert ack[0].payload["alert_event_id"] == alert.id and "Ondansetron 4 mg IV given" in ack[0].payload["action_taken"]

    with pytest.raises(ValidationFailed) as soon:  # the order's interval (30 min) has not passed
        mo.give_dose(db, nurse, visit.id, mo.DoseIn(order_id=order.id), now=AT + timedelta(minutes=40))
    assert soon.value.code == "interval_not_elapsed" and "wait 12 min more" in soon.value.message
    waiting = mo.session_prn(db, nurse, visit.id, now=AT + timedelta(minutes=40)).orders[0]
    assert not waiting.can_give and waiting.next_allowed_at == AT + timedelta(minutes=52)
    mo.give_dose(db, nurse, visit.id, mo.DoseIn(order_id=order.id), now=AT + timedelta(minutes=60))
    with pytest.raises(ValidationFailed) as third:  # the order allows 2 per session
        mo.give_dose(db, nurse, visit.id, mo.DoseIn(order_id=order.id), now=AT + timedelta(minutes=100))
    assert third.value.code == "order_max_reached"
    assert len(doses(db, visit.id)) == 2


@pytest.mark.parametrize("engine", ["sqlite"])
def test_bedside_refusals_dose_route_stopped_state_and_the_drug_session_maximum(db, clinic):
    physician, nurse = clinic.actors["physician"], clinic.actors["nurse"]
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    first = mo.add_order(db, physician, plan.id, order_in(dose_mg=8, max_doses_per_session=1,
                                                           override_reason="big patient"))
    second = mo.add_order(db, physician, plan.id, order_in(dose_mg=8, max_doses_per_session=1,
                                                            override_reason="second line"))
    third = mo.add_order(db, physician, plan.id, order_in(max_doses_per_session=1))
    visit = running(db, clinic, plan, AT)
    for body, code in ((mo.DoseIn(order_id=first.id, dose_mg=16), "dose_differs_from_order"),
                       (mo.DoseIn(order_id=first.id, route="oral"), "route_differs_from_order")):
        with pytest.raises(ValidationFailed) as refused:
            mo.give_dose(db, nurse, visit.id, body, now=AT + timedelta(minutes=5))
        assert refused.value.code == code
    mo.give_dose(db, nurse, visit.id, mo.DoseIn(order_id=first.id), now=AT + timedelta(minutes=5))
    mo.give_dose(db, nurse, visit.id, mo.DoseIn(order_id=second.id), now=AT + timedelta(minutes=40))
    with pytest.raises(ValidationFailed) as past:  # 8 + 8 + 4 mg > ondansetron's 16 mg per session, whatever order
        mo.give_dose(db, nurse, visit.id, mo.DoseIn(order_id=third.id), now=AT + timedelta(minutes=80))
    assert past.value.code == "hard_limit" and "20 mg this session" in past.value.message
    stopped = mo.stop_order(db, physician, third.id, mo.StopIn(reason="nausea settled"))
    assert stopped.status == "stopped"
    with pytest.raises(Conflict) as again:
        mo.stop_order(db, physician, third.id, mo.StopIn(reason="twice"))
    assert again.value.code == "already_stopped"
    with pytest.raises(Conflict) as gone:
        mo.give_dose(db, nurse, visit.id, mo.DoseIn(order_id=third.id), now=AT + timedelta(minutes=90))
    assert gone.value.code == "order_stopped"
    other = signed_plan(db, clinic, clinic.own_patient_id)
    foreign = mo.add_order(db, physician, other.id, order_in())
    with pytest.raises(ValidationFailed) as wrong_plan:
        mo.give_dose(db, nurse, visit.id, mo.DoseIn(order_id=foreign.id), now=AT + timedelta(minutes=90))
    assert wrong_plan.value.field == "order_id"
    assert [r.order_id for r in doses(db, visit.id)] == [first.id, second.id]


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_free_form_dose_of_a_drug_ordered_prn_is_refused_but_other_drugs_still_record(db, clinic):
    physician, nurse = clinic.actors["physician"], clinic.actors["nurse"]
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    visit = running(db, clinic, plan, AT)
    free = {"kind": "medication", "drug": "Ondansetron", "dose": 4, "unit": "mg", "route": "iv", "lot_number": "SYN-1"}
    event(db, nurse, visit.id, free, AT + timedelta(minutes=5))  # no PRN order: the old free-form record still works
    mo.add_order(db, physician, plan.id, order_in())
    with pytest.raises(Conflict) as refused:
        event(db, nurse, visit.id, free, AT + timedelta(minutes=50))
    assert refused.value.code == "use_prn_order"
    event(db, nurse, visit.id, {**free, "drug": "acetaminophen", "dose": 1000}, AT + timedelta(minutes=50))


@pytest.mark.parametrize("engine", ["sqlite"])
def test_another_sites_plan_and_session_are_not_found(db, clinic):
    from ketaclinic.services.context import Actor
    from ketaclinic.services.errors import NotFound

    plan = signed_plan(db, clinic, clinic.own_patient_id)
    visit = running(db, clinic, plan, AT)
    p = clinic.actors["physician"]
    elsewhere = Actor(p.user_id, p.username, p.role, site_ids=(999,))
    with pytest.raises(NotFound):
        mo.add_order(db, elsewhere, plan.id, order_in())
    with pytest.raises(NotFound):
        mo.session_prn(db, elsewhere, visit.id)


@pytest.mark.parametrize("engine", ["postgresql"])
def test_two_nurses_giving_the_last_allowed_dose_at_once_one_wins(db, clinic):
    physician, nurse = clinic.actors["physician"], clinic.actors["nurse"]
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    order = mo.add_order(db, physician, plan.id, order_in(max_doses_per_session=1))
    visit = running(db, clinic, plan, AT)
    results: list[object] = []
    barrier = threading.Barrier(2)

    def give() -> None:
        barrier.wait()
        try:
            results.append(mo.give_dose(db, nurse, visit.id, mo.DoseIn(order_id=order.id), now=AT + timedelta(minutes=9)))
        except ServiceError as error:
            results.append(error.code)

    threads = [threading.Thread(target=give) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r if isinstance(r, str) else "given" for r in results) == ["given", "order_max_reached"]
    assert len(doses(db, visit.id)) == 1


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_midazolam_dose_is_what_the_register_counts_as_administered(db, clinic):
    from ketaclinic.clinical.register import drug_given_mg

    physician, nurse = clinic.actors["physician"], clinic.actors["nurse"]
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    order = mo.add_order(db, physician, plan.id, order_in(drug="midazolam", dose_mg=1, indication="psychomimetic_distress",
                                                          max_doses_per_session=2, min_interval_min=5))
    assert order.controlled
    visit = running(db, clinic, plan, AT)
    mo.give_dose(db, nurse, visit.id, mo.DoseIn(order_id=order.id, lot_number="SYN-MDZ-1"), now=AT + timedelta(minutes=30))
    with db.reading() as uow:
        events = list(uow.execute(select(SessionEvent).where(SessionEvent.session_id == visit.id)).scalars())
    assert drug_given_mg("midazolam", None, events, AT, None) == 1.0


@pytest.mark.parametrize("engine", ["sqlite"])
def test_the_fhir_export_has_one_medication_administration_per_prn_dose_with_its_rxnorm_code(db, clinic):
    from ketaclinic.services.fhir import export_patient
    from tests.interop.facts import unknown_codes

    physician, nurse = clinic.actors["physician"], clinic.actors["nurse"]
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    order = mo.add_order(db, physician, plan.id, order_in())
    visit = running(db, clinic, plan, AT)
    for minute in (10, 45):
        mo.give_dose(db, nurse, visit.id, mo.DoseIn(order_id=order.id), now=AT + timedelta(minutes=minute))
    bundle = export_patient(db, physician, clinic.own_patient_id, now=AT + timedelta(hours=3))
    given = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationAdministration"
             and e["resource"]["contained"][0]["code"].get("text") == "ondansetron"]
    assert len(given) == 2
    for resource in given:
        coding = resource["contained"][0]["code"]["coding"][0]
        assert (coding["system"], coding["code"]) == ("http://www.nlm.nih.gov/research/umls/rxnorm", "26225")
        assert resource["dosage"]["dose"]["value"] == 4.0 and "batch" not in resource["contained"][0]
    assert unknown_codes(bundle) == set()


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_free_form_dose_before_the_order_counts_towards_the_interval_and_the_session_maximum(db, clinic):
    physician, nurse = clinic.actors["physician"], clinic.actors["nurse"]
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    visit = running(db, clinic, plan, AT)
    event(db, nurse, visit.id, {"kind": "medication", "drug": "Ondansetron", "dose": 8000, "unit": "mcg", "route": "iv",
                                "lot_number": "SYN-2"}, AT + timedelta(minutes=5))
    order = mo.add_order(db, physician, plan.id, order_in(dose_mg=8, max_doses_per_session=1,
                                                           override_reason="given 8 mg before"))
    with pytest.raises(ValidationFailed) as soon:  # 8 mg free-form 10 min ago: the interval counts it
        mo.give_dose(db, nurse, visit.id, mo.DoseIn(order_id=order.id), now=AT + timedelta(minutes=15))
    assert soon.value.code == "interval_not_elapsed"
    assert mo.give_dose(db, nurse, visit.id, mo.DoseIn(order_id=order.id), now=AT + timedelta(minutes=40)).dose_check[
        "session_total_mg"] == 16.0  # the free-form 8 mg and this 8 mg: at the 16 mg hard maximum, within it
