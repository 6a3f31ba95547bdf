"""The register over HTTP (issue 14, design 4.8): the balances contract, a witnessed waste, reports, and every
register route refused to coordinators and patients."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ketaclinic.api.app import iter_api_routes
from tests.conftest import PASSWORD
from tests.interop.flows import T0
from tests.services.test_register import SUPPLIER_DEA, stock, stopped_session


@pytest.fixture
def engine() -> str:
    return "sqlite"


def test_balances_contract_and_a_witnessed_waste(client, headers, clinic, db):
    safe, ketamine, receipt = stock(db, clinic)
    nurse = headers["nurse"]
    body = client.get("/api/v1/register/balances", headers=nurse).json()
    assert body["items"] and {"drug", "lot", "location", "balance_mg"} <= set(body["items"][0])
    assert (body["items"][0]["drug"], body["items"][0]["balance_mg"]) == ("ketamine", 1000.0)
    visit = stopped_session(db, clinic, safe, receipt)
    alone = client.post("/api/v1/register/wastes", headers=nurse, json={"session_id": visit.id})
    assert alone.status_code == 422 and alone.json()["error"]["code"] == "witness_required"
    self_witness = client.post("/api/v1/register/wastes", headers=nurse, json={
        "session_id": visit.id, "witness": {"username": "nurse", "password": PASSWORD}})
    assert self_witness.status_code == 422 and self_witness.json()["error"]["code"] == "witness_same_user"
    wrong = client.post("/api/v1/register/wastes", headers=nurse, json={
        "session_id": visit.id, "witness": {"username": "physician", "password": "nope"}})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "witness_failed"
    done = client.post("/api/v1/register/wastes", headers=nurse, json={
        "session_id": visit.id, "witness": {"username": "physician", "password": PASSWORD}})
    assert done.status_code == 201 and [e["kind"] for e in done.json()] == ["administer", "waste"]
    state = client.get(f"/api/v1/register/sessions/{visit.id}", headers=nurse).json()
    assert state["drugs"][0]["reconciled"]
    assert client.get("/api/v1/register/verify", headers=headers["admin"]).json()["ok"]
    typo = client.post("/api/v1/register/dispenses", headers=nurse, json={
        "session_id": visit.id, "lot_id": receipt.lot_id, "location_id": safe.id, "amount_mg": 10, "amout": 1})
    assert typo.status_code == 422


def test_receipt_refuses_a_bad_dea_number_and_reports_print(client, headers, clinic, db):
    safe, ketamine, receipt = stock(db, clinic)
    body = {"location_id": safe.id, "product_id": ketamine.id, "lot_number": "SYN-2", "expiry_date": "2027-09-30",
            "vials": 1, "supplier": "Synthetic Wholesale", "invoice": "INV-2",
            "supplier_dea_number": SUPPLIER_DEA[:-1] + str((int(SUPPLIER_DEA[-1]) + 3) % 10)}
    bad = client.post("/api/v1/register/receipts", headers=headers["physician"], json=body)
    assert bad.status_code == 422 and bad.json()["error"]["field"].endswith("supplier_dea_number")
    assert client.post("/api/v1/register/receipts", headers=headers["nurse"],
                       json={**body, "supplier_dea_number": SUPPLIER_DEA}).status_code == 403
    csv = client.get("/api/v1/register/reports/dispensing-log?format=csv", headers=headers["nurse"])
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "SYN-KET-A1" in csv.text and "rows_sha256" in csv.text and "produced_by" in csv.text
    pdf = client.get(f"/api/v1/register/reports/biennial-inventory?as_of={(T0 + timedelta(days=1)).date()}"
                     "&business=opening", headers=headers["physician"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    sheet = client.get(f"/api/v1/register/reports/count-sheet?format=csv&location_id={safe.id}", headers=headers["nurse"])
    assert sheet.status_code == 200 and "1000.0" in sheet.text


def test_every_register_route_refuses_coordinators_and_patients(app, client, headers, clinic, db):
    stock(db, clinic)
    routes = [(path, route) for path, route in iter_api_routes(app.routes) if path.startswith("/api/v1/register")]
    assert len(routes) >= 20
    for path, route in routes:
        url = path.replace("{count_id}", "1").replace("{entry_id}", "1").replace("{session_id}", "1") \
            .replace("{location_id}", "1").replace("{report}", "dispensing-log")
        for method in route.methods:
            for role in ("coordinator", "patient"):
                answer = client.request(method, url, headers=headers[role], json={})
                assert answer.status_code == 403, (method, url, role, answer.status_code)
            assert client.request(method, url, json={}).status_code == 401
