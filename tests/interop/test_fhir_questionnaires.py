"""Questionnaires in the FHIR export (issue 15): Questionnaire, QuestionnaireResponse and the total's Observation
with the checked LOINC codes; every coding is in the export's code table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ketaclinic.services import questionnaires as qs
from ketaclinic.services.fhir import export_patient
from tests.interop.facts import unknown_codes

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine() -> str:
    return "sqlite"


def test_phq9_and_pgic_are_exported_with_their_codes(db, clinic):
    nurse = clinic.actors["nurse"]
    for instrument, answers in (("phq9", [2, 2, 1, 1, 1, 1, 1, None, 1]), ("pgic", [2])):
        started = qs.start_response(db, nurse, clinic.own_patient_id, qs.ResponseStart(instrument=instrument), now=NOW)
        qs.save_response(db, nurse, started.id, qs.ResponseSave(answers=answers, complete=True), now=NOW)
    bundle = export_patient(db, clinic.actors["physician"], clinic.own_patient_id, now=NOW)
    assert unknown_codes(bundle) == set()
    resources = [e["resource"] for e in bundle["entry"]]
    questionnaires = {r["title"]: r for r in resources if r["resourceType"] == "Questionnaire"}
    phq = questionnaires["Patient Health Questionnaire-9 (PHQ-9)"]
    assert phq["code"][0]["code"] == "44249-1" and len(phq["item"]) == 10
    assert phq["item"][0]["answerOption"][3]["valueCoding"]["code"] == "LA6571-9"
    responses = [r for r in resources if r["resourceType"] == "QuestionnaireResponse" and r["questionnaire"].startswith(
        qs_canonical("phq9"))]
    assert len(responses) == 1 and len(responses[0]["item"]) == 8  # the unanswered item is left out
    totals = [r for r in resources if r["resourceType"] == "Observation" and r.get("derivedFrom")
              and r["derivedFrom"][0]["reference"] in {e["fullUrl"] for e in bundle["entry"]
                                                        if e["resource"] is responses[0]}]
    assert totals[0]["code"]["coding"][0]["code"] == "44261-6" and totals[0]["valueInteger"] == 11  # 10 x 9/8 = 11.25
    assert "prorated" in totals[0]["note"][0]["text"]
    pgic = [r for r in resources if r["resourceType"] == "Observation" and r["code"].get("text", "").startswith(
        "Patient Global Impression")]
    assert pgic and pgic[0]["valueInteger"] == 2 and "coding" not in pgic[0]["code"]


def qs_canonical(instrument: str) -> str:
    from ketaclinic.interop.fhir_questionnaires import canonical

    return canonical(instrument)
