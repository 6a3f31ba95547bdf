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
