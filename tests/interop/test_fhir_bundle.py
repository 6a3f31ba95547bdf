"""The FHIR export: every resource the issue names, valid R4B, known codes, exact values."""

from datetime import timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle

from ketaclinic.clinical.conditions import get_condition
from ketaclinic.interop.fhir import ICD10CM, LOINC, SNOMED
from ketaclinic.interop.fhir_codes import UNITS
from ketaclinic.services import diary as dy
from ketaclinic.services import sessions as ss
from ketaclinic.services.fhir import export_patient
from tests.interop.facts import unknown_codes
from tests.interop.flows import KETAMINE_LOT, NORMAL_VITALS, T0, event, running, signed_plan

AT = T0 + timedelta(days=7)


def _resources(bundle, kind):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _codes(resource):
    return {(c["system"], c["code"]) for c in resource["code"].get("coding", [])}  # scores are text-coded


@pytest.fixture
def course(db, clinic):
    """A signed evaluation and plan, a session with a rate change, vitals (one amended), a rescue
    medicine and the stop, and two diary entries (the second corrects the first)."""
    nurse, physician = clinic.actors["nurse"], clinic.actors["physician"]
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    visit = running(db, clinic, plan, AT)
    first = event(db, nurse, visit.id, NORMAL_VITALS, AT + timedelta(minutes=10))
    event(db, nurse, visit.id, {"kind": "rate_change", "rate_mg_per_h": 20.0, "reason": "dizziness"},
          AT + timedelta(minutes=20))
    event(db, nurse, visit.id, {"kind": "amendment", "amends_event_id": first.id, "reason": "heart rate misread",
                                "correction": {"heart_rate_bpm": 88}}, AT + timedelta(minutes=25))
    event(db, nurse, visit.id, {"kind": "medication", "drug": "ondansetron", "dose": 4, "unit": "mg", "route": "iv",
                                "lot_number": "LOT-77", "reason": "nausea"}, AT + timedelta(minutes=30))
    visit = ss.get_session(db, nurse, visit.id)
    ss.stop_infusion(db, nurse, visit.id, visit.version, now=AT + timedelta(minutes=60))
    patient = clinic.actors["patient"]
    wrong = dy.add_entry(db, patient, dy.DiaryIn(day=(AT + timedelta(days=1)).date(), pain_nrs=9, mood=4, sleep=5,
                                                 function=3, opioid_doses=[{"opioid": "oxycodone", "daily_dose_mg": 20}]),
                         now=AT + timedelta(days=1))
    dy.add_entry(db, patient, dy.DiaryIn(day=(AT + timedelta(days=1)).date(), pain_nrs=5, mood=6, sleep=6, function=5,
                                         amends_id=wrong.id, note="I pressed 9 by mistake"), now=AT + timedelta(days=1, hours=1))
    bundle = export_patient(db, physician, clinic.own_patient_id, now=AT + timedelta(days=2))
    return plan, visit, bundle


def test_the_bundle_is_valid_r4b_and_every_code_is_a_checked_one(course):
    _, _, bundle = course
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "collection" and len(parsed.entry) == len(bundle["entry"])
    assert unknown_codes(bundle) == set()
    units = {q["code"] for e in bundle["entry"] for q in _quantities(e["resource"])}
    assert units <= set(UNITS), units - set(UNITS)
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"Patient", "Practitioner", "Condition", "MedicationStatement", "Observation", "CarePlan", "Encounter",
            "Procedure", "MedicationAdministration", "Questionnaire", "QuestionnaireResponse", "Provenance"} <= kinds
    references = {e["fullUrl"] for e in bundle["entry"]}
    for reference in _references(bundle):
        assert reference.startswith("#") or reference in references, reference


def _quantities(node):
    if isinstance(node, dict):
        if "value" in node and node.get("system") == "http://unitsofmeasure.org":
            yield node
        for value in node.values():
            yield from _quantities(value)
    elif isinstance(node, list):
        for value in node:
            yield from _quantities(value)


