"""The FHIR builder is pure: a hand-made Chart in, a valid R4B Bundle out, with no database.

Each fix of issue 18 (item 5) is checked on the builder itself: identifier systems, the sender's
identifiers, staff names, scores, side effects, alerts, and the diary link.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

from fhir.resources.R4B.bundle import Bundle

from ketaclinic.clinical.record import EventRow
from ketaclinic.interop import fhir
from ketaclinic.interop.fhir_ids import DIARY_QUESTIONNAIRE, URI_SYSTEM, identifier_system
from tests.interop.facts import unknown_codes

INSTALLATION = "0b9a3c1e-7d2f-4e8a-9c61-5f0d2b7a4e13"
T0 = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
PHYSICIAN, NURSE, PATIENT_USER = 11, 12, 13
SENDER_MRN = {"use": "usual", "system": "http://sender.example/mrn", "value": "MRN-42",
              "assigner": {"reference": "Organization/sender-hospital", "display": "Sender Hospital"}}
SCREENING = {"patient": {"age_years": 56, "sex": "female", "weight_kg": 68},
             "pain": {"conditions": ["crps"], "duration_weeks": 40, "nrs_now": 8},
             "vitals": {"systolic_mmhg": 128, "diastolic_mmhg": 82, "heart_rate_bpm": 74, "spo2_pct": 98},
             "medications": ["duloxetine"]}
PROGRAM = {"plan_id": 1, "concentration_mg_per_ml": 1.0, "total_dose_mg": 32.8, "ketamine_lot_number": "SYN-LOT-1",
           "program": [{"kind": "bolus", "dose_mg": 13.6, "route": "iv", "start_min": 0, "duration_min": 5},
                       {"kind": "infusion", "rate_mg_per_h": 27.2, "rate_ml_per_h": 27.2, "start_min": 5,
                        "duration_min": 40}]}
CADSS6 = {"cadss_1": 1, "cadss_2": 2, "cadss_6": 0, "cadss_7": 1, "cadss_15": 0, "cadss_22": 1}


def _event(event_id: int, kind: str, minute: float, payload: dict, by: int = NURSE, amends: int | None = None) -> EventRow:
    return EventRow(id=event_id, kind=kind, payload=payload, session_id=1, minute=minute,
                    recorded_at=T0 + timedelta(minutes=minute), recorded_by=by, amends_event_id=amends)


def chart(**changes) -> fhir.Chart:
    """A whole course, by hand: a signed evaluation and plan, a session with scores, a side effect,
    an alert and its acknowledgement, a diary entry, and a referral that carried the sender's MRN."""
    vitals = {"minute": 20, "systolic_mmhg": 130, "diastolic_mmhg": 80, "heart_rate_bpm": 76, "spo2_pct": 97,
              "respiratory_rate_per_min": 14, "moaas": 2, "rass": -4, "cadss6": CADSS6,
              "side_effects": [{"code": "nausea", "severity": "moderate"}]}
    alert = {"code": "rass_sedation_critical", "severity": "critical", "action": "stop_infusion",
             "message": "RASS -4 (deep sedation): stop the infusion and call the physician.",
             "source": "clinic_policy", "vitals_event_id": 1}
    values = dict(
        patient=fhir.PatientRow(id=7, given_name="Synthetic", family_name="Pure (demo)", birth_date=date(1970, 1, 2),
                                sex="female", email="pure@example.org"),
        installation=INSTALLATION, generated_at=T0 + timedelta(days=2),
        weights=(fhir.WeightRow(id=1, weight_kg=68.0, measured_at=T0 - timedelta(days=7)),),
        evaluations=(fhir.EvaluationRow(id=1, status="signed", screening_input=SCREENING, created_at=T0 - timedelta(days=7),
                                        signed_at=T0 - timedelta(days=7, hours=-1), signed_by=PHYSICIAN),),
        plans=(fhir.PlanRow(id=1, status="signed", protocol_id="outpatient_infusion", weight_kg=68.0,
                            concentration_mg_per_ml=1.0, pump_program=PROGRAM, created_at=T0 - timedelta(days=6),
                            series_rule={"sessions": 6}, evaluation_id=1, signed_at=T0 - timedelta(days=6),
                            signed_by=PHYSICIAN),),
        sessions=(fhir.SessionRow(id=1, state="discharged", scheduled_at=T0, pump_program=PROGRAM, started_at=T0,
                                  ended_at=T0 + timedelta(minutes=45), discharged_at=T0 + timedelta(minutes=110)),),
        events={1: (
            _event(1, "vitals", 20, {"observation": vitals, "alerts": [alert]}),
            _event(2, "alert", 20, alert),
            _event(3, "side_effect", 25, {"code": "dissociation", "severity": "severe", "note": "felt <far> away"}),
            _event(4, "alert_ack", 26, {"alert_event_id": 2, "action_taken": "infusion stopped, physician called",
                                        "alert_code": "rass_sedation_critical"}),
        )},
        diary=(fhir.DiaryRow(id=5, recorded_at=T0 + timedelta(days=1), created_at=T0 + timedelta(days=1), pain_nrs=4,
                             mood=6, created_by=PATIENT_USER),),
        referrals=(fhir.ReferralRow(
            id=3, received_at=T0 - timedelta(days=10), received_by=PHYSICIAN, bundle_identifier="REF-9",
            resources=({"resourceType": "Condition", "code": {"text": "chronic pain"},
                        "subject": {"reference": fhir.full_url("patient", 7, INSTALLATION)}},),
            bundle={"resourceType": "Bundle", "identifier": {"system": "http://sender.example/bundles", "value": "REF-9"},
                    "entry": [{"resource": {"resourceType": "Patient", "identifier": [
                        SENDER_MRN, {"value": "no system, names nothing"}, dict(SENDER_MRN)]}}]}),),
        staff={None: "—", PHYSICIAN: "Ada Synthetic, MD", NURSE: "Ben Synthetic, RN", PATIENT_USER: "patient"},
        patient_users=frozenset({PATIENT_USER}),
    )
    values.update(changes)
    return fhir.Chart(**values)


