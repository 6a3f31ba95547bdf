"""Issue 14 in a real Chromium: a physician receives a lot; a nurse draws for a running session, the
infusion stops and the remainder is wasted with a witness; the day-end count has a planted discrepancy that
the physician resolves with a reason; the biennial inventory is printed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.web.browser_support import demo_services, start_visit, submit
from tests.web.test_journeys import check_accessibility, shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
LOT = "SYN-JOURNEY-0001"


def _stop(demo_database, session_id: int) -> None:
    from ketaclinic.services import sessions

    with demo_services(demo_database) as (db, sign_in_as):
        nurse = sign_in_as("nurse")
        visit = sessions.get_session(db, nurse, session_id)
        sessions.stop_infusion(db, nurse, visit.id, visit.version)


def test_receive_run_waste_count_and_print_the_biennial_inventory(page, server, demo_database):
    from ketaclinic.clinical.register import with_check_digit
    from ketaclinic.clock import utcnow
    from ketaclinic.services import plans

    # 1. the physician receives a lot into the safe
    sign_in(page, server, "physician")
    page.goto(server.url + "/register")
    page.select_option("#f-product_id", label="Ketamine HCl injection 50 mg/mL, 10 mL multiple-dose vial (CIII)")
    page.select_option("#f-location_id", label="Safe")
    page.fill("#f-lot_number", LOT)
    page.fill("#f-expiry_date", (utcnow() + timedelta(days=500)).date().isoformat())
    page.fill("#f-vials", "2")
    page.fill("#f-supplier", "Synthetic Journey Supply")
    page.fill("#f-supplier_dea_number", with_check_digit("RJ", "314159"))
    page.fill("#f-invoice", "SYN-J-1")
    submit(page, "#receive-form button[type=submit]")
    assert f"Received lot {LOT}: 1000 mg into Safe." in page.inner_text("body")
    assert page.get_attribute(f"tr[data-lot='{LOT}']", "data-balance-mg") == "1000.0"
    check_accessibility(page, "register overview")
    page.context.clear_cookies()

    # 2. a session runs (prepared through the services); the nurse draws for it in the register
    with demo_services(demo_database) as (db, sign_in_as):
        nurse = sign_in_as("nurse")
        plan = next(p for p in plans.list_plans(db, nurse, status="signed", limit=200).items
                    if p.protocol == "outpatient_infusion")
        visit = start_visit(db, nurse, plan.patient_id, plan.id, utcnow() - timedelta(minutes=40),
                            sign_in_as("physician"))
    sign_in(page, server, "nurse")
    page.goto(server.url + "/register")
    page.click(f"#reconcile-{visit.id}")
    page.select_option("#f-stock", label=next(o for o in page.eval_on_selector_all(
        "#f-stock option", "els => els.map(e => e.textContent)") if LOT in o))
    page.fill("#f-draw-mg", "150")
    submit(page, "#dispense-form button[type=submit]")
    assert f"Drawn 150 mg from lot {LOT} (Safe)." in page.inner_text("body")
    assert page.get_attribute("tr[data-drug='ketamine']", "data-reconciled") == "no"

    # 3. the infusion stops; the remainder is wasted with a witness (a second person's password)
    _stop(demo_database, visit.id)
    page.reload()
    page.fill("#f-waste-witness", "nurse")
    page.fill("#f-waste-witness-password", "demo-clinic")
    submit(page, "#waste-form button[type=submit]")
    assert "second person" in page.inner_text("body")  # the nurse cannot witness her own waste
    page.fill("#f-waste-witness", "physician")
    page.fill("#f-waste-witness-password", "demo-clinic")
    submit(page, "#waste-form button[type=submit]")
    assert "witnessed by" in page.inner_text("body")
    assert page.get_attribute("tr[data-drug='ketamine']", "data-reconciled") == "yes"
    check_accessibility(page, "session register")
    shot(page, "register-session")

    # 4. the day-end count of the safe, with a discrepancy planted on the journey's lot
    page.goto(server.url + "/register")
    submit(page, "a:has-text('Safe')")  # the sheet's rows are read next: the old page must be gone
    rows = page.eval_on_selector_all("tr[data-lot-id]", "els => els.map(e => [e.dataset.lotId, e.dataset.lot, "
                                                         "e.dataset.balanceMg])")
    for lot_id, lot, balance in rows:
        page.fill(f"#counted-{lot_id}", str(float(balance) - (20 if lot == LOT else 0)))
    page.fill("#f-count-witness", "physician")
    page.fill("#f-count-witness-password", "demo-clinic")
    submit(page, "#count-form button[type=submit]")
    assert "differ from the book" in page.inner_text("body"), page.inner_text("main")
    check_accessibility(page, "count sheet with a discrepancy")
    count_url = page.url.split("?")[0]
    page.context.clear_cookies()
    sign_in(page, server, "physician")
    page.goto(count_url)
    page.locator("form[action$='/resolve'] input[name='reason']").first.fill("Synthetic: 20 mg spilled, seen by both")
    submit(page, page.locator("form[action$='/resolve'] button[type=submit]").first)
    assert "Discrepancy resolved with an adjustment." in page.inner_text("body")

    # 5. the biennial inventory, printed
    page.goto(server.url + "/register/reports")
    page.select_option("#f-business", "close")
    with page.expect_download() as download:
        page.click("#biennial-form button[type=submit]")
    pdf = download.value.path().read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 2000
    with demo_services(demo_database) as (db, sign_in_as):
        from ketaclinic.services import register as rg

        assert rg.verify_register(db, sign_in_as("admin")).ok
