"""Two coordinators invoice the same session at the same moment on PostgreSQL: one invoice, one clear refusal
(the patient row lock makes the second wait and then see the session billed)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import text

from ketaclinic.services import billing as bl
from ketaclinic.services.errors import Conflict
from tests.billing.test_billing_service import _npi, _session, signed_plan
from tests.interop.flows import T0


@pytest.mark.parametrize("engine", ["postgresql"])
def test_the_same_session_is_never_billed_twice_at_once(db, clinic) -> None:
    _npi(db, clinic)
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    visit = _session(db, clinic, plan, T0 + timedelta(days=1), adjunct=False)
    coordinator = clinic.actors["coordinator"]
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def bill() -> None:
        barrier.wait()
        try:
            outcomes.append(bl.create_invoice(db, coordinator, bl.InvoiceIn(kind="session", session_id=visit.id)))
        except Conflict as refused:
            outcomes.append(refused)

    threads = [threading.Thread(target=bill) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    issued = [o for o in outcomes if isinstance(o, bl.InvoiceView)]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(issued) == 1 and len(refused) == 1
    assert refused[0].code == "already_billed"
    with db.reading() as uow:
        assert uow.execute(text("SELECT count(*) FROM invoices")).scalar_one() == 1
