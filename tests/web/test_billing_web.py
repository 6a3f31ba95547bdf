"""Billing pages (issue 15, in-process): the desk, a patient's billing, issuing an invoice, a payment with a typed
amount, a refund without a reason refused, the superbill PDF; other roles are refused; the physician's E/M page."""

from __future__ import annotations

from datetime import timedelta

from tests.billing.test_billing_service import _npi, _session, signed_plan
from tests.interop.flows import T0
from tests.web.conftest import csrf_of


def _post(client, url: str, data: dict, page_url: str):
    return client.post(url, data={**data, "csrf_token": csrf_of(client.get(page_url).text)})


def test_coordinator_bills_and_takes_a_payment(signed_in, db, clinic):
    _npi(db, clinic)
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    visit = _session(db, clinic, plan, T0 + timedelta(days=1), minutes=151, adjunct=False)
    coordinator = signed_in("coordinator")
    desk = coordinator.get("/billing")
    assert desk.status_code == 200 and 'href="/billing"' in desk.text and f"#{visit.id}" in desk.text
    patient_url = f"/billing/patients/{clinic.own_patient_id}"
    assert f'id="bill-session-{visit.id}"' in coordinator.get(patient_url).text
    issued = _post(coordinator, "/billing/invoices", {"kind": "session", "target_id": visit.id,
                                                      "patient_id": clinic.own_patient_id}, patient_url)
    assert issued.status_code == 200 and "issued" in issued.text and "96366" in issued.text
    number = issued.url.path.rsplit("/", 1)[-1]
    url = f"/billing/invoices/{number}"
    bad = _post(coordinator, f"{url}/payments", {"amount": "12.345", "method": "cash"}, url)
    assert bad.status_code == 422 and "two decimals" in bad.text
    paid = _post(coordinator, f"{url}/payments", {"amount": "100.00", "method": "card", "reference": "T-1"}, url)
    assert "Payment recorded: 100.00" in paid.text
    no_reason = _post(coordinator, f"{url}/refunds", {"amount": "10", "method": "card", "reason": ""}, url)
    assert no_reason.status_code == 422
    pdf = coordinator.get(f"{url}/superbill.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert coordinator.get(f"/billing/export.csv?start={T0.date()}&end={(T0 + timedelta(days=30)).date()}"
                           ).text.startswith("date,site,entry")
    nurse = signed_in("nurse")
    assert nurse.get("/billing").status_code == 403 and nurse.get(url).status_code == 403


def test_physician_chooses_the_em_level(signed_in, db, clinic):
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    physician = signed_in("physician")
    url = f"/evaluations/{plan.evaluation_id}/em-code"
    assert "99204" in physician.get(url).text
    saved = _post(physician, url, {"em_code": "99204"}, url)
    assert saved.status_code == 200 and "E/M level 99204 recorded" in saved.text
    assert signed_in("coordinator").get(url).status_code == 403


def test_admin_saves_a_price_list_version(signed_in, db, clinic):
    admin = signed_in("admin")
    page = admin.get("/admin/price-list")
    assert page.status_code == 200 and "the defaults (never saved)" in page.text and 'href="/admin/price-list"' in page.text
    site_id = clinic.actors["admin"].site_ids[0]
    form = {"site_id": site_id, "version": 0, "evaluation_cents": "350.00", "infusion_first_hour_cents": "425",
            "infusion_additional_hour_cents": "150", "push_initial_cents": "60", "push_additional_cents": "30",
            "drug_per_mg_cents": "0.10", "vial_cents": "25", "no_show_fee_cents": "100", "drug_pricing": "per_mg",
            "vial_mg": "500", "adjuncts": "ondansetron = 15.00", "place_of_service": "11",
            "ketamine_ndc": "0409-2051-05", "billing_npi": "1234567890", "tax_id": "", "note": "opening"}
    bad = _post(admin, "/admin/price-list", form, "/admin/price-list")
    assert bad.status_code == 422 and "check digit" in bad.text  # the practice NPI is Luhn-checked
    saved = _post(admin, "/admin/price-list", {**form, "billing_npi": "1234567893"}, "/admin/price-list")
    assert "Price list saved" in saved.text and "version 1" in saved.text
    stale = _post(admin, "/admin/price-list", {**form, "billing_npi": "", "no_show_fee_cents": "90"}, "/admin/price-list")
    assert stale.status_code == 422 and "Someone else saved" in stale.text
    assert signed_in("coordinator").get("/admin/price-list").status_code == 403
