"""Billing through the API (issue 15): the coordinator's routes, the refusals, If-Match on price lists, PDFs, CSV."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.billing.test_billing_service import _npi, _session, signed_plan
from tests.interop.flows import T0

SQLITE = pytest.mark.parametrize("engine", ["sqlite"])


@SQLITE
def test_coordinator_bills_a_session_over_http(client, headers, clinic, db) -> None:
    _npi(db, clinic)
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    visit = _session(db, clinic, plan, T0 + timedelta(days=1), minutes=91, adjunct=False)
    coordinator, nurse, admin = headers["coordinator"], headers["nurse"], headers["admin"]
    site_id = clinic.actors["coordinator"].site_ids[0]

    assert client.get(f"/api/v1/sites/{site_id}/price-list", headers=coordinator).json()["version"] == 0
    body = {"prices": {"infusion_first_hour_cents": 50000}}
    assert client.put(f"/api/v1/sites/{site_id}/price-list", json=body, headers=admin).status_code == 428
    assert client.put(f"/api/v1/sites/{site_id}/price-list", json=body,
                      headers={**admin, "If-Match": "3"}).status_code == 409
    saved = client.put(f"/api/v1/sites/{site_id}/price-list", json=body, headers={**admin, "If-Match": "0"})
    assert saved.status_code == 200 and saved.headers["ETag"] == '"1"'

    refused = client.post("/api/v1/invoices", json={"kind": "session", "session_id": visit.id}, headers=nurse)
    assert refused.status_code == 403
    bad = client.post("/api/v1/invoices", json={"kind": "session", "session_id": visit.id, "lines": []},
                      headers=coordinator)
    assert bad.status_code == 422 and bad.json()["error"]["code"]  # codes are never sent by the client
    made = client.post("/api/v1/invoices", json={"kind": "session", "session_id": visit.id}, headers=coordinator)
    assert made.status_code == 201, made.text
    invoice = made.json()
    assert [(line["code"], line["units"]) for line in invoice["lines"]][:2] == [("96365", 1), ("96366", 1)]
    assert invoice["lines"][0]["amount_cents"] == 50000
    number = invoice["number"]

    again = client.post("/api/v1/invoices", json={"kind": "session", "session_id": visit.id}, headers=coordinator)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_billed"
    paid = client.post(f"/api/v1/invoices/{number}/payments", json={"amount_cents": 1000, "method": "card"},
                       headers=coordinator)
    assert paid.status_code == 201 and paid.json()["paid_cents"] == 1000
    no_reason = client.post(f"/api/v1/invoices/{number}/refunds", json={"amount_cents": 100, "method": "card"},
                            headers=coordinator)
    assert no_reason.status_code == 422
    pdf = client.get(f"/api/v1/invoices/{number}/superbill.pdf", headers=coordinator)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.get(f"/api/v1/invoices/{number}/superbill.pdf", headers=nurse).status_code == 403
    assert client.get("/api/v1/invoices/NOPE-1", headers=coordinator).status_code == 404
    listed = client.get("/api/v1/invoices?open_only=true", headers=coordinator).json()
    assert [i["number"] for i in listed["items"]] == [number]
    exported = client.get(f"/api/v1/billing/export.csv?start={T0.date()}&end={(T0 + timedelta(days=300)).date()}",
                          headers=coordinator)
    assert exported.status_code == 200 and exported.text.startswith("date,site,entry")
    assert client.get("/api/v1/billing/export.csv?start=2026-13-01&end=2026-01-01",
                      headers=coordinator).status_code == 422
