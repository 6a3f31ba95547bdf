"""Issue 18, items 2-5: public R4 samples (Synthea, IPS) read right; MedicationRequest; flags by code; tolerant R4."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from ketaclinic.interop.fhir_import import ReferralError, read_referral
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.services import referrals as rf
from ketaclinic.services.fhir import export_patient

SAMPLES = Path(__file__).parent / "samples"
TODAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
SNOMED = "http://snomed.info/sct"


def sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def _entry(bundle: dict, kind: str, text: str) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind
                and text in json.dumps(e["resource"]))


def test_synthea_medication_requests_become_the_current_medicines_and_the_migraine_the_pain_condition():
    referral = read_referral(sample("synthea_jacob_larson_trimmed"), today=TODAY)
    assert referral.medications == ["Hydrochlorothiazide 25 MG"]  # active order; the stopped antibiotic is not
    assert any("Amoxicillin" in t["what"] and "(current)" not in t["what"] for t in referral.taken)
    # SNOMED CT 124171000119105 Chronic intractable migraine without aura: a form of the clinic's "migraine"
    assert referral.pain_conditions == ["migraine"]
    assert referral.duration_weeks == round((TODAY - date(2008, 1, 11)).days / 7, 1)
    assert [w for w, _ in referral.weights] == [73.08, 76.64, 81.25, 84.23]
    hypertension = [f for f in referral.flags if "'hypertension'" in f]
    assert len(hypertension) == 1 and "38341003" in hypertension[0]  # by its code, not "by its name"
    assert {e["resource"] for e in referral.ignored} == {"Practitioner", "Encounter"}


def test_synthea_cardiac_arrest_is_flagged_by_its_snomed_code():
    referral = read_referral(sample("synthea_barney_abbott_trimmed"), today=TODAY)
    arrest = [f for f in referral.flags if "Cardiac Arrest (" in f]
    assert arrest == ["The referral lists Cardiac Arrest (410429000, Cardiac arrest (disorder), active): check the "
                      "screening question 'cardiovascular' with the patient."]
    coronary = [f for f in referral.flags if "Coronary Heart Disease" in f]
    assert len(coronary) == 1 and "53741008" in coronary[0] and "'coronary'" in coronary[0]  # the code, not also words
    assert referral.medications == ["Nitroglycerin 0.4 MG/ACTUAT Mucosal Spray"]
    assert any("has died" in f for f in referral.flags)


def test_a_coded_condition_is_flagged_by_its_code_whatever_its_name_says():
    bundle = sample("synthea_barney_abbott_trimmed")
    arrest = _entry(bundle, "Condition", "410429000")
    arrest["code"] = {"coding": [{"system": SNOMED, "code": "410429000"}], "text": "Event of 15 Feb"}
    referral = read_referral(bundle, today=TODAY)
    assert any("Event of 15 Feb (410429000" in f and "'cardiovascular'" in f for f in referral.flags)


def test_ips_medication_statement_names_its_medicine_through_a_medication_in_the_bundle():
    referral = read_referral(sample("ips_bundle_minimal"), today=TODAY)
    assert referral.medications == ["Product containing anastrozole (medicinal product)"]
    assert {"resource": "Medication", "entry": 6,
            "what": "the medicine a MedicationStatement or MedicationRequest names"} in referral.taken
    assert referral.identifier == "28b95815-76ce-457b-b7ae-a972e527db40"


def _request(**changes) -> dict:
    bundle = sample("synthea_jacob_larson_trimmed")
    request = _entry(bundle, "MedicationRequest", "Hydrochlorothiazide")
    request.update(changes)
    return bundle


@pytest.mark.parametrize("changes, current", [
    ({}, True), ({"intent": "plan"}, True), ({"intent": "proposal"}, False), ({"status": "on-hold"}, False),
    ({"status": "completed"}, False),
])
def test_only_an_active_order_or_plan_is_a_current_medicine(changes, current):
    referral = read_referral(_request(**changes), today=TODAY)
    assert (referral.medications == ["Hydrochlorothiazide 25 MG"]) is current


def test_a_medication_request_may_name_its_medicine_by_reference_in_the_bundle_or_contained():
    bundle = _request(medicationReference={"reference": "urn:uuid:med-1"})
    request = _entry(bundle, "MedicationRequest", "urn:uuid:med-1")
    del request["medicationCodeableConcept"]
    bundle["entry"].append({"fullUrl": "urn:uuid:med-1", "resource": {
        "resourceType": "Medication", "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                           "code": "316049", "display": "Hydrochlorothiazide 25 MG"}]}}})
    referral = read_referral(bundle, today=TODAY)
    assert referral.medications == ["Hydrochlorothiazide 25 MG"]
    assert any(t["resource"] == "Medication" for t in referral.taken)
    request["medicationReference"] = {"reference": "#m"}
    request["contained"] = [{"resourceType": "Medication", "id": "m", "code": {"text": "hydrochlorothiazide"}}]
    assert read_referral(bundle, today=TODAY).medications == ["hydrochlorothiazide"]
    request["medicationReference"] = {"reference": "urn:uuid:nowhere"}
    referral = read_referral(bundle, today=TODAY)
    assert referral.medications == [] and any("names no medicine" in i["reason"] for i in referral.ignored)


def test_r4_elements_and_resources_another_version_lacks_do_not_refuse_the_bundle():
    bundle = sample("synthea_jacob_larson_trimmed")
    migraine = _entry(bundle, "Condition", "124171000119105")
    migraine["participant"] = [{"function": {"text": "asserter"}}]  # not an R4B Condition element
    bundle["entry"].append({"resource": {"resourceType": "MedicinalProduct", "id": "r4-only",  # R4, gone in R4B
                                         "name": [{"productName": "Hydrochlorothiazide"}]}})
    referral = read_referral(bundle, today=TODAY)
    assert referral.pain_conditions == ["migraine"]
    taken = next(t for t in referral.taken if "migraine" in t["what"])
    assert "kept reduced to the elements read" in taken["what"]  # sent on only as far as the export's check allows
    assert any(i["resource"] == "MedicinalProduct" and "not read" in i["reason"] for i in referral.ignored)


def test_an_entry_that_cannot_be_read_is_ignored_with_why_and_the_rest_is_taken():
    bundle = sample("synthea_jacob_larson_trimmed")
    _entry(bundle, "Condition", "38341003")["code"] = "I10"  # a string where a CodeableConcept belongs
    bundle["entry"].append("not a resource")
    bundle["entry"].append({"fullUrl": "urn:uuid:x"})
    referral = read_referral(bundle, today=TODAY)
    reasons = [i["reason"] for i in referral.ignored]
    assert any("cannot be read as FHIR R4 (Condition.code:" in r for r in reasons)
    assert sum("holds no FHIR resource" in r for r in reasons) == 2
    assert referral.pain_conditions == ["migraine"] and referral.medications == ["Hydrochlorothiazide 25 MG"]
    assert not any("'hypertension'" in f for f in referral.flags)  # the unreadable one is not guessed at


def test_a_document_that_is_not_a_bundle_or_an_unreadable_patient_is_still_refused():
    with pytest.raises(ReferralError, match="send a FHIR R4 Bundle"):
        read_referral({"resourceType": "Patient"}, today=TODAY)
    bundle = sample("synthea_jacob_larson_trimmed")
    _entry(bundle, "Patient", "Larson")["name"] = "Jacob Larson"
    with pytest.raises(ReferralError, match="the Patient cannot be read: Patient.name"):
        read_referral(bundle, today=TODAY)


def test_a_synthea_referral_imports_and_the_chart_exports_again(db, clinic):
    physician = clinic.actors["physician"]
    view = rf.import_referral(db, physician, sample("synthea_jacob_larson_trimmed"), now=NOW)
    with db.reading() as session:
        draft = session.get(Evaluation, view.evaluation_id)
        assert draft.screening_input["pain"]["conditions"] == ["migraine"]
        assert draft.screening_input["medications"] == ["Hydrochlorothiazide 25 MG"]
        assert "38341003" in draft.notes
    bundle = export_patient(db, physician, view.patient_id, now=NOW)
    requests = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationRequest"]
    assert {r["medicationCodeableConcept"]["text"] for r in requests} >= {"Hydrochlorothiazide 25 MG"}


def test_a_reduced_resource_still_exports(db, clinic):
    bundle = copy.deepcopy(sample("synthea_jacob_larson_trimmed"))
    _entry(bundle, "Condition", "124171000119105")["participant"] = [{"function": {"text": "asserter"}}]
    view = rf.import_referral(db, clinic.actors["physician"], bundle, now=NOW)
    exported = export_patient(db, clinic.actors["physician"], view.patient_id, now=NOW)
    assert any("124171000119105" in json.dumps(e["resource"]) for e in exported["entry"])


def test_a_name_without_a_listed_code_falls_back_to_its_words():
    referral = read_referral(sample("synthea_barney_abbott_trimmed"), today=TODAY)
    history = [f for f in referral.flags if f.startswith("The referral lists History of cardiac arrest")]
    assert history and "by its name" in history[0] and "'cardiovascular'" in history[0]


def test_a_resource_the_export_check_refuses_even_reduced_is_taken_but_not_kept():
    bundle = sample("synthea_jacob_larson_trimmed")
    patient = bundle["entry"][0]["fullUrl"]
    bundle["entry"].append({"resource": {"resourceType": "Observation", "subject": {"reference": patient},  # no status
                                         "code": {"text": "Pain score"}, "effectiveDateTime": "2026-10-01"}})
    referral = read_referral(bundle, today=TODAY)
    pain = next(t for t in referral.taken if "Pain score" in t["what"])
    assert "read, but not stored as received: it fails the FHIR check the chart's export applies (status" in pain["what"]
    assert not any((k.get("code") or {}).get("text") == "Pain score" for k in referral.kept)


def test_a_medication_nothing_names_is_ignored_and_a_malformed_bundle_identifier_is_not_read():
    bundle = sample("ips_bundle_minimal")
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "MedicationStatement"]
    bundle["identifier"] = ["not", "an", "Identifier"]
    referral = read_referral(bundle, today=TODAY)
    assert any(i["resource"] == "Medication" and "names it" in i["reason"] for i in referral.ignored)
    assert referral.identifier is None and referral.medications == []


def _weight(bundle: dict, quantity: dict) -> dict:
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    return {"fullUrl": "urn:uuid:0d6c2a52-4ac1-4d2b-9a47-000000000001", "resource": {
        "resourceType": "Observation", "status": "final", "subject": {"reference": f"Patient/{patient.get('id')}"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "effectiveDateTime": "2026-11-30T10:00:00Z", "valueQuantity": quantity}}


@pytest.mark.parametrize(("quantity", "kg", "note"), [
    ({"value": 154, "unit": "lbs"}, 69.85, "converted from 154 lbs"),
    ({"value": 154, "unit": "Pounds"}, 69.85, "converted from 154 Pounds"),
    ({"value": 70, "unit": "kg"}, 70.0, None),
    ({"value": 154, "unit": "lbs", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}, 69.85, None),
])
def test_a_weight_in_pounds_without_a_ucum_code_is_converted_with_a_note(quantity, kg, note):
    bundle = sample("synthea_jacob_larson_trimmed")
    bundle["entry"].append(_weight(bundle, quantity))
    referral = read_referral(bundle, today=TODAY)
    assert (kg, datetime(2026, 11, 30, 10, 0, tzinfo=UTC)) in referral.weights
    taken = [t["what"] for t in referral.taken if t["what"].startswith(f"body weight {kg:g} kg on 2026-11-30")]
    assert taken and ((note in taken[0]) if note else "converted" not in taken[0])


@pytest.mark.parametrize("quantity", [{"value": 154, "unit": "stone"}, {"value": 154, "unit": "lbs", "code": "xyz"},
                                      {"value": True, "unit": "kg"}, {"unit": "kg"}])
def test_a_weight_in_a_unit_we_cannot_read_is_ignored_with_why(quantity):
    bundle = sample("synthea_jacob_larson_trimmed")
    bundle["entry"].append(_weight(bundle, quantity))
    referral = read_referral(bundle, today=TODAY)
    assert any("a body weight needs a value in kg, g or [lb_av]" in i["reason"] for i in referral.ignored)
