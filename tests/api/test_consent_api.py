"""Consent and contact over the API (issue 13): sign the current version, the PDF and the FHIR Consent of the
signature, withdrawal, a new document version with If-Match, contact preferences, the outbox summary."""

import pytest
from fhir.resources.R4B.consent import Consent

from ketaclinic.clinical.consent import DEFAULT_BODY
from tests.consent_support import SIGNATURE_SVG


@pytest.fixture
def engine() -> str:
    return "sqlite"


def test_sign_read_pdf_fhir_withdraw(client, headers, clinic):
    patient = headers["patient"]
    document = client.get("/api/v1/consent-documents/current", headers=patient).json()
    assert document["template"] and "cystitis" in document["body"]
    body = {"document_version": document["version"], "document_sha256": document["sha256"],
            "typed_name": "Synthetic Own", "signature_svg": SIGNATURE_SVG}
    signed = client.post(f"/api/v1/patients/{clinic.own_patient_id}/consent", json=body, headers=patient)
    assert signed.status_code == 201 and signed.json()["channel"] == "portal"
    signature_id = signed.json()["id"]
    stale = client.post(f"/api/v1/patients/{clinic.own_patient_id}/consent",
                        json={**body, "document_sha256": "f" * 64}, headers=patient)
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "consent_document_changed"
    other = client.post(f"/api/v1/patients/{clinic.other_patient_id}/consent", json=body, headers=patient)
    assert other.status_code == 404
    pdf = client.get(f"/api/v1/consent-signatures/{signature_id}/signed.pdf", headers=patient)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    import io

    import pypdfium2

    text = "".join(page.get_textpage().get_text_range() for page in pypdfium2.PdfDocument(io.BytesIO(pdf.content)))
    assert "Synthetic Own" in text and document["sha256"][:16] in text.replace("\n", "").replace(" ", "")
    fhir = client.get(f"/api/v1/consent-signatures/{signature_id}/fhir", headers=headers["nurse"]).json()
    resource = Consent.model_validate(fhir)
    assert resource.status == "active" and resource.sourceAttachment.contentType == "application/pdf"
    withdrawn = client.post(f"/api/v1/consent-signatures/{signature_id}/withdraw", json={"reason": "no"},
                            headers=patient)
    assert withdrawn.status_code == 201 and withdrawn.json()["withdrawn_at"]
    assert client.get(f"/api/v1/consent-signatures/{signature_id}/fhir", headers=patient).json()["status"] == "inactive"
    state = client.get(f"/api/v1/patients/{clinic.own_patient_id}/consent", headers=patient).json()
    assert state["state"] == "valid"  # the fixture's earlier tablet signature still stands
    assert len(state["history"]) == 2


def test_new_version_needs_if_match(client, headers):
    admin = headers["admin"]
    body = {"title": "Consent to ketamine infusions", "body": DEFAULT_BODY, "reviewed_by": "Dr Synthetic"}
    assert client.post("/api/v1/consent-documents", json=body, headers=admin).status_code == 428
    assert client.post("/api/v1/consent-documents", json=body, headers={**admin, "If-Match": "7"}).status_code == 409
    saved = client.post("/api/v1/consent-documents", json=body, headers={**admin, "If-Match": "1"})
    assert saved.status_code == 201 and saved.json()["version"] == 2 and not saved.json()["template"]
    assert client.get("/api/v1/consent-documents/1", headers=headers["patient"]).json()["version"] == 1
    assert [d["version"] for d in client.get("/api/v1/consent-documents", headers=headers["nurse"]).json()] == [2, 1]


def test_contact_preferences_and_outbox(client, headers, clinic):
    url = f"/api/v1/patients/{clinic.own_patient_id}/contact-preferences"
    assert client.get(url, headers=headers["patient"]).json()["contact_consent"] is False
    put = client.put(url, json={"contact_consent": True, "reminders_opt_out": True}, headers=headers["patient"])
    assert put.status_code == 200 and put.json()["reminders_opt_out"] is True
    assert client.put(url, json={"contact_consent": "maybe"}, headers=headers["patient"]).status_code == 422
    outbox = client.get("/api/v1/outbox", headers=headers["admin"]).json()
    assert outbox["counts"] == {} and outbox["smtp_configured"] is False
    templates = client.get("/api/v1/message-templates", headers=headers["admin"]).json()
    assert {t["kind"] for t in templates} >= {"confirmation", "reminder_first", "reminder_second", "no_show"}
    bad = client.put("/api/v1/message-templates/confirmation", json={"subject": "{{ nope }}", "body": "hello there"},
                     headers={**headers["admin"], "If-Match": "0"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "template_invalid"