def _resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _identifiers(node, inside: bool = False):
    """Every Identifier in the bundle (any element named ``identifier``, at any depth)."""
    if isinstance(node, dict):
        if inside and "value" in node:
            yield node
        for key, value in node.items():
            yield from _identifiers(value, key == "identifier")
    elif isinstance(node, list):
        for value in node:
            yield from _identifiers(value, inside)


def test_a_hand_made_chart_becomes_a_valid_bundle_without_a_database():
    bundle = fhir.bundle(chart())
    Bundle.model_validate(bundle)
    assert unknown_codes(bundle) == set()
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"Patient", "Practitioner", "Condition", "MedicationStatement", "Observation", "CarePlan", "Encounter",
            "Procedure", "MedicationAdministration", "AdverseEvent", "DetectedIssue", "Questionnaire",
            "QuestionnaireResponse", "Provenance"} <= kinds
    urls = {e["fullUrl"] for e in bundle["entry"]}
    assert len(urls) == len(bundle["entry"])
    assert fhir.bundle(chart()) == bundle  # no clock, no randomness: the same chart, the same bundle


def test_identifier_systems_are_uris_and_never_an_unregistered_urn():
    bundle = fhir.bundle(chart())
    systems = {i["system"] for i in _identifiers(bundle)}
    assert systems and not any(s.startswith("urn:ketaclinic") for s in systems)
    assert all(s.startswith(("urn:uuid:", "urn:oid:", "http://", "https://")) or s == URI_SYSTEM for s in systems)
    assert identifier_system(INSTALLATION, "patient") in systems
    assert bundle["identifier"] == {"system": URI_SYSTEM, "value": bundle["identifier"]["value"]}
    questionnaire = _resources(bundle, "Questionnaire")[0]
    assert questionnaire["url"] == DIARY_QUESTIONNAIRE and DIARY_QUESTIONNAIRE.startswith("urn:uuid:")
    # the systems belong to the installation: another clinic's patient 7 is not this one
    other = fhir.bundle(chart(installation="5d7e2b9a-1c3f-4a6e-8b0d-9e2f4c6a8b1d"))
    ours, theirs = (_resources(b, "Patient")[0]["identifier"][0] for b in (bundle, other))
    assert ours["value"] == theirs["value"] == "7" and ours["system"] != theirs["system"]


def test_the_senders_identifiers_are_kept_under_their_own_system():
    patient = _resources(fhir.bundle(chart()), "Patient")[0]
    record_number, *sent = patient["identifier"]
    assert record_number["system"] == identifier_system(INSTALLATION, "patient") and record_number["value"] == "7"
    # once (the duplicate is dropped), without the reference into the sender's system, and nothing without a system
    assert sent == [{"use": "usual", "system": "http://sender.example/mrn", "value": "MRN-42",
                     "assigner": {"display": "Sender Hospital"}}]
    provenance = next(p for p in _resources(fhir.bundle(chart()), "Provenance")
                      if p.get("entity", [{}])[0].get("role") == "source")
    assert provenance["entity"][0]["what"]["identifier"] == {"system": "http://sender.example/bundles", "value": "REF-9"}


