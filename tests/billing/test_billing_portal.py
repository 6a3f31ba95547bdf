"""The patient's own bills on the portal (issue 15): their issued invoices, receipts and superbills as PDF, and
never another patient's (SQLite)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ketaclinic.services import billing as bl
from ketaclinic.services.errors import Forbidden, NotFound
from tests.billing.test_billing_service import T0, _session, billed, signed_plan  # noqa: F401 - billed: a fixture

pytestmark = pytest.mark.parametrize("engine", ["sqlite"])


def test_a_patient_downloads_their_own_superbill_and_receipt_only(db, clinic, billed):  # noqa: F811
    _, first, _, _ = billed
    coordinator, patient = clinic.actors["coordinator"], clinic.actors["patient"]
    mine = bl.create_invoice(db, coordinator, bl.InvoiceIn(kind="session", session_id=first.id))
    other_plan = signed_plan(db, clinic, clinic.other_patient_id)
    other_visit = _session(db, clinic, other_plan, T0 + timedelta(days=5), minutes=60, adjunct=False)
    theirs = bl.create_invoice(db, coordinator, bl.InvoiceIn(kind="session", session_id=other_visit.id))

    assert [i.number for i in bl.my_invoices(db, patient)] == [mine.number]
    for which in ("superbill", "receipt"):
        name, pdf = bl.billing_document(db, patient, mine.number, which)
        assert name == f"{which}-{mine.number}.pdf" and pdf.startswith(b"%PDF")
        with pytest.raises(NotFound):  # someone else's bill: the same answer as a missing one
            bl.billing_document(db, patient, theirs.number, which)
    with pytest.raises(Forbidden):  # the portal list is the patient's; staff use the billing desk
        bl.my_invoices(db, clinic.actors["nurse"])
    with pytest.raises(Forbidden):  # a nurse still cannot print bills (codes and amounts are the coordinator's)
        bl.billing_document(db, clinic.actors["nurse"], mine.number, "receipt")


def test_a_voided_bill_leaves_the_portal(db, clinic, billed):  # noqa: F811
    _, first, _, _ = billed
    coordinator, patient = clinic.actors["coordinator"], clinic.actors["patient"]
    view = bl.create_invoice(db, coordinator, bl.InvoiceIn(kind="session", session_id=first.id))
    bl.void_invoice(db, coordinator, view.number, bl.ReasonIn(reason="wrong prices"))
    assert bl.my_invoices(db, patient) == []
    with pytest.raises(NotFound):
        bl.billing_document(db, patient, view.number, "superbill")
    assert bl.billing_document(db, coordinator, view.number, "superbill")[1].startswith(b"%PDF")  # the desk keeps it