def _references(node):
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node["reference"]
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def test_conditions_medications_and_vitals_carry_their_codes_and_values(course):
    _, _, bundle = course
    patient = _resources(bundle, "Patient")[0]
    assert patient["name"][0]["family"] == "Own" and patient["gender"] == "female"
    crps = get_condition("crps")
    condition = _resources(bundle, "Condition")[0]
    assert {(ICD10CM, c.code) for c in crps.icd10cm} | {(SNOMED, c.code) for c in crps.snomed} == _codes(condition)
    assert condition["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert condition["onsetDateTime"] == (T0 + timedelta(hours=1) - timedelta(weeks=40)).date().isoformat()
    statements = _resources(bundle, "MedicationStatement")
    assert [s["medicationCodeableConcept"]["text"] for s in statements] == ["duloxetine"]
    observations = _resources(bundle, "Observation")
    codes = set().union(*(_codes(o) for o in observations))
    for loinc in ("85354-9", "8867-4", "2708-6", "59408-5", "9279-1", "29463-7", "72514-3"):
        assert (LOINC, loinc) in codes, loinc
    bp = next(o for o in observations if (LOINC, "85354-9") in _codes(o) and "encounter" in o)
    components = {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in bp["component"]}
    assert components == {"8480-6": 132, "8462-4": 84}
    heart = next(o for o in observations if (LOINC, "8867-4") in _codes(o) and "encounter" in o)
    assert heart["valueQuantity"]["value"] == 88 and heart["status"] == "amended"  # the correction, marked


def test_every_ketamine_step_is_an_administration_with_rate_route_period_and_lot(course):
    plan, visit, bundle = course
    ketamine = [a for a in _resources(bundle, "MedicationAdministration")
                if a["contained"][0]["code"].get("coding", [{}])[0].get("code") == "N01AX03"]
    # the slow loading push, the programmed rate until the change at 20 min, then 20 mg/h until the stop at 60 min
    assert len(ketamine) == 3
    push, first, second = sorted(ketamine, key=lambda a: a["effectivePeriod"]["start"])
    program = {s["kind"]: s for s in plan.pump_program["program"]}
    assert "slow bolus" in push["dosage"]["text"]
    assert push["dosage"]["dose"]["value"] == pytest.approx(program["bolus"]["dose_mg"], abs=1e-3)
    planned_rate = program["infusion"]["rate_mg_per_h"]
    assert first["dosage"]["rateQuantity"]["value"] == pytest.approx(planned_rate)
    assert first["dosage"]["dose"]["value"] == pytest.approx(planned_rate * 15 / 60, abs=1e-3)
    assert second["dosage"]["rateQuantity"] == {"value": 20.0, "unit": "mg/h", "system": "http://unitsofmeasure.org",
                                                "code": "mg/h"}
    assert second["dosage"]["dose"]["value"] == pytest.approx(20 * 40 / 60, abs=1e-3)
    assert second["effectivePeriod"]["end"].startswith((AT + timedelta(minutes=60)).isoformat()[:16])
    for administration in ketamine:
        assert administration["contained"][0]["batch"]["lotNumber"] == KETAMINE_LOT
        assert administration["dosage"]["route"]["coding"][0]["code"] == "47625008"
        assert administration["status"] == "completed"
    rescue = next(a for a in _resources(bundle, "MedicationAdministration") if a["contained"][0]["id"].startswith("med-"))
    assert rescue["contained"][0]["batch"]["lotNumber"] == "LOT-77" and rescue["dosage"]["dose"]["code"] == "mg"


def test_plan_diary_and_provenance(course):
    plan, _, bundle = course
    care_plan = _resources(bundle, "CarePlan")[0]
    assert care_plan["status"] == "active" and care_plan["intent"] == "plan"
    assert care_plan["activity"][0]["detail"]["dailyAmount"]["value"] == pytest.approx(plan.pump_program["total_dose_mg"])
    responses = _resources(bundle, "QuestionnaireResponse")
    assert len(responses) == 1 and responses[0]["status"] == "amended"  # only the corrected entry is current
    answers = {i["linkId"]: i for i in responses[0]["item"]}
    assert answers["pain"]["answer"][0]["valueInteger"] == 5 and answers["note"]["answer"][0]["valueString"]
    provenance = _resources(bundle, "Provenance")
    activities = sorted(p["activity"]["coding"][0]["code"] for p in provenance)
    assert activities.count("CREATE") == 2  # the evaluation's and the plan's signatures
    assert activities.count("UPDATE") == 2  # the vitals amendment and the diary correction
    signed = [p for p in provenance if "signature" in p]
    assert {p["signature"][0]["who"]["display"] for p in signed} == {"physician"}
    amended = next(p for p in provenance if (p.get("reason") or [{}])[0].get("text") == "heart rate misread")
    assert amended["entity"][0]["role"] == "revision" and amended["agent"][0]["who"]["display"] == "nurse"


def test_the_export_is_stable(db, clinic):
    signed_plan(db, clinic, clinic.own_patient_id)
    first = export_patient(db, clinic.actors["physician"], clinic.own_patient_id, now=AT)
    second = export_patient(db, clinic.actors["physician"], clinic.own_patient_id, now=AT)
    assert first == second


def test_the_diary_correction_names_the_patient_and_identifiers_belong_to_this_installation(course, db):
    from ketaclinic.interop.fhir_ids import URI_SYSTEM, identifier_system
    from ketaclinic.records.installation import installation_uuid

    _, _, bundle = course
    with db.reading() as session:
        installation = installation_uuid(session)
    diary = next(p for p in _resources(bundle, "Provenance") if p.get("reason", [{}])[0].get("text") == "Diary entry corrected")
    patient_url = bundle["entry"][0]["fullUrl"]
    assert diary["agent"][0]["who"]["reference"] == patient_url  # not a Practitioner made of a login
    assert not any(p["identifier"][0]["value"] == "patient" for p in _resources(bundle, "Practitioner")
                   if p.get("identifier"))
    identifier = _resources(bundle, "Patient")[0]["identifier"][0]
    assert identifier["system"] == identifier_system(installation, "patient") and identifier["type"]["coding"][0]["code"] == "MR"
    assert identifier_system("another installation", "patient") != identifier["system"]
    assert bundle["identifier"]["system"] == URI_SYSTEM and bundle["identifier"]["value"].startswith("urn:uuid:")


def test_a_running_infusion_is_exported_as_given_so_far(db, clinic):
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    running(db, clinic, plan, AT)
    bundle = export_patient(db, clinic.actors["physician"], clinic.own_patient_id, now=AT + timedelta(minutes=2))
    ketamine = [a for a in _resources(bundle, "MedicationAdministration")
                if a["contained"][0]["code"].get("coding", [{}])[0].get("code") == "N01AX03"]
    assert len(ketamine) == 1  # the push under way; the infusion after it has not started
    push = ketamine[0]
    assert push["status"] == "in-progress" and "end" not in push["effectivePeriod"]
    bolus_mg = next(s for s in plan.pump_program["program"] if s["kind"] == "bolus")["dose_mg"]
    assert push["dosage"]["dose"]["value"] == pytest.approx(bolus_mg * 2 / 5, abs=1e-3)  # 2 of its 5 minutes


def test_an_amended_evaluation_exports_only_the_corrected_vitals(db, clinic):
    from ketaclinic.services import evaluations as ev
    from tests.interop.flows import SCREENING, screening, signed_evaluation

    physician = clinic.actors["physician"]
    first = signed_evaluation(db, clinic, clinic.own_patient_id)
    corrected = screening(vitals={"heart_rate_bpm": 64})
    amendment = ev.amend_evaluation(db, physician, first.id, ev.AmendmentIn(screening=corrected, reason="HR misread"),
                                    now=T0 + timedelta(hours=2))
    ev.sign_evaluation(db, physician, amendment.id, amendment.version, now=T0 + timedelta(hours=3))
    bundle = export_patient(db, physician, clinic.own_patient_id, now=AT)
    rates = [o["valueQuantity"]["value"] for o in _resources(bundle, "Observation") if (LOINC, "8867-4") in _codes(o)]
    assert rates == [64] and SCREENING["vitals"]["heart_rate_bpm"] != 64


def test_what_a_referral_brought_is_tagged_and_attributed_and_points_nowhere_outside(db, clinic):
    from ketaclinic.interop.fhir_codes import RECEIVED_WITH_REFERRAL
    from ketaclinic.services import referrals as rf
    from tests.interop.test_fhir_import import referral_bundle

    bundle_in = referral_bundle()
    bundle_in["entry"][2]["resource"]["asserter"] = {"reference": "Practitioner/other-ehr-1", "display": "Dr Elsewhere"}
    bundle_in["entry"][2]["resource"]["note"] = [{"authorReference": {"reference": "Device/pump-9"}, "text": "n"}]
    view = rf.import_referral(db, clinic.actors["physician"], bundle_in, now=AT)
    out = export_patient(db, clinic.actors["physician"], view.patient_id, now=AT)
    received = [e["resource"] for e in out["entry"] if RECEIVED_WITH_REFERRAL.code in str(e["resource"].get("meta"))]
    assert {r["resourceType"] for r in received} == {"Condition", "MedicationStatement", "Observation"}
    provenance = next(p for p in _resources(out, "Provenance") if p["entity"][0]["role"] == "source")
    assert len(provenance["target"]) == len(received) and provenance["entity"][0]["what"]["identifier"]["value"] == "REF-1"
    crps = next(r for r in received if r["resourceType"] == "Condition" and "asserter" in r)
    assert crps["asserter"] == {"display": "Dr Elsewhere"}
    urls = {e["fullUrl"] for e in out["entry"]}
    assert all(ref.startswith("#") or ref in urls for ref in _references(out))


def test_every_amendment_counts_and_a_corrected_rate_is_the_rate_given(db, clinic):
    """Amendments merge field by field (clinical.record.corrections_by_event), for every reader."""
    from ketaclinic.clinical.record import rate_changes_given

    nurse = clinic.actors["nurse"]
    visit = running(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), AT)
    vitals = event(db, nurse, visit.id, NORMAL_VITALS, AT + timedelta(minutes=10))
    change = event(db, nurse, visit.id, {"kind": "rate_change", "rate_mg_per_h": 20.0, "reason": "dizziness"},
                   AT + timedelta(minutes=20))
    for minute, correction in ((22, {"heart_rate_bpm": 88}), (23, {"spo2_pct": 95})):
        event(db, nurse, visit.id, {"kind": "amendment", "amends_event_id": vitals.id, "reason": f"fix {minute}",
                                    "correction": correction}, AT + timedelta(minutes=minute))
    event(db, nurse, visit.id, {"kind": "amendment", "amends_event_id": change.id, "reason": "pump read 25",
                                "correction": {"rate_mg_per_h": 25.0}}, AT + timedelta(minutes=24))
    assert rate_changes_given(ss.list_events(db, nurse, visit.id, limit=200).items) == [(20.0, 25.0)]
    bundle = export_patient(db, clinic.actors["physician"], clinic.own_patient_id, now=AT + timedelta(minutes=30))
    session_obs = [o for o in _resources(bundle, "Observation") if "encounter" in o]
    values = {c[1]: o["valueQuantity"]["value"] for o in session_obs for c in _codes(o) if "valueQuantity" in o}
    assert values["8867-4"] == 88 and values["2708-6"] == 95  # both corrections, not only the last
    rates = [a["dosage"].get("rateQuantity", {}).get("value") for a in _resources(bundle, "MedicationAdministration")]
    assert 25.0 in rates and 20.0 not in rates
    reasons = {p.get("reason", [{}])[0].get("text") for p in _resources(bundle, "Provenance")}
    assert {"fix 22", "fix 23"} <= reasons  # one Provenance per correction of the vitals