def test_a_referral_without_a_bundle_system_is_named_by_the_clinics_own_identifier():
    referral = fhir.ReferralRow(id=3, received_at=T0, bundle_identifier="REF-9",
                                bundle={"resourceType": "Bundle", "identifier": {"value": "REF-9"}, "entry": []},
                                resources=({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                                            "subject": {"reference": fhir.full_url("patient", 7, INSTALLATION)},
                                            "effectiveDateTime": "2026-01-01"},))
    bundle = fhir.bundle(chart(referrals=(referral,)))
    provenance = next(p for p in _resources(bundle, "Provenance") if p.get("entity", [{}])[0].get("role") == "source")
    assert provenance["entity"][0]["what"]["identifier"] == {"system": identifier_system(INSTALLATION, "referral-import"),
                                                             "value": "3"}
    assert "REF-9" in provenance["entity"][0]["what"]["display"]
    assert len(_resources(bundle, "Patient")[0]["identifier"]) == 1


def test_practitioners_carry_the_staff_names():
    bundle = fhir.bundle(chart())
    names = {p["identifier"][0]["value"]: p["name"][0]["text"] for p in _resources(bundle, "Practitioner")
             if p.get("identifier")}
    assert names == {str(PHYSICIAN): "Ada Synthetic, MD", str(NURSE): "Ben Synthetic, RN"}
    signed = [p for p in _resources(bundle, "Provenance") if "signature" in p]
    assert {p["signature"][0]["who"]["display"] for p in signed} == {"Ada Synthetic, MD"}
    unnamed = fhir.bundle(chart(staff={}))  # a user the service found no name for is still named, not dropped
    assert {p["name"][0]["text"] for p in _resources(unnamed, "Practitioner") if p.get("identifier")} == \
        {f"user {PHYSICIAN}", f"user {NURSE}"}


def test_sedation_and_dissociation_scores_are_observations():
    bundle = fhir.bundle(chart())
    scores = {o["code"]["text"].split(" ")[0]: o for o in _resources(bundle, "Observation")
              if o["category"][0]["coding"][0]["code"] == "survey" and "encounter" in o}
    assert set(scores) == {"MOAA/S", "RASS", "CADSS-6"}
    assert scores["MOAA/S"]["valueInteger"] == 2 and scores["RASS"]["valueInteger"] == -4
    assert scores["RASS"]["note"][0]["text"] == "RASS -4: deep sedation"
    assert scores["CADSS-6"]["valueInteger"] == sum(CADSS6.values())
    assert [c["valueInteger"] for c in scores["CADSS-6"]["component"]] == list(CADSS6.values())
    for score in scores.values():  # no code was found for these scales: text only, never an invented code
        assert "coding" not in score["code"] and score["effectiveDateTime"].startswith("2026-03-09T09:20")


def test_an_amended_vitals_event_amends_its_scores():
    events = (_event(1, "vitals", 20, {"observation": {"minute": 20, "systolic_mmhg": 130, "diastolic_mmhg": 80,
                                                       "heart_rate_bpm": 76, "spo2_pct": 97,
                                                       "respiratory_rate_per_min": 14, "moaas": 2}}),
              _event(2, "amendment", 22, {"reason": "MOAA/S misread", "correction": {"moaas": 4}}, amends=1))
    bundle = fhir.bundle(chart(events={1: events}))
    moaas = next(o for o in _resources(bundle, "Observation") if o["code"]["text"].startswith("MOAA/S"))
    assert moaas["valueInteger"] == 4 and moaas["status"] == "amended"
    provenance = next(p for p in _resources(bundle, "Provenance") if p.get("reason", [{}])[0].get("text") == "MOAA/S misread")
    assert any(t["reference"] == next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is moaas or
                                      e["resource"] == moaas) for t in provenance["target"])


