"""Consent and messages pages (issue 13), in process: the portal signs and withdraws, staff sign on the tablet,
contact preferences, the signed PDF, and the admin's consent document, outbox and message wording."""

from __future__ import annotations

from tests.consent_support import SIGNATURE_SVG
from tests.web.conftest import csrf_of


def _sign_form(page: str) -> dict[str, str]:
    import re

    version = re.search(r'name="document_version" value="(\d+)"', page).group(1)
    sha = re.search(r'name="document_sha256" value="([0-9a-f]{64})"', page).group(1)
    return {"document_version": version, "document_sha256": sha, "csrf_token": csrf_of(page)}


def test_the_patient_signs_in_the_portal_and_withdraws(signed_in, db, clinic) -> None:
    from ketaclinic.services import consent as cn

    web = signed_in("patient")
    status = cn.consent_status(db, clinic.actors["nurse"], clinic.own_patient_id)
    cn.withdraw(db, clinic.actors["nurse"], status.signature.id, cn.WithdrawIn())  # the fixture's signature goes
    page = web.get("/me/consent").text
    assert "Not signed" in page or "Withdrawn" in page
    assert "TEMPLATE" in page and "signature_pad.umd.min.js" in page and "cystitis" in page
    form = _sign_form(page)
    missing = web.post("/me/consent", data={**form, "typed_name": "Synthetic Own", "signature_svg": ""})
    assert missing.status_code == 422 and "Draw your signature" in missing.text
    signed = web.post("/me/consent", data={**form, "typed_name": "Synthetic Own", "signature_svg": SIGNATURE_SVG},
                      follow_redirects=False)
    assert signed.status_code == 303
    page = web.get("/me/consent").text
    assert "Signed (current version)" in page
    signature_id = cn.consent_status(db, clinic.actors["nurse"], clinic.own_patient_id).signature.id
    pdf = web.get(f"/consent/{signature_id}/signed.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    gone = web.post(f"/me/consent/{signature_id}/withdraw", data={"csrf_token": csrf_of(page), "reason": ""},
                    follow_redirects=False)
    assert gone.status_code == 303
    saved = web.post("/me/contact", data={"csrf_token": csrf_of(page), "contact_consent": "yes"}, follow_redirects=False)
    assert saved.status_code == 303
    contact = cn.contact_preferences(db, clinic.actors["patient"], clinic.own_patient_id)
    assert contact.contact_consent and contact.reminders_opt_out  # the reminders box was left unticked


def test_staff_sign_on_the_tablet(signed_in, db, clinic) -> None:
    web = signed_in("coordinator")
    chart = web.get(f"/patients/{clinic.own_patient_id}").text
    assert f'href="/patients/{clinic.own_patient_id}/consent"' in chart
    from ketaclinic.services import consent as cn

    cn.publish_document(db, clinic.actors["admin"], 1, cn.DocumentIn(title="Consent v2", body="## New\n" + "x " * 40))
    page = web.get(f"/patients/{clinic.own_patient_id}/consent").text
    assert "Signed an earlier version" in page and "You (coordinator) are recorded as the witness" in page
    signed = web.post(f"/patients/{clinic.own_patient_id}/consent", follow_redirects=False, data={
        **_sign_form(page), "typed_name": "Synthetic Own", "signature_svg": SIGNATURE_SVG})
    assert signed.status_code == 303
    state = cn.consent_status(db, clinic.actors["nurse"], clinic.own_patient_id)
    assert state.state == "valid" and state.signature.witness_name


def test_admin_pages(signed_in, db, clinic) -> None:
    web = signed_in("admin")
    outbox = web.get("/admin/outbox").text
    assert "No mail server is configured" in outbox and 'href="/admin/outbox"' in outbox
    page = web.get("/admin/consent").text
    assert "template: not reviewed" in page
    saved = web.post("/admin/consent", follow_redirects=False, data={
        "csrf_token": csrf_of(page), "version": "1", "title": "Consent to ketamine infusions",
        "body": "## Reviewed\n" + "Reviewed text for this clinic. " * 4, "reviewed_by": "Dr Synthetic Director",
        "note": "reviewed"})
    assert saved.status_code == 303
    assert "Dr Synthetic Director" in web.get("/admin/consent").text
    messages = web.get("/admin/messages").text
    bad = web.post("/admin/messages/confirmation", data={"csrf_token": csrf_of(messages), "version": "0",
                                                           "subject": "{{ nobody }}", "body": "Dear {{ given_name }}"})
    assert bad.status_code == 422 and "cannot be used" in bad.text
    good = web.post("/admin/messages/confirmation", follow_redirects=False, data={
        "csrf_token": csrf_of(messages), "version": "0", "subject": "Booked: {{ when }}", "body": "See you {{ when }}."})
    assert good.status_code == 303 and "version 1" in web.get("/admin/messages").text
