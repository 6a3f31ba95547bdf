"""Issue 17 "Scale": the billing desk shows a page of invoices and goes on by keyset; "balance due" reads a bounded
number of invoices per page (the next page goes on from the last one read); the to-do of unbilled sessions reads
the invoices of its candidates' patients only, and still leaves out what is billed."""

from __future__ import annotations

import re
from datetime import timedelta

from ketaclinic.services import billing as bl
from ketaclinic.web.views import billing as billing_views
from tests.billing.test_billing_service import _npi, _session, signed_plan
from tests.interop.flows import T0


def _three_invoices(db, clinic) -> tuple[list[str], list[int], object]:
    _npi(db, clinic)
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    coordinator = clinic.actors["coordinator"]
    numbers, sessions = [], []
    for day in (1, 8, 15):
        visit = _session(db, clinic, plan, T0 + timedelta(days=day), minutes=60, adjunct=False)
        sessions.append(visit.id)
        numbers.append(bl.create_invoice(db, coordinator, bl.InvoiceIn(kind="session", session_id=visit.id)).number)
    return numbers, sessions, plan


def test_the_desk_pages_invoices_by_keyset_and_bounds_the_balance_due_scan(signed_in, db, clinic, monkeypatch):
    numbers, sessions, plan = _three_invoices(db, clinic)
    unbilled = _session(db, clinic, plan, T0 + timedelta(days=22), minutes=60, adjunct=False)
    monkeypatch.setattr(billing_views, "DESK_PAGE", 2)
    coordinator = signed_in("coordinator")
    first = coordinator.get("/billing?show=all").text
    assert numbers[2] in first and numbers[1] in first and numbers[0] not in first
    todo = first[first.index('id="h-unbilled"'):first.index('id="h-invoices"')]
    assert f"#{unbilled.id}<" in todo and not any(f"#{s}<" in todo for s in sessions), "billed sessions are left out"
    older = re.search(r'id="invoices-older" href="([^"]+)"', first)
    assert older, "a cut list offers the older invoices"
    second = coordinator.get(older.group(1).replace("&amp;", "&")).text
    assert numbers[0] in second and numbers[2] not in second and 'id="invoices-older"' not in second
    assert "Newest invoices" in second

    # every invoice paid: "balance due" reads at most OPEN_SCAN_CHUNKS chunks, then hands on a cursor
    actor = clinic.actors["coordinator"]
    for number in numbers:
        total = bl.get_invoice(db, actor, number).total_cents
        bl.record_payment(db, actor, number, bl.PaymentIn(amount_cents=total, method="card"))
    monkeypatch.setattr(bl, "OPEN_SCAN_CHUNKS", 1)
    page = bl.list_invoices(db, actor, open_only=True, limit=1)
    assert page.items == [] and page.next_cursor is not None, "the scan stopped after one chunk of paid invoices"
    rest = bl.list_invoices(db, actor, open_only=True, limit=1, cursor=page.next_cursor)
    assert rest.items == [] and rest.next_cursor is None
    assert "No invoice here." in coordinator.get("/billing?show=open").text