def test_side_effects_are_adverse_events_with_the_dose_under_way_as_suspect():
    bundle = fhir.bundle(chart())
    events = {a["event"]["text"].split(" (")[0]: a for a in _resources(bundle, "AdverseEvent")}
    assert set(events) == {"nausea", "dissociation"}
    assert events["nausea"]["severity"]["coding"][0]["code"] == "moderate"
    assert events["dissociation"]["severity"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/adverse-event-severity", "code": "severe", "display": "Severe"}
    assert "felt &lt;far&gt; away" in events["dissociation"]["text"]["div"]  # the note, escaped, in the narrative
    assert events["dissociation"]["identifier"]["system"] == identifier_system(INSTALLATION, "session-event")
    administrations = {e["fullUrl"]: e["resource"] for e in bundle["entry"]
                       if e["resource"]["resourceType"] == "MedicationAdministration"}
    for event in events.values():
        assert event["actuality"] == "actual" and event["recorder"]["display"] == "Ben Synthetic, RN"
        suspect = administrations[event["suspectEntity"][0]["instance"]["reference"]]
        start = datetime.fromisoformat(suspect["effectivePeriod"]["start"])
        end = datetime.fromisoformat(suspect["effectivePeriod"]["end"])
        assert start <= datetime.fromisoformat(event["date"]) <= end  # the infusion running at the time


def test_alerts_are_detected_issues_with_their_evidence_and_acknowledgement():
    bundle = fhir.bundle(chart())
    [issue] = _resources(bundle, "DetectedIssue")
    assert issue["severity"] == "high" and issue["status"] == "final"
    assert "rass sedation critical" in issue["code"]["text"] and "Recommended action: stop infusion" in issue["detail"]
    assert "Clinic policy" in issue["detail"]  # the rule's source, cited
    urls = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    evidence = [urls[d["reference"]] for d in issue["evidence"][0]["detail"]]  # everything the rules judged
    assert {o["code"]["coding"][0]["code"] for o in evidence if o["resourceType"] == "Observation"
            and "coding" in o["code"]} == {"85354-9", "8867-4", "2708-6", "9279-1"}
    assert {o["code"]["text"].split(" ")[0] for o in evidence if o["resourceType"] == "Observation"
            and "coding" not in o["code"]} == {"MOAA/S", "RASS", "CADSS-6"}
    assert [o["event"]["text"] for o in evidence if o["resourceType"] == "AdverseEvent"] == [
        "nausea (side effect during a ketamine infusion)"]
    assert urls[issue["implicated"][0]["reference"]]["resourceType"] == "MedicationAdministration"
    [mitigation] = issue["mitigation"]
    assert mitigation["action"]["text"] == "Acknowledged: infusion stopped, physician called"
    assert mitigation["author"]["display"] == "Ben Synthetic, RN"
    unanswered = fhir.bundle(chart(events={1: chart().events[1][:3]}))
    assert "mitigation" not in _resources(unanswered, "DetectedIssue")[0]


def test_a_diary_observation_names_its_diary_entry():
    bundle = fhir.bundle(chart())
    [response] = _resources(bundle, "QuestionnaireResponse")
    assert response["identifier"] == {"system": identifier_system(INSTALLATION, "diary-entry"), "value": "5"}
    url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is response or e["resource"] == response)
    pain = next(o for o in _resources(bundle, "Observation") if o.get("derivedFrom"))
    assert pain["valueInteger"] == 4
    assert pain["derivedFrom"][0]["reference"] == url
    assert pain["derivedFrom"][0]["identifier"] == response["identifier"]


def test_edge_cases_of_side_effects_and_alerts():
    """A side effect after the stop names the last dose given; a patient is never a mitigation's author
    (R4: Practitioner only); an alert citing an unknown source still says which."""
    base = chart().events[1]
    alert = {**base[1].payload, "source": "no_such_source"}
    events = (base[0], _event(2, "alert", 20, alert),
              _event(3, "side_effect", 60, {"code": "headache", "severity": "mild"}),
              _event(4, "alert_ack", 26, {"alert_event_id": 2, "action_taken": "seen"}, by=PATIENT_USER))
    bundle = fhir.bundle(chart(events={1: events}))
    urls = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    headache = next(a for a in _resources(bundle, "AdverseEvent") if a["event"]["text"].startswith("headache"))
    suspect = urls[headache["suspectEntity"][0]["instance"]["reference"]]
    assert suspect["effectivePeriod"]["end"].startswith("2026-03-09T09:45")  # the infusion stopped at 45 min
    [issue] = _resources(bundle, "DetectedIssue")
    assert "author" not in issue["mitigation"][0] and "Source: no_such_source." in issue["detail"]
    assert "reference" not in issue


def test_a_documented_crps_type_and_limb_give_its_exact_icd10_code():
    screening = {**SCREENING, "pain": {**SCREENING["pain"], "conditions": ["crps"],
                                       "crps": {"type": "II", "limb": "lower", "side": "right"}}}
    base = chart()
    evaluation = dataclasses.replace(base.evaluations[0], screening_input=screening)
    bundle = fhir.bundle(dataclasses.replace(base, evaluations=(evaluation,)))
    crps = [c for c in _resources(bundle, "Condition") if c["code"]["text"].startswith("Complex regional")]
    assert [(c["system"].rsplit("/", 1)[-1], c["code"]) for c in crps[0]["code"]["coding"]] == [
        ("icd-10-cm", "G57.71"), ("sct", "408751001")]
