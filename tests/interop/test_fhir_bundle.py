"""The FHIR export round trip: the Bundle parses back with fhir.resources (R4B) and carries the right codes."""

from datetime import timedelta

from fhir.resources.R4B.bundle import Bundle

from ketaclinic.clinical.conditions import get_condition
from ketaclinic.interop.fhir import ICD10CM, LOINC, SNOMED, export_patient
from tests.interop.flows import NORMAL_VITALS, T0, event, running, signed_plan

AT = T0 + timedelta(days=7)


def _resources(bundle, kind):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _codes(resource):
    return {(c["system"], c["code"]) for c in resource["code"]["coding"]}


def test_the_bundle_round_trips_with_the_right_codes(db, clinic):
    nurse = clinic.actors["nurse"]
    visit = running(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), AT)
    event(db, nurse, visit.id, NORMAL_VITALS, AT + timedelta(minutes=15))
    event(db, nurse, visit.id, {"kind": "medication", "drug": "ondansetron", "dose": 4, "unit": "mg", "route": "iv",
                                "lot_number": "LOT-77"}, AT + timedelta(minutes=20))
    bundle = export_patient(db, clinic.actors["physician"], clinic.own_patient_id, now=AT + timedelta(hours=1))
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "collection" and len(parsed.entry) == len(bundle["entry"])

    patient = _resources(bundle, "Patient")[0]
    assert patient["name"][0]["family"] == "Own" and patient["gender"] == "female"
    crps = get_condition("crps")
    condition = _resources(bundle, "Condition")[0]
    assert {(ICD10CM, c.code) for c in crps.icd10cm} | {(SNOMED, c.code) for c in crps.snomed} == _codes(condition)
    assert (ICD10CM, "G90.50") in _codes(condition) and (SNOMED, "128200000") in _codes(condition)
    assert condition["verificationStatus"]["coding"][0]["code"] == "confirmed"

    observations = _resources(bundle, "Observation")
    codes = set().union(*(_codes(o) for o in observations))
    for loinc in ("85354-9", "8867-4", "2708-6", "59408-5", "9279-1", "29463-7", "72514-3"):
        assert (LOINC, loinc) in codes, loinc
    bp = next(o for o in observations if (LOINC, "85354-9") in _codes(o) and "encounter" in o)
    components = {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in bp["component"]}
    assert components == {"8480-6": 132, "8462-4": 84}
    encounter = _resources(bundle, "Encounter")[0]
    assert encounter["status"] == "in-progress" and encounter["class"]["code"] == "AMB"
    administrations = _resources(bundle, "MedicationAdministration")
    ketamine = next(a for a in administrations if "medicationCodeableConcept" in a)
    assert ketamine["medicationCodeableConcept"]["coding"][0]["code"] == "N01AX03"
    assert ketamine["dosage"]["dose"]["value"] == visit.pump_program["total_dose_mg"]
    rescue = next(a for a in administrations if "medicationReference" in a)
    assert rescue["contained"][0]["batch"]["lotNumber"] == "LOT-77"
    references = {e["fullUrl"] for e in bundle["entry"]}
    assert ketamine["context"]["reference"] in references and ketamine["subject"]["reference"] in references


def test_the_export_is_stable(db, clinic):
    signed_plan(db, clinic, clinic.own_patient_id)
    first = export_patient(db, clinic.actors["physician"], clinic.own_patient_id, now=AT)
    second = export_patient(db, clinic.actors["physician"], clinic.own_patient_id, now=AT)
    assert first == second
