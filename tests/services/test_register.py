"""The controlled-substance register (issue 14, design 4.8) through its services: stock, a session's
ketamine from draw to witnessed waste, discharge held until reconciled, counts and discrepancies, roles."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from ketaclinic.clinical.register import with_check_digit
from ketaclinic.services import register as rg
from ketaclinic.services import sessions as ss
from ketaclinic.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.interop.flows import DISCHARGE, T0, running, signed_plan

SUPPLIER_DEA = with_check_digit("RS", "123456")


@pytest.fixture
def engine() -> str:
    return "sqlite"


def stock(db, clinic, *, vials: int = 2, lot: str = "SYN-KET-A1", expiry: date = date(2027, 6, 30)):
    """A safe at the default site with ketamine 50 mg/mL (500 mg vials) received by the physician."""
    admin, physician = clinic.actors["admin"], clinic.actors["physician"]
    safe = rg.add_location(db, admin, rg.LocationIn(site_id=admin.site_ids[0], name="Safe", kind="safe"))
    ketamine = next(p for p in rg.list_products(db, admin) if p.drug == "ketamine" and p.strength_mg_per_ml == 50)
    receipt = rg.record_receipt(db, physician, rg.ReceiptIn(
        location_id=safe.id, product_id=ketamine.id, lot_number=lot, expiry_date=expiry, vials=vials,
        supplier="Synthetic Wholesale", supplier_dea_number=SUPPLIER_DEA, invoice="INV-1"), now=T0 - timedelta(days=3))
    return safe, ketamine, receipt


def stopped_session(db, clinic, safe, receipt, draw_mg: float = 200.0):
    """A session that drew ``draw_mg`` and ran its program for an hour, then stopped."""
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    nurse = clinic.actors["nurse"]
    visit = running(db, clinic, plan, T0 + timedelta(days=1))
    rg.dispense(db, nurse, rg.DispenseIn(session_id=visit.id, lot_id=receipt.lot_id, location_id=safe.id,
                                         amount_mg=draw_mg), now=T0 + timedelta(days=1))
    visit = ss.get_session(db, nurse, visit.id)
    return ss.stop_infusion(db, nurse, visit.id, visit.version, now=T0 + timedelta(days=1, minutes=60))


def _discharge(db, clinic, visit):
    visit = ss.get_session(db, clinic.actors["nurse"], visit.id)
    return ss.discharge_session(db, clinic.actors["nurse"], visit.id, visit.version,
                                ss.DischargeIn.model_validate(DISCHARGE), now=T0 + timedelta(days=1, minutes=130))


def test_receipt_dispense_administer_waste_then_discharge(db, clinic):
    safe, ketamine, receipt = stock(db, clinic)
    assert receipt.amount_mg == 1000 and receipt.balance_after_mg == 1000 and receipt.details["supplier_dea_number"] == SUPPLIER_DEA
    visit = stopped_session(db, clinic, safe, receipt)
    nurse, physician = clinic.actors["nurse"], clinic.actors["physician"]
    with pytest.raises(Conflict) as held:  # drawn 200, nothing accounted for: no discharge
        _discharge(db, clinic, visit)
    assert held.value.code == "register_not_reconciled"
    wasted = rg.waste(db, nurse, rg.WasteIn(session_id=visit.id), witness=physician, now=T0 + timedelta(days=1, minutes=70))
    given = next(e for e in wasted if e.kind == "administer")
    waste = next(e for e in wasted if e.kind == "waste")
    assert given.amount_mg > 0 and round(given.amount_mg + waste.amount_mg, 1) == 200.0
    assert waste.witness_id == physician.user_id and waste.witness_name
    state = rg.session_register(db, nurse, visit.id)
    assert state.drugs[0].reconciled and state.drugs[0].derived_mg == given.amount_mg
    assert _discharge(db, clinic, visit).state == "discharged"
    items = rg.balances(db, nurse).items
    assert [(i.drug, i.lot, i.location, i.balance_mg) for i in items] == [("ketamine", "SYN-KET-A1", "Safe", 800.0)]
    result = rg.verify_register(db, clinic.actors["admin"])
    assert result.ok and result.entries == 4


def test_a_session_with_nothing_dispensed_is_discharged_as_before(db, clinic):
    from tests.interop.flows import completed

    plan = signed_plan(db, clinic, clinic.own_patient_id)
    assert completed(db, clinic, plan, T0 + timedelta(days=1)).state == "discharged"


def test_waste_needs_a_distinct_witness(db, clinic):
    safe, _, receipt = stock(db, clinic)
    visit = stopped_session(db, clinic, safe, receipt)
    nurse = clinic.actors["nurse"]
    for witness, code in ((None, "witness_required"), (nurse, "witness_same_user"),
                          (clinic.actors["coordinator"], "witness_role")):
        with pytest.raises(ValidationFailed) as refused:
            rg.waste(db, nurse, rg.WasteIn(session_id=visit.id), witness=witness)
        assert refused.value.code == code
    assert not [e for e in rg.session_register(db, nurse, visit.id).entries if e.kind in ("waste", "administer")]


def test_witness_password_is_checked(db, clinic, settings):
    nurse = clinic.actors["nurse"]
    with pytest.raises(ValidationFailed) as wrong:
        rg.witness_for(db, settings, nurse, rg.Credentials(username="physician", password="not-it"))
    assert wrong.value.code == "witness_failed"
    with pytest.raises(ValidationFailed) as same:
        rg.witness_for(db, settings, nurse, rg.Credentials(username="nurse", password="correct-horse-battery"))
    assert same.value.code == "witness_same_user"
    assert rg.witness_for(db, settings, nurse, rg.Credentials(username="physician",
                                                              password="correct-horse-battery")).role == "physician"


def test_dispense_never_oversells_and_refuses_expired_lots(db, clinic):
    safe, _, receipt = stock(db, clinic, vials=1)
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    visit = running(db, clinic, plan, T0 + timedelta(days=1))
    nurse = clinic.actors["nurse"]
    body = dict(session_id=visit.id, lot_id=receipt.lot_id, location_id=safe.id)
    rg.dispense(db, nurse, rg.DispenseIn(**body, amount_mg=400), now=T0 + timedelta(days=1))
    with pytest.raises(Conflict) as over:
        rg.dispense(db, nurse, rg.DispenseIn(**body, amount_mg=200), now=T0 + timedelta(days=1))
    assert over.value.code == "insufficient_stock"
    with pytest.raises(Conflict) as expired:
        rg.dispense(db, nurse, rg.DispenseIn(**body, amount_mg=10), now=T0 + timedelta(days=600))
    assert expired.value.code == "lot_expired"
    with pytest.raises(ValidationFailed):  # more than the vials hold
        rg.dispense(db, nurse, rg.DispenseIn(**body, amount_mg=600, vials=1), now=T0 + timedelta(days=1))


def test_supplier_dea_number_check_digit(db, clinic):
    good = dict(location_id=1, product_id=1, lot_number="L", expiry_date=date(2027, 1, 1), vials=1, supplier="S S",
                invoice="I")
    rg.ReceiptIn(**good, supplier_dea_number=SUPPLIER_DEA)
    with pytest.raises(ValidationError, match="check digit"):
        rg.ReceiptIn(**good, supplier_dea_number=SUPPLIER_DEA[:-1] + str((int(SUPPLIER_DEA[-1]) + 1) % 10))
    with pytest.raises(ValidationError):
        rg.ReceiptIn(**good, supplier_dea_number="12345678X")


def test_count_discrepancy_is_resolved_by_a_physician_with_a_reason(db, clinic):
    safe, _, receipt = stock(db, clinic)
    nurse, physician = clinic.actors["nurse"], clinic.actors["physician"]
    with pytest.raises(ValidationFailed):  # one person alone does not count
        rg.record_count(db, nurse, rg.CountIn(location_id=safe.id, lines=[{"lot_id": receipt.lot_id, "counted_mg": 1000}]),
                        witness=nurse)
    counted = rg.record_count(db, nurse, rg.CountIn(location_id=safe.id, lines=[
        {"lot_id": receipt.lot_id, "counted_mg": 950}]), witness=clinic.actors["admin"])[0]
    assert counted.details["discrepancy_mg"] == -50.0
    sheet = rg.count_sheet(db, nurse, safe.id, day=counted.recorded_at.date())
    assert sheet.lines[0].balance_mg == 1000 and sheet.lines[0].counted_mg == 950
    assert [d.count.id for d in sheet.open_discrepancies] == [counted.id]
    with pytest.raises(Forbidden):
        rg.resolve_discrepancy(db, nurse, counted.id, rg.ResolveIn(reason="vial broken"))
    fixed = rg.resolve_discrepancy(db, physician, counted.id, rg.ResolveIn(reason="vial dropped, 50 mg lost"))
    assert fixed.kind == "adjustment" and fixed.amount_mg == -50 and fixed.location_balance_after_mg == 950
    with pytest.raises(Conflict) as again:
        rg.resolve_discrepancy(db, physician, counted.id, rg.ResolveIn(reason="again"))
    assert again.value.code == "integrity_conflict" or again.value.code == "already_resolved"
    assert rg.open_discrepancies(db, nurse) == []
    assert rg.verify_register(db, clinic.actors["admin"]).ok


def test_corrections_are_new_entries_and_balances_follow(db, clinic):
    safe, _, receipt = stock(db, clinic)
    physician = clinic.actors["physician"]
    fixed = rg.correct_entry(db, physician, receipt.id, rg.CorrectionIn(amount_mg=500, reason="one vial, not two"))
    assert fixed.corrects_id == receipt.id and fixed.balance_after_mg == 500
    with pytest.raises(Conflict):
        rg.correct_entry(db, physician, receipt.id, rg.CorrectionIn(amount_mg=700, reason="again"))
    assert rg.balances(db, physician).items[0].balance_mg == 500
    entries = rg.list_entries(db, physician).items
    assert {e.id for e in entries} >= {receipt.id, fixed.id}  # the original stays in the book
    assert rg.verify_register(db, clinic.actors["admin"]).ok


def test_loss_keeps_form_106_fields_and_transfer_moves_stock(db, clinic):
    safe, _, receipt = stock(db, clinic)
    admin, nurse, physician = clinic.actors["admin"], clinic.actors["nurse"], clinic.actors["physician"]
    drawer = rg.add_location(db, admin, rg.LocationIn(site_id=admin.site_ids[0], name="Nurse working stock",
                                                       kind="working_stock", holder_user_id=nurse.user_id))
    rg.transfer(db, nurse, rg.TransferIn(lot_id=receipt.lot_id, location_id=safe.id, to_location_id=drawer.id,
                                         amount_mg=500, vials=1))
    loss = rg.record_loss(db, physician, rg.LossIn(
        lot_id=receipt.lot_id, location_id=drawer.id, amount_mg=500, vials=1, loss_type="theft_employee",
        discovered_at=T0, description="vial missing at the day-end count", police_notified=True,
        police_report_number="SYN-1"))
    assert loss.details["form_106_due"] == (T0 + timedelta(days=45)).date().isoformat()
    assert [(i.location, i.balance_mg) for i in rg.balances(db, nurse).items] == [("Safe", 500.0)]
    assert [e.id for e in rg.losses(db, admin)] == [loss.id]


def test_roles_coordinators_and_patients_see_nothing(db, clinic):
    safe, _, receipt = stock(db, clinic)
    for role in ("coordinator", "patient"):
        actor = clinic.actors[role]
        for call in (lambda a: rg.balances(db, a), lambda a: rg.list_entries(db, a), lambda a: rg.list_products(db, a),
                     lambda a: rg.count_sheet(db, a, safe.id), lambda a: rg.expiring_lots(db, a),
                     lambda a: rg.list_locations(db, a)):
            with pytest.raises(Forbidden):
                call(actor)
    with pytest.raises(Forbidden):  # nurses do not record receipts
        rg.record_receipt(db, clinic.actors["nurse"], rg.ReceiptIn(
            location_id=safe.id, product_id=1, lot_number="X", expiry_date=date(2027, 1, 1), vials=1, supplier="S S",
            supplier_dea_number=SUPPLIER_DEA, invoice="I"))
    with pytest.raises(Forbidden):  # admins make no clinical writes: no dispense
        rg.dispense(db, clinic.actors["admin"], rg.DispenseIn(session_id=1, lot_id=receipt.lot_id, location_id=safe.id,
                                                              amount_mg=1))
    with pytest.raises(Forbidden):
        rg.verify_register(db, clinic.actors["nurse"])


def test_another_sites_stock_is_not_found(db, clinic):
    from ketaclinic.services.context import Actor

    safe, _, receipt = stock(db, clinic)
    elsewhere = Actor(user_id=clinic.actors["nurse"].user_id, username="nurse", role="nurse", site_ids=(999,))
    assert rg.balances(db, elsewhere).items == []
    with pytest.raises(NotFound):
        rg.list_entries(db, elsewhere, site_id=1)
    with pytest.raises(ValidationFailed):
        rg.count_sheet(db, elsewhere, safe.id)


def test_entries_are_append_only_in_the_database(db, clinic):
    stock(db, clinic)
    with pytest.raises(Exception, match="(?i)append-only|refused"), db.transaction() as session:
        session.execute(text("UPDATE register_entries SET amount_mg = 1"))
    with pytest.raises(Exception, match="(?i)append-only|refused"), db.transaction() as session:
        session.execute(text("DELETE FROM register_entries"))
