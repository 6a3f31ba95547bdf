"""Referral import: what is taken, what is ignored and why, all-or-nothing, and the round trip."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.patients import Patient, PatientWeight
from ketaclinic.records.referrals import ReferralImport
from ketaclinic.services import evaluations as ev
from ketaclinic.services import referrals as rf
from ketaclinic.services.errors import ServiceError, ValidationFailed
from ketaclinic.services.fhir import export_patient
from tests.interop.facts import referral_facts
from tests.interop.flows import SCREENING

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
ICD = "http://hl7.org/fhir/sid/icd-10-cm"


def referral_bundle() -> dict:
    """A referral as another EHR might send it (synthetic): US-style weight in pounds, an encounter."""
    patient = "urn:uuid:00000000-0000-4000-8000-000000000001"
    gp = "urn:uuid:00000000-0000-4000-8000-000000000002"
    return {"resourceType": "Bundle", "type": "collection", "identifier": {"system": "urn:example", "value": "REF-1"},
            "entry": [
                {"fullUrl": patient, "resource": {
                    "resourceType": "Patient", "name": [{"family": "Referral (demo)", "given": ["Synthetic", "Ann"]}],
                    "gender": "female", "birthDate": "1968-04-02",
                    "telecom": [{"system": "phone", "value": "+1 555 0199"}],
                    "generalPractitioner": [{"reference": gp}]}},
                {"fullUrl": gp, "resource": {"resourceType": "Practitioner",
                                             "name": [{"prefix": ["Dr"], "given": ["Synthetic"], "family": "Sender"}],
                                             "telecom": [{"system": "email", "value": "sender@example.invalid"}]}},
                {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000003", "resource": {
                    "resourceType": "Condition", "subject": {"reference": patient},
                    "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                                   "code": "active"}]},
                    "code": {"coding": [{"system": ICD, "code": "G90.50"}], "text": "CRPS"},
                    "onsetDateTime": (NOW - timedelta(weeks=30)).date().isoformat()}},
                {"resource": {"resourceType": "Condition", "subject": {"reference": patient},
                              "code": {"coding": [{"system": ICD, "code": "I10"}], "text": "Essential hypertension"}}},
                {"resource": {"resourceType": "MedicationStatement", "status": "active", "subject": {"reference": patient},
                              "medicationCodeableConcept": {"text": "amlodipine 5 mg daily"}}},
                {"resource": {"resourceType": "MedicationStatement", "status": "stopped", "subject": {"reference": patient},
                              "medicationCodeableConcept": {"text": "pregabalin"}}},
                {"resource": {"resourceType": "Observation", "status": "final", "subject": {"reference": patient},
                              "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                              "effectiveDateTime": "2026-10-01",
                              "valueQuantity": {"value": 154, "unit": "lb", "system": "http://unitsofmeasure.org",
                                                "code": "[lb_av]"}}},
                {"resource": {"resourceType": "Observation", "status": "final", "subject": {"reference": patient},
                              "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
                              "effectiveDateTime": "2026-10-01", "valueInteger": 7,
                              "encounter": {"reference": "Encounter/elsewhere"}}},
                {"resource": {"resourceType": "Encounter", "status": "finished",
                              "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}}},
            ]}


def _count(db, model) -> int:
    with db.reading() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_a_referral_becomes_a_chart_a_draft_and_a_report(db, clinic):
    view = rf.import_referral(db, clinic.actors["physician"], referral_bundle(), now=NOW)
    with db.reading() as session:
        patient = session.get(Patient, view.patient_id)
        assert (patient.given_name, patient.family_name, patient.phone) == ("Synthetic Ann", "Referral (demo)", "+1 555 0199")
        assert patient.referring_physician == "Dr Synthetic Sender"
        assert patient.referring_physician_contact == "sender@example.invalid"
        weights = session.execute(select(PatientWeight).where(PatientWeight.patient_id == patient.id)).scalars().all()
        assert [(w.weight_kg, w.source) for w in weights] == [(69.85, "referral")]  # 154 lb
        draft = session.get(Evaluation, view.evaluation_id)
        assert draft.status == "draft" and draft.screening_result is None
        assert draft.screening_input["pain"] == {"conditions": ["crps"], "duration_weeks": 30.0}
        assert draft.screening_input["medications"] == ["amlodipine 5 mg daily"]  # the stopped one is not current
        # measured or asked at the evaluation, never taken from another system:
        assert "vitals" not in draft.screening_input and "history" not in draft.screening_input
        assert "weight_kg" not in draft.screening_input["patient"] and draft.screening_input["allergies"] is None
        assert "I10" in draft.notes and "hypertension" in draft.notes
    report = view.report
    assert report["flags"] and "hypertension" in report["flags"][0]
    assert [i["resource"] for i in report["ignored"]] == ["Encounter"]
    assert "only Patient, Condition, AllergyIntolerance, MedicationStatement, MedicationRequest with their Medication, " \
        "Observation" in report["ignored"][0]["reason"]
    assert len(report["taken"]) == 8  # patient, referrer, 2 conditions, 2 medications, weight, pain


def test_the_draft_cannot_be_signed_until_the_clinician_completes_the_screening(db, clinic):
    view = rf.import_referral(db, clinic.actors["physician"], referral_bundle(), now=NOW)
    physician = clinic.actors["physician"]
    draft = ev.get_evaluation(db, physician, view.evaluation_id)
    with pytest.raises(ValidationFailed) as refused:
        ev.sign_evaluation(db, physician, draft.id, draft.version, now=NOW)
    assert refused.value.code == "screening_incomplete"
    for missing in ("vitals", "history", "allergies", "prior_treatments", "patient.weight_kg"):
        assert missing in refused.value.message, missing
    document = copy.deepcopy(SCREENING)
    document["patient"]["weight_kg"] = 69.85
    draft = ev.update_evaluation(db, physician, draft.id, draft.version, ev.EvaluationPatch(screening=document), now=NOW)
    signed = ev.sign_evaluation(db, physician, draft.id, draft.version, now=NOW)
    assert signed.status == "signed" and signed.decision is not None


@pytest.mark.parametrize("change, message", [
    (lambda b: b.update(resourceType="Patient"), "resourceType"),
    (lambda b: b["entry"].pop(0), "exactly one Patient"),
    (lambda b: b["entry"].append(copy.deepcopy(b["entry"][0])), "exactly one Patient; this Bundle has 2"),
    (lambda b: b["entry"][0]["resource"].pop("birthDate"), "birthDate"),
    (lambda b: b["entry"][0]["resource"].update(birthDate="1968"), "full date"),
    (lambda b: b["entry"][0]["resource"].update(gender="f"), "needs a gender: female, male, other or unknown"),
    (lambda b: b["entry"][0]["resource"].update(birthDate=12), "not a valid FHIR R4 Bundle"),
    (lambda b: b["entry"][0]["resource"]["name"][0].pop("family"), "family name"),
    (lambda b: b["entry"][0]["resource"].update(birthDate="2999-01-01"), "birth_date"),
    (lambda b: b["entry"][4]["resource"]["medicationCodeableConcept"].update(text="amlo\u0000dipine"), "control character"),
])
def test_a_bad_bundle_is_refused_whole_with_what_is_wrong(db, clinic, change, message):
    bundle = referral_bundle()
    change(bundle)
    before = [_count(db, model) for model in (Patient, PatientWeight, Evaluation, ReferralImport)]
    with pytest.raises(ServiceError) as refused:
        rf.import_referral(db, clinic.actors["coordinator"], bundle, now=NOW)
    assert refused.value.code == "invalid_referral" and message in refused.value.message
    assert [_count(db, model) for model in (Patient, PatientWeight, Evaluation, ReferralImport)] == before


def test_a_nurse_cannot_register_a_referral(db, clinic):
    with pytest.raises(ServiceError) as refused:
        rf.import_referral(db, clinic.actors["nurse"], referral_bundle(), now=NOW)
    assert refused.value.status == 403


def test_export_then_import_then_export_keeps_every_referral_fact(db, clinic):
    """The round trip: what the first export says about the patient, the second says again."""
    first = export_patient(db, clinic.actors["physician"], rf.import_referral(
        db, clinic.actors["physician"], referral_bundle(), now=NOW).patient_id, now=NOW)
    again = rf.import_referral(db, clinic.actors["physician"], first, now=NOW + timedelta(days=1),
                               confirm_new_chart=True)  # the same person, on purpose, in the same clinic
    second = export_patient(db, clinic.actors["physician"], again.patient_id, now=NOW + timedelta(days=1))
    assert referral_facts(second) == referral_facts(first)
    assert first["entry"][0]["resource"]["name"][0]["given"] == ["Synthetic", "Ann"]  # as the referrer sent them
    assert len(referral_facts(first)) == 7  # patient, 2 conditions, 2 statements, weight, pain


def _with(*resources: dict) -> dict:
    bundle = referral_bundle()
    patient = bundle["entry"][0]["fullUrl"]
    for resource in resources:
        bundle["entry"].append({"resource": {**resource, "subject" if resource["resourceType"] != "AllergyIntolerance"
                                             else "patient": {"reference": patient}}})
    return bundle


def test_allergies_refuted_conditions_and_named_problems_become_flags_not_findings(db, clinic):
    bundle = _with(
        {"resourceType": "AllergyIntolerance", "code": {"text": "Ketamine"},
         "reaction": [{"manifestation": [{"text": "anaphylaxis"}]}]},
        {"resourceType": "Condition", "code": {"coding": [{"system": "http://snomed.info/sct", "code": "58214004",
                                                           "display": "Schizophrenia"}]}},
        {"resourceType": "Condition", "code": {"coding": [{"system": ICD, "code": "G90.511"}], "text": "CRPS I, right arm"},
         "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                            "code": "refuted"}]}},
        {"resourceType": "Condition", "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "F31.2"}],
                                               "text": "Bipolar affective disorder"}})
    view = rf.import_referral(db, clinic.actors["physician"], bundle, now=NOW)
    flags = view.report["flags"]
    assert flags[0].startswith("KETAMINE ALLERGY") and "anaphylaxis" in flags[0]
    assert any("Schizophrenia" in f and "psychosis" in f for f in flags)  # SNOMED CT, by its name
    assert any("F31.2" in f for f in flags)  # WHO ICD-10
    assert any("refuted" in i["reason"] for i in view.report["ignored"])
    with db.reading() as session:
        draft = session.get(Evaluation, view.evaluation_id)
        assert draft.screening_input["allergies"] is None and "KETAMINE ALLERGY" in draft.notes


def test_the_same_referral_or_person_twice_is_a_conflict_unless_confirmed(db, clinic):
    first = rf.import_referral(db, clinic.actors["coordinator"], referral_bundle(), now=NOW)
    with pytest.raises(ServiceError) as again:
        rf.import_referral(db, clinic.actors["coordinator"], referral_bundle(), now=NOW)
    assert again.value.status == 409 and again.value.code == "duplicate_referral"
    assert f"chart {first.patient_id}" in again.value.message
    renamed = referral_bundle()
    renamed["identifier"]["value"] = "REF-2"  # another bundle, the same person
    with pytest.raises(ServiceError) as person:
        rf.import_referral(db, clinic.actors["coordinator"], renamed, now=NOW)
    assert person.value.code == "duplicate_referral" and "name and birth date" in person.value.message
    second = rf.import_referral(db, clinic.actors["coordinator"], renamed, confirm_new_chart=True, now=NOW)
    assert second.patient_id != first.patient_id


def test_a_coordinator_sees_counts_not_clinical_detail(db, clinic):
    view = rf.import_referral(db, clinic.actors["coordinator"], referral_bundle(), now=NOW)
    assert view.report["flags"] == 1 and "note" in view.report and "medications" not in view.report
    assert rf.get_referral_import(db, clinic.actors["physician"], view.id).report["medications"]


def test_unusable_contacts_partial_onsets_and_a_death_are_reported_not_refused(db, clinic):
    bundle = referral_bundle()
    patient = bundle["entry"][0]["resource"]
    patient["telecom"] = [{"system": "email", "value": "not an address"},
                          {"system": "phone", "value": "+1 555 0100", "use": "old"},
                          {"system": "phone", "value": "+1 555 0142"}]
    patient["deceasedBoolean"] = True
    patient["name"].insert(0, {"family": "Maiden (demo)", "given": ["Synthetic"], "period": {"end": "1990-01-01"}})
    bundle["entry"][2]["resource"]["onsetDateTime"] = "2019"
    view = rf.import_referral(db, clinic.actors["physician"], bundle, now=NOW)
    with db.reading() as session:
        chart = session.get(Patient, view.patient_id)
        assert (chart.family_name, chart.email, chart.phone) == ("Referral (demo)", None, "+1 555 0142")
        draft = session.get(Evaluation, view.evaluation_id)
        # "2019" is read as its last day, so the duration is never longer than the truth
        assert draft.screening_input["pain"]["duration_weeks"] == round((NOW.date() - date(2019, 12, 31)).days / 7, 1)
    assert any("email" in i["reason"] for i in view.report["ignored"])
    assert any("has died" in f for f in view.report["flags"])


def test_a_bundle_over_5_mb_is_refused_before_it_is_read(db, clinic):
    bundle = referral_bundle()
    bundle["entry"][4]["resource"]["note"] = [{"text": "x" * 5_100_000}]
    with pytest.raises(ServiceError) as refused:
        rf.import_referral(db, clinic.actors["physician"], bundle, now=NOW)
    assert refused.value.status == 413


def test_a_later_referral_joins_the_existing_chart_and_a_stranger_s_is_refused(db, clinic):
    first = rf.import_referral(db, clinic.actors["physician"], referral_bundle(), now=NOW)
    later = referral_bundle()
    later["identifier"]["value"] = "REF-LATER"
    later["entry"][6]["resource"]["effectiveDateTime"] = "2026-11-15"
    later["entry"][6]["resource"]["valueQuantity"]["value"] = 150  # lb
    patients_before = _count(db, Patient)
    view = rf.attach_referral(db, clinic.actors["physician"], first.patient_id, later, now=NOW + timedelta(days=10))
    assert view.patient_id == first.patient_id and view.evaluation_id is None and _count(db, Patient) == patients_before
    with db.reading() as session:
        weights = session.execute(select(PatientWeight.weight_kg).where(PatientWeight.patient_id == first.patient_id)
                                  .order_by(PatientWeight.measured_at)).scalars().all()
    assert weights == [69.85, 68.04]
    bundle = export_patient(db, clinic.actors["physician"], first.patient_id, now=NOW + timedelta(days=10))
    assert sum(1 for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationStatement") == 4  # 2 + 2
    stranger = referral_bundle()
    stranger["entry"][0]["resource"]["birthDate"] = "1971-01-01"
    with pytest.raises(ServiceError) as refused:
        rf.attach_referral(db, clinic.actors["physician"], first.patient_id, stranger, now=NOW)
    assert refused.value.code == "referral_for_another_patient" and "birth date" in refused.value.message
    with pytest.raises(ServiceError) as coordinator:
        rf.attach_referral(db, clinic.actors["coordinator"], first.patient_id, later, now=NOW)
    assert coordinator.value.status == 403
