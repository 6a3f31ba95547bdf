"""``GET /api/v1/patients/{id}/fhir``: a Bundle that fhir.resources parses back, for the right people only."""

from datetime import timedelta

from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from ketaclinic.records.audit import AuditEntry
from tests.interop.flows import T0, completed, signed_plan


def test_the_chart_as_a_fhir_bundle(client, headers, clinic, db):
    completed(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), T0 + timedelta(days=7))
    response = client.get(f"/api/v1/patients/{clinic.own_patient_id}/fhir", headers=headers["physician"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(response.json())
    kinds = {entry.resource.__resource_type__ for entry in bundle.entry}
    assert {"Patient", "Condition", "Observation", "Encounter", "Procedure", "MedicationAdministration"} <= kinds
    mine = client.get(f"/api/v1/patients/{clinic.own_patient_id}/fhir", headers=headers["patient"])
    assert mine.status_code == 200
    assert client.get(f"/api/v1/patients/{clinic.other_patient_id}/fhir", headers=headers["patient"]).status_code == 404
    assert client.get(f"/api/v1/patients/{clinic.own_patient_id}/fhir", headers=headers["nurse"]).status_code == 403
    assert client.get("/api/v1/patients/9999/fhir", headers=headers["physician"]).status_code == 404
    with db.reading() as session:
        exports = session.execute(select(AuditEntry).where(AuditEntry.action == "patient.fhir_export")).scalars().all()
    assert [e.username for e in exports] == ["physician", "patient"]


def test_a_referral_bundle_is_imported_over_the_api(client, headers, db):
    from tests.interop.test_fhir_import import referral_bundle

    response = client.post("/api/v1/referrals", json=referral_bundle(), headers=headers["coordinator"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/api/v1/patients/{body['patient_id']}"
    assert body["evaluation_id"] and body["report"]["flags"] == 1  # a coordinator: counts only
    same = client.post("/api/v1/referrals", json=referral_bundle(), headers=headers["physician"])
    assert same.status_code == 409 and same.json()["error"]["code"] == "duplicate_referral"
    as_fhir = client.post("/api/v1/referrals?confirm_new_chart=true", content=__import__("json").dumps(referral_bundle()),
                          headers={**headers["physician"], "Content-Type": "application/fhir+json"})
    assert as_fhir.status_code == 201, as_fhir.text
    again = client.get(f"/api/v1/referrals/{body['id']}", headers=headers["nurse"])
    assert again.status_code == 200 and again.json()["report"]["pain_conditions"] == ["crps"]
    assert client.post("/api/v1/referrals", json=referral_bundle(), headers=headers["nurse"]).status_code == 403
    bad = client.post("/api/v1/referrals", json={"resourceType": "Bundle", "type": "collection", "entry": []},
                      headers=headers["physician"])
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_referral" and "exactly one Patient" in bad.json()["error"]["message"]
    assert client.post("/api/v1/referrals", json=[1, 2], headers=headers["physician"]).status_code == 422
