"""What a receiving system would have got wrong (issue 18 item 5), checked through the service on
a real database: identifier systems, a referral's identifiers over two clinics, staff names, scores,
side effects, alerts, and the diary link."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from ketaclinic.interop.fhir_ids import URI_SYSTEM, identifier_system
from ketaclinic.records.audit import AuditEntry
from ketaclinic.records.db import Database
from ketaclinic.records.installation import installation_uuid
from ketaclinic.records.migrate import upgrade
from ketaclinic.records.users import User
from ketaclinic.services import diary as dy
from ketaclinic.services import referrals as rf
from ketaclinic.services import sessions as ss
from ketaclinic.services.auth import actor_for
from ketaclinic.services.context import Actor
from ketaclinic.services.fhir import export_patient
from ketaclinic.services.staff import staff_names
from ketaclinic.services.users import UserCreate, UserUpdate, create_user, update_user
from tests.interop.flows import T0, event, running, signed_plan
from tests.interop.test_fhir_import import referral_bundle

AT = T0 + timedelta(days=7)
SENDER_MRN = {"system": "http://sender.example/mrn", "value": "MRN-42"}
CADSS6 = {"cadss_1": 2, "cadss_2": 1, "cadss_6": 1, "cadss_7": 0, "cadss_15": 1, "cadss_22": 0}


def _resources(bundle, kind):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _identifier_systems(node, inside=False):
    if isinstance(node, dict):
        if inside and "value" in node and "system" in node:
            yield node["system"]
        for key, value in node.items():
            yield from _identifier_systems(value, key == "identifier")
    elif isinstance(node, list):
        for value in node:
            yield from _identifier_systems(value, inside)


def _session_with_scores_side_effects_and_an_alert(db, clinic):
    nurse = clinic.actors["nurse"]
    visit = running(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), AT)
    event(db, nurse, visit.id, {"kind": "vitals", "systolic_mmhg": 126, "diastolic_mmhg": 80, "heart_rate_bpm": 72,
                                "spo2_pct": 97, "respiratory_rate_per_min": 12, "moaas": 5, "rass": -4,
                                "cadss6": CADSS6, "side_effects": [{"code": "nausea", "severity": "mild"}]},
          AT + timedelta(minutes=15))
    [alert] = ss.list_events(db, nurse, visit.id, kind="alert").items
    event(db, nurse, visit.id, {"kind": "side_effect", "code": "dissociation", "severity": "moderate",
                                "note": "says the room feels far away"}, AT + timedelta(minutes=18))
    event(db, nurse, visit.id, {"kind": "alert_ack", "alert_event_id": alert.id,
                                "action_taken": "infusion paused, physician at the chair"}, AT + timedelta(minutes=19))
    return visit, alert


def test_the_export_is_audited_and_its_identifier_systems_are_uris(db, clinic):
    _session_with_scores_side_effects_and_an_alert(db, clinic)
    dy.add_entry(db, clinic.actors["patient"], dy.DiaryIn(day=(AT + timedelta(days=1)).date(), pain_nrs=4),
                 now=AT + timedelta(days=1))
    rf.attach_referral(db, clinic.actors["physician"], clinic.own_patient_id, _own_referral(), now=AT)
    bundle = export_patient(db, clinic.actors["physician"], clinic.own_patient_id, now=AT + timedelta(days=2))
    systems = set(_identifier_systems(bundle))
    with db.reading() as session:
        installation = installation_uuid(session)
        audits = session.execute(select(AuditEntry).where(AuditEntry.action == "patient.fhir_export")).scalars().all()
    assert [(a.username, json.loads(a.detail)["entries"]) for a in audits] == [("physician", len(bundle["entry"]))]
    assert not any(s.startswith("urn:ketaclinic") for s in systems), systems
    assert {identifier_system(installation, kind) for kind in ("patient", "user", "session-event", "diary-entry")} \
        <= systems
    own = {identifier_system(installation, kind) for kind in ("patient", "user", "session-event", "diary-entry",
                                                             "site", "consent-signature")}
    assert {identifier_system(installation, kind) for kind in ("site", "consent-signature")} <= systems, \
        "the sites (issue 17) and the signed consents (issue 13) carry this installation's identifiers"
    assert systems - own == {
        SENDER_MRN["system"], "urn:example",  # the sender's record number and the sender's Bundle identifier
        URI_SYSTEM}  # the Bundle's own identifier, a urn:uuid value
    assert bundle["identifier"]["system"] == URI_SYSTEM


def _own_referral() -> dict:
    """The standard referral, for the clinic's own patient (same family name and birth date), with the sender's MRN."""
    document = referral_bundle()
    patient = document["entry"][0]["resource"]
    patient.update(name=[{"family": "Own", "given": ["Synthetic"]}], birthDate="1970-01-02", identifier=[SENDER_MRN])
    return document


def test_a_referrals_identifier_survives_export_import_into_an_empty_clinic_and_export(db, clinic, tmp_path):
    first = clinic.actors["physician"]
    document = referral_bundle()
    document["entry"][0]["resource"]["identifier"] = [
        {**SENDER_MRN, "assigner": {"reference": "Organization/sender", "display": "Sender Hospital"}}]
    view = rf.import_referral(db, first, document, now=AT)
    exported = export_patient(db, first, view.patient_id, now=AT)
    with db.reading() as session:
        first_installation = installation_uuid(session)
    ours = {"system": identifier_system(first_installation, "patient"), "value": str(view.patient_id)}
    sent = {(i["system"], i["value"]) for i in _resources(exported, "Patient")[0]["identifier"]}
    assert sent == {(ours["system"], ours["value"]), (SENDER_MRN["system"], SENDER_MRN["value"])}

    url = f"sqlite:///{tmp_path / 'empty-clinic.db'}"
    upgrade(url)  # a new installation: its own UUID, so its own identifier systems
    empty = Database(url)
    try:
        created = create_user(empty, Actor.system("tests"), UserCreate(username="receiver", role="physician",
                                                                       password="a long synthetic password"))
        with empty.transaction() as session:
            receiver = actor_for(session.get(User, created.id), "127.0.0.1")
            second_installation = installation_uuid(session)
        assert second_installation != first_installation
        imported = rf.import_referral(empty, receiver, exported, now=AT + timedelta(days=1))
        again = export_patient(empty, receiver, imported.patient_id, now=AT + timedelta(days=1))
    finally:
        empty.dispose()
    identifiers = {(i["system"], i["value"]) for i in _resources(again, "Patient")[0]["identifier"]}
    assert identifiers == {(identifier_system(second_installation, "patient"), str(imported.patient_id)),
                           (ours["system"], ours["value"]),  # the first clinic's record number
                           (SENDER_MRN["system"], SENDER_MRN["value"])}  # and the original sender's
    assert _resources(again, "Patient")[0]["identifier"][0]["type"]["coding"][0]["code"] == "MR"


def test_practitioners_are_named_as_the_staff_are(db, clinic):
    admin, physician, nurse = (clinic.actors[r] for r in ("admin", "physician", "nurse"))
    for actor, name, credentials in ((physician, "Ada Synthetic", "MD"), (nurse, "Ben Synthetic", "RN")):
        with db.reading() as session:
            version = session.get(User, actor.user_id).version
        update_user(db, admin, actor.user_id, version, UserUpdate(full_name=name, credentials=credentials))
    _session_with_scores_side_effects_and_an_alert(db, clinic)
    bundle = export_patient(db, physician, clinic.own_patient_id, now=AT + timedelta(hours=1))
    with db.reading() as session:
        expected = staff_names(session, [physician.user_id, nurse.user_id])
    names = {int(p["identifier"][0]["value"]): p["name"][0]["text"] for p in _resources(bundle, "Practitioner")
             if p.get("identifier")}
    assert names == {physician.user_id: expected[physician.user_id], nurse.user_id: expected[nurse.user_id]}
    assert set(names.values()) == {"Ada Synthetic, MD", "Ben Synthetic, RN"}  # not the logins


def test_rass_side_effects_and_alerts_are_exported(db, clinic):
    visit, alert = _session_with_scores_side_effects_and_an_alert(db, clinic)
    bundle = export_patient(db, clinic.actors["physician"], clinic.own_patient_id, now=AT + timedelta(minutes=30))
    scores = {o["code"]["text"].split(" ")[0]: o["valueInteger"] for o in _resources(bundle, "Observation")
              if "coding" not in o["code"]}
    assert scores == {"MOAA/S": 5, "RASS": -4, "CADSS-6": sum(CADSS6.values())}
    adverse = {a["event"]["text"].split(" (")[0]: a for a in _resources(bundle, "AdverseEvent")}
    assert {k: a["severity"]["coding"][0]["code"] for k, a in adverse.items()} == {"nausea": "mild",
                                                                                  "dissociation": "moderate"}
    assert "the room feels far away" in adverse["dissociation"]["text"]["div"]
    urls = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    for each in adverse.values():
        suspect = urls[each["suspectEntity"][0]["instance"]["reference"]]
        assert suspect["resourceType"] == "MedicationAdministration" and suspect["status"] == "in-progress"
    [issue] = _resources(bundle, "DetectedIssue")
    assert issue["identifier"][0]["value"] == str(alert.id) and issue["severity"] == "high"
    assert issue["mitigation"][0]["action"]["text"] == "Acknowledged: infusion paused, physician at the chair"
    assert any(urls[d["reference"]].get("valueInteger") == -4 for d in issue["evidence"][0]["detail"])


def test_a_diary_observation_keeps_its_link_to_the_entry(db, clinic):
    entry = dy.add_entry(db, clinic.actors["patient"], dy.DiaryIn(day=AT.date(), pain_nrs=3), now=AT)
    bundle = export_patient(db, clinic.actors["physician"], clinic.own_patient_id, now=AT + timedelta(days=1))
    with db.reading() as session:
        installation = installation_uuid(session)
    [response] = _resources(bundle, "QuestionnaireResponse")
    assert response["identifier"] == {"system": identifier_system(installation, "diary-entry"), "value": str(entry.id)}
    [pain] = [o for o in _resources(bundle, "Observation") if o.get("derivedFrom")]
    link = pain["derivedFrom"][0]
    assert link["identifier"] == response["identifier"] and pain["valueInteger"] == 3
    assert next(e["resource"] for e in bundle["entry"] if e["fullUrl"] == link["reference"]) == response
