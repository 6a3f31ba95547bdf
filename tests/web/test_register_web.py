"""Register pages (issue 14, in-process): stock at a glance, receiving, a session's draw and witnessed waste,
the count sheet with a discrepancy resolved, reports; coordinators and patients are refused."""

from __future__ import annotations

from datetime import timedelta

from ketaclinic.services import register as rg
from tests.conftest import PASSWORD
from tests.interop.flows import T0
from tests.services.test_register import SUPPLIER_DEA, stock, stopped_session
from tests.web.conftest import csrf_of


def _post(client, url: str, data: dict, page_url: str):
    return client.post(url, data={**data, "csrf_token": csrf_of(client.get(page_url).text)})


def test_receive_draw_waste_count_and_resolve(signed_in, db, clinic):
    safe, ketamine, receipt = stock(db, clinic)
    physician = signed_in("physician")
    page = physician.get("/register")
    assert page.status_code == 200 and 'data-balance-mg="1000.0"' in page.text and 'href="/register"' in page.text
    bad = _post(physician, "/register/receipts", {"location_id": safe.id, "product_id": ketamine.id, "lot_number": "SYN-W",
                                                  "expiry_date": "2027-10-31", "vials": "1", "supplier": "Synthetic",
                                                  "supplier_dea_number": "AB1234567", "invoice": "W1"}, "/register")
    assert bad.status_code == 422 and "check digit" in bad.text
    good = _post(physician, "/register/receipts", {"location_id": safe.id, "product_id": ketamine.id, "lot_number": "SYN-W",
                                                   "expiry_date": "2027-10-31", "vials": "1", "supplier": "Synthetic",
                                                   "supplier_dea_number": SUPPLIER_DEA, "invoice": "W1"}, "/register")
    assert "Received lot SYN-W: 500 mg into Safe." in good.text

    visit = stopped_session(db, clinic, safe, receipt, draw_mg=100)
    nurse = signed_in("nurse")
    url = f"/register/sessions/{visit.id}"
    assert 'data-reconciled="no"' in nurse.get(url).text
    alone = _post(nurse, url, {"action": "waste", "drug": "ketamine", "amount_mg": "", "witness_username": "nurse",
                               "witness_password": PASSWORD}, url)
    assert alone.status_code == 422 and "second person" in alone.text
    done = _post(nurse, url, {"action": "waste", "drug": "ketamine", "amount_mg": "", "witness_username": "physician",
                              "witness_password": PASSWORD}, url)
    assert "witnessed by physician" in done.text and 'data-reconciled="yes"' in done.text

    count_url = f"/register/locations/{safe.id}/count"
    sheet = nurse.get(count_url)
    assert sheet.status_code == 200 and f'id="counted-{receipt.lot_id}"' in sheet.text
    counted = _post(nurse, count_url, {f"counted-{receipt.lot_id}": "880", "witness_username": "admin",
                                       "witness_password": PASSWORD}, count_url)
    assert "differ from the book" in counted.text and "Open discrepancies" in counted.text
    count_id = rg.open_discrepancies(db, clinic.actors["nurse"])[0].count.id
    assert f'/register/counts/{count_id}/resolve' not in nurse.get(count_url).text  # nurses do not resolve
    refused = _post(nurse, f"/register/counts/{count_id}/resolve", {"location_id": safe.id, "reason": "x x x"}, count_url)
    assert refused.status_code == 403
    physician = signed_in("physician")
    resolved = _post(physician, f"/register/counts/{count_id}/resolve", {"location_id": safe.id,
                                                                         "reason": "syringe dropped (synthetic)"},
                     count_url)
    assert "Discrepancy resolved" in resolved.text and "Open discrepancies" not in resolved.text
    pdf = physician.get(f"/register/reports/biennial-inventory.pdf?as_of_day={(T0 + timedelta(days=2)).date()}"
                        "&as_of_time=18:00&business=close")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    log = physician.get("/register/log")
    assert log.status_code == 200 and "resolves count" in log.text
    assert rg.verify_register(db, clinic.actors["admin"]).ok


def test_coordinators_and_patients_are_refused(signed_in, db, clinic):
    safe, _, _ = stock(db, clinic)
    for role in ("coordinator", "patient"):
        client = signed_in(role)
        for url in ("/register", "/register/log", "/register/reports", f"/register/locations/{safe.id}/count",
                    "/register/reports/biennial-inventory.csv"):
            assert client.get(url).status_code == 403, (role, url)
        assert 'href="/register"' not in client.get("/").text
