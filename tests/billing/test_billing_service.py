"""Billing services (issue 15): invoices from the record, payments, refunds, voids, the coordinator's permission
set and its refusals, price lists, E/M levels, NPI, superbill/receipt PDFs and the bookkeeper's CSV (SQLite)."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import text

from ketaclinic.clinical.billing_prices import PriceListData
from ketaclinic.records.billing import Invoice
from ketaclinic.services import billing as bl
from ketaclinic.services import plans as pl
from ketaclinic.services import sessions as ss
from ketaclinic.services import users as us
from ketaclinic.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.interop.flows import DISCHARGE, NORMAL_VITALS, T0, event, running, screening, signed_evaluation

SQLITE = pytest.mark.parametrize("engine", ["sqlite"])
NPI = "1234567893"  # the CMS example, valid check digit


def signed_plan(db, clinic, patient_id: int) -> pl.PlanView:
    """A signed plan on a signed evaluation of a CRPS type I of the left upper limb (ICD-10-CM G90.512)."""
    document = screening(pain={"crps": {"type": "I", "limb": "upper", "side": "left"}})
    evaluation = signed_evaluation(db, clinic, patient_id, document, now=T0)
    draft = pl.create_plan(db, clinic.actors["physician"], pl.PlanIn.model_validate(
        {"patient_id": patient_id, "evaluation_id": evaluation.id, "protocol": "outpatient_infusion"}),
        now=T0 + timedelta(hours=2))
    return pl.sign_plan(db, clinic.actors["physician"], draft.id, draft.version, now=T0 + timedelta(hours=3))


def _npi(db, clinic, user: str = "physician", npi: str | None = NPI) -> None:
    admin = clinic.actors["admin"]
    with db.reading() as uow:
        version = uow.execute(text("SELECT version FROM users WHERE username = :u"), {"u": user}).scalar_one()
        user_id = uow.execute(text("SELECT id FROM users WHERE username = :u"), {"u": user}).scalar_one()
    us.update_user(db, admin, user_id, version, us.UserUpdate(npi=npi))


def _session(db, clinic, plan, at, minutes: int = 151, adjunct: bool = True) -> ss.SessionView:
    nurse = clinic.actors["nurse"]
    visit = running(db, clinic, plan, at)
    event(db, nurse, visit.id, NORMAL_VITALS, at + timedelta(minutes=15))
    if adjunct:
        event(db, nurse, visit.id, {"kind": "medication", "drug": "ondansetron", "dose": 4, "unit": "mg",
                                    "route": "iv", "lot_number": "SYN-OND-1"}, at + timedelta(minutes=20))
        event(db, nurse, visit.id, {"kind": "medication", "drug": "ondansetron", "dose": 4, "unit": "mg",
                                    "route": "iv", "lot_number": "SYN-OND-1"}, at + timedelta(minutes=40))
    visit = ss.get_session(db, nurse, visit.id)
    visit = ss.stop_infusion(db, nurse, visit.id, visit.version, now=at + timedelta(minutes=minutes))
    return ss.discharge_session(db, nurse, visit.id, visit.version, ss.DischargeIn.model_validate(DISCHARGE),
                                now=at + timedelta(minutes=minutes + 65))


@pytest.fixture
def billed(db, clinic):
    """A patient with a signed plan (physician with an NPI), two finished sessions and a price list."""
    _npi(db, clinic)
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    first = _session(db, clinic, plan, T0 + timedelta(days=1), minutes=151)
    second = _session(db, clinic, plan, T0 + timedelta(days=3), minutes=90, adjunct=False)
    site_id = clinic.actors["coordinator"].site_ids[0]
    prices = PriceListData(adjunct_cents={"Ondansetron": 1500}, drug_per_mg_cents=10)
    bl.save_price_list(db, clinic.actors["admin"], site_id, 0, bl.PriceListIn(prices=prices, note="opening list"))
    return plan, first, second, site_id


def _codes(view: bl.InvoiceView) -> list[tuple[str, int]]:
    return [(line.code, line.units) for line in view.lines]


@SQLITE
def test_session_invoice_codes_come_from_the_record(db, clinic, billed) -> None:
    plan, first, _, _ = billed
    view = bl.create_invoice(db, clinic.actors["coordinator"], bl.InvoiceIn(kind="session", session_id=first.id))
    # 151 min: 96365 + 96366 x2; one IV adjunct (ondansetron twice = one new substance): 96375 x1; ketamine J3490
    assert _codes(view)[:4] == [("96365", 1), ("96366", 2), ("96375", 1), ("J3490", 1)]
    assert _codes(view)[4] == ("", 2)  # the adjunct charge, two doses, no HCPCS code (convention)
    assert view.rendering_npi == NPI and view.place_of_service == "11"
    assert view.diagnoses and view.diagnoses[0]["code"].startswith("G90.5")  # CRPS from the signed evaluation
    j3490 = next(line for line in view.lines if line.code == "J3490")
    assert "00409-2051-05" in j3490.description
    expected = 40000 + 2 * 15000 + 3000 + j3490.amount_cents + 2 * 1500
    assert view.total_cents == expected and view.balance_cents == expected
    assert view.number.endswith("-000001")


@SQLITE
def test_course_invoice_bills_every_unbilled_session_once(db, clinic, billed) -> None:
    plan, first, second, _ = billed
    coordinator = clinic.actors["coordinator"]
    bl.create_invoice(db, coordinator, bl.InvoiceIn(kind="session", session_id=first.id))
    course = bl.create_invoice(db, coordinator, bl.InvoiceIn(kind="course", plan_id=plan.id))
    assert course.session_ids == [second.id]
    assert _codes(course)[0] == ("96365", 1) and ("96366", 1) not in _codes(course)  # 90 min: no 96366
    with pytest.raises(Conflict) as refused:  # the once-only guard
        bl.create_invoice(db, coordinator, bl.InvoiceIn(kind="session", session_id=second.id))
    assert refused.value.code == "already_billed"
    with pytest.raises(Conflict) as nothing:
        bl.create_invoice(db, coordinator, bl.InvoiceIn(kind="course", plan_id=plan.id))
    assert nothing.value.code == "nothing_to_bill"


@SQLITE
def test_payments_refunds_reversals_and_balances(db, clinic, billed) -> None:
    _, first, _, _ = billed
    coordinator = clinic.actors["coordinator"]
    view = bl.create_invoice(db, coordinator, bl.InvoiceIn(kind="session", session_id=first.id))
    total = view.total_cents
    view = bl.record_payment(db, coordinator, view.number, bl.PaymentIn(amount_cents=10000, method="cash"))
    assert view.paid_cents == 10000 and view.balance_cents == total - 10000
    with pytest.raises(Conflict) as over:
        bl.record_payment(db, coordinator, view.number, bl.PaymentIn(amount_cents=total, method="card"))
    assert over.value.code == "overpayment"
    with pytest.raises(Conflict) as too_much:
        bl.record_refund(db, coordinator, view.number, bl.RefundIn(amount_cents=10001, method="cash", reason="x"))
    assert too_much.value.code == "refund_exceeds_paid"
    view = bl.record_refund(db, coordinator, view.number, bl.RefundIn(amount_cents=2500, method="cash",
                                                                      reason="adjunct not given"))
    assert view.paid_cents == 7500
    payment_id, refund_id = view.payments[0].id, view.payments[1].id
    with pytest.raises(Conflict) as refunded:  # more was refunded than would remain
        bl.reverse_payment(db, coordinator, payment_id, bl.ReasonIn(reason="recorded on the wrong invoice"))
    assert refunded.value.code == "refunded"
    view = bl.reverse_payment(db, coordinator, refund_id, bl.ReasonIn(reason="refund typed twice"))
    assert view.paid_cents == 10000
    view = bl.reverse_payment(db, coordinator, payment_id, bl.ReasonIn(reason="recorded on the wrong invoice"))
    assert view.paid_cents == 0 and view.balance_cents == total
    with pytest.raises(Conflict) as twice:
        bl.reverse_payment(db, coordinator, payment_id, bl.ReasonIn(reason="again"))
    assert twice.value.code == "already_reversed"
    with pytest.raises(ValueError):
        bl.RefundIn(amount_cents=100, method="cash", reason="")


@SQLITE
def test_void_is_a_new_revision_and_frees_the_session(db, clinic, billed) -> None:
    _, first, _, _ = billed
    coordinator = clinic.actors["coordinator"]
    view = bl.create_invoice(db, coordinator, bl.InvoiceIn(kind="session", session_id=first.id))
    paid = bl.record_payment(db, coordinator, view.number, bl.PaymentIn(amount_cents=500, method="card"))
    with pytest.raises(Conflict) as kept:
        bl.void_invoice(db, coordinator, view.number, bl.ReasonIn(reason="wrong prices"))
    assert kept.value.code == "invoice_paid"
    bl.record_refund(db, coordinator, paid.number, bl.RefundIn(amount_cents=500, method="card", reason="void"))
    void = bl.void_invoice(db, coordinator, view.number, bl.ReasonIn(reason="wrong prices"))
    assert void.status == "void" and void.revision == 2 and void.reason == "wrong prices"
    with pytest.raises(Conflict):
        bl.record_payment(db, coordinator, view.number, bl.PaymentIn(amount_cents=100, method="cash"))
    again = bl.create_invoice(db, coordinator, bl.InvoiceIn(kind="session", session_id=first.id))
    assert again.number != view.number
    with db.reading() as uow:  # the first revision is still there, unchanged
        assert uow.get(Invoice, view.id).status == "issued"


@SQLITE
def test_billing_tables_are_append_only_in_the_database(db, clinic, billed) -> None:
    _, first, _, _ = billed
    view = bl.create_invoice(db, clinic.actors["coordinator"], bl.InvoiceIn(kind="session", session_id=first.id))
    for statement in ("UPDATE invoices SET total_cents = 0", "DELETE FROM invoices", "UPDATE price_lists SET version = 9"):
        with pytest.raises(Exception, match="append-only"), db.transaction() as uow:
            uow.execute(text(statement))
    assert bl.get_invoice(db, clinic.actors["coordinator"], view.number).total_cents == view.total_cents


@SQLITE
@pytest.mark.parametrize("role", ["physician", "nurse", "admin", "patient"])
def test_only_the_coordinator_runs_billing(db, clinic, billed, role) -> None:
    _, first, _, _ = billed
    actor = clinic.actors[role]
    with pytest.raises(Forbidden):
        bl.create_invoice(db, actor, bl.InvoiceIn(kind="session", session_id=first.id))
    view = bl.create_invoice(db, clinic.actors["coordinator"], bl.InvoiceIn(kind="session", session_id=first.id))
    for call in (lambda: bl.get_invoice(db, actor, view.number),
                 lambda: bl.record_payment(db, actor, view.number, bl.PaymentIn(amount_cents=100, method="cash")),
                 lambda: bl.list_invoices(db, actor),
                 lambda: bl.patient_billing(db, actor, clinic.own_patient_id)):
        with pytest.raises(Forbidden):
            call()


@SQLITE
def test_the_coordinator_sees_codes_and_amounts_not_the_chart(db, clinic, billed) -> None:
    _, first, _, _ = billed
    view = bl.create_invoice(db, clinic.actors["coordinator"], bl.InvoiceIn(kind="session", session_id=first.id))
    shown = view.model_dump_json()
    for clinical in ("moaas", "systolic", "spo2", "duloxetine", "lot_number", "SYN-OND-1", "rate_mg_per_h"):
        assert clinical not in shown
    assert set(bl.InvoiceView.model_fields) >= {"lines", "diagnoses", "total_cents"}


@SQLITE
def test_another_sites_coordinator_gets_404(db, clinic, billed) -> None:
    _, first, _, _ = billed
    view = bl.create_invoice(db, clinic.actors["coordinator"], bl.InvoiceIn(kind="session", session_id=first.id))
    from ketaclinic.records.sites import Site

    with db.transaction() as uow:
        other = Site(name="Synthetic second site", code="SEC", active=True)
        uow.add(other)
        uow.flush()
        other_id = other.id
    elsewhere = replace(clinic.actors["coordinator"], site_ids=(other_id,))
    with pytest.raises(NotFound):
        bl.get_invoice(db, elsewhere, view.number)
    with pytest.raises(NotFound):
        bl.create_invoice(db, elsewhere, bl.InvoiceIn(kind="course", plan_id=billed[0].id))
    assert bl.list_invoices(db, elsewhere).items == []


@SQLITE
def test_a_physician_without_an_npi_blocks_the_invoice(db, clinic) -> None:
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    visit = _session(db, clinic, plan, T0 + timedelta(days=1), adjunct=False)
    with pytest.raises(Conflict) as refused:
        bl.create_invoice(db, clinic.actors["coordinator"], bl.InvoiceIn(kind="session", session_id=visit.id))
    assert refused.value.code == "npi_missing"


@SQLITE
def test_npi_on_the_staff_record_is_luhn_checked(db, clinic) -> None:
    with pytest.raises(ValueError, match="check digit"):
        us.UserUpdate(npi="1234567890")
    _npi(db, clinic)
    with db.reading() as uow:
        assert uow.execute(text("SELECT npi FROM users WHERE username = 'physician'")).scalar_one() == NPI


@SQLITE
def test_evaluation_invoice_needs_the_physicians_em_level(db, clinic, billed) -> None:
    plan, *_ = billed
    coordinator = clinic.actors["coordinator"]
    with pytest.raises(Conflict) as missing:
        bl.create_invoice(db, coordinator, bl.InvoiceIn(kind="evaluation", evaluation_id=plan.evaluation_id))
    assert missing.value.code == "em_code_missing"
    with pytest.raises(Forbidden):  # the coordinator never chooses the level
        bl.record_em_code(db, coordinator, plan.evaluation_id, bl.EmCodeIn(em_code="99204"))
    bl.record_em_code(db, clinic.actors["physician"], plan.evaluation_id, bl.EmCodeIn(em_code="99204"))
    view = bl.create_invoice(db, coordinator, bl.InvoiceIn(kind="evaluation", evaluation_id=plan.evaluation_id))
    assert _codes(view) == [("99204", 1)] and view.total_cents == 35000


@SQLITE
def test_no_show_fee_only_for_a_cancelled_session(db, clinic, billed) -> None:
    _, first, _, _ = billed
    coordinator = clinic.actors["coordinator"]
    with pytest.raises(Conflict) as refused:
        bl.create_invoice(db, coordinator, bl.InvoiceIn(kind="no_show", session_id=first.id))
    assert refused.value.code == "not_cancelled"
    with pytest.raises(ValidationFailed):
        bl.create_invoice(db, coordinator, bl.InvoiceIn(kind="no_show", plan_id=1))  # names no session


@SQLITE
def test_price_list_versions_if_match_and_admin_only(db, clinic, billed) -> None:
    *_, site_id = billed
    admin = clinic.actors["admin"]
    current = bl.get_price_list(db, clinic.actors["coordinator"], site_id)
    assert current.version == 1 and current.prices.adjunct_cents == {"ondansetron": 1500}
    with pytest.raises(Conflict):  # stale
        bl.save_price_list(db, admin, site_id, 0, bl.PriceListIn(prices=PriceListData(no_show_fee_cents=1)))
    with pytest.raises(Forbidden):
        bl.save_price_list(db, clinic.actors["coordinator"], site_id, 1,
                           bl.PriceListIn(prices=PriceListData(no_show_fee_cents=1)))
    saved = bl.save_price_list(db, admin, site_id, 1, bl.PriceListIn(prices=PriceListData(
        drug_pricing="per_vial", vial_mg=200, vial_cents=3000)))
    assert saved.version == 2 and {c["field"] for c in saved.changes} >= {"drug_pricing", "vial_mg"}
    assert [v.version for v in bl.price_list_versions(db, admin, site_id)] == [2, 1]


@SQLITE
def test_superbill_and_receipt_pdfs_and_the_csv(db, clinic, billed) -> None:
    plan, *_ = billed
    coordinator = clinic.actors["coordinator"]
    course = bl.create_invoice(db, coordinator, bl.InvoiceIn(kind="course", plan_id=plan.id))
    bl.record_payment(db, coordinator, course.number, bl.PaymentIn(amount_cents=20000, method="card",
                                                                    reference="=HYPERLINK(1)"))
    name, pdf = bl.billing_document(db, coordinator, course.number, "superbill")
    assert name == f"superbill-{course.number}.pdf" and pdf.startswith(b"%PDF")
    _, receipt = bl.billing_document(db, coordinator, course.number, "receipt")
    assert receipt.startswith(b"%PDF")
    with db.reading() as uow:
        html = bl.document_context(uow, course)
    from ketaclinic.reports.superbill import superbill_html
    page = superbill_html(course, html, clinic_name="KetaClinic", generated_at=T0, generated_by="coordinator")
    for must in ("96365", "96366", "J3490", NPI, "G90.5", "ama_cpt_infusion", "Place of service"):
        assert must in page
    data = bl.bookkeeper_csv(db, coordinator, T0.date(), (T0 + timedelta(days=400)).date() - timedelta(days=40))
    rows = list(csv.DictReader(io.StringIO(data)))
    assert [r["entry"] for r in rows] == ["invoice", "payment"]
    assert rows[1]["amount"] == "200.00" and rows[1]["reference"].startswith("'=")  # no formula in a spreadsheet
    with pytest.raises(ValidationFailed):
        bl.bookkeeper_csv(db, coordinator, T0.date(), T0.date() - timedelta(days=1))


@SQLITE
def test_every_billing_write_is_audited(db, clinic, billed) -> None:
    _, first, _, _ = billed
    coordinator = clinic.actors["coordinator"]
    view = bl.create_invoice(db, coordinator, bl.InvoiceIn(kind="session", session_id=first.id))
    bl.record_payment(db, coordinator, view.number, bl.PaymentIn(amount_cents=100, method="cash"))
    with db.reading() as uow:
        actions = set(uow.execute(text("SELECT action FROM audit_log")).scalars())
    assert {"price_list.save", "invoice.issue", "payment.record"} <= actions
