"""Referrals in the web UI: upload a Bundle, read what was taken and ignored, complete the draft, export."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from ketaclinic.records.patients import Patient
from tests.interop.test_fhir_import import referral_bundle
from tests.web.conftest import csrf_of


def _patients(db) -> int:
    with db.reading() as session:
        return session.execute(select(func.count()).select_from(Patient)).scalar_one()


def test_a_coordinator_uploads_a_referral_and_the_physician_completes_it(signed_in, db):
    client = signed_in("coordinator")
    assert 'href="/referrals/new"' in client.get("/patients").text
    form = client.get("/referrals/new")
    report = client.post("/referrals/new", data={"csrf_token": csrf_of(form.text)},
                         files={"file": ("referral.json", json.dumps(referral_bundle()), "application/fhir+json")})
    assert report.status_code == 200, report.text[:400]
    assert "1 to check with the patient" in report.text  # a coordinator sees counts, not clinical detail
    assert "Essential hypertension" not in report.text
    chart_link = report.text.split('href="/patients/')[1].split('"')[0]
    chart = client.get(f"/patients/{chart_link}").text
    assert "Dr Synthetic Sender" in chart and "what was taken and ignored" in chart
    referral_path = report.url.path

    physician = signed_in("physician")
    full = physician.get(referral_path).text
    assert "Check with the patient" in full and "Essential hypertension (I10" in full
    assert "Encounter" in full and "only Patient, Condition" in full
    chart = physician.get(f"/patients/{chart_link}").text
    evaluation_id = full.split('href="/evaluations/')[1].split('"')[0]
    draft = physician.get(f"/evaluations/{evaluation_id}")
    assert draft.status_code == 200
    assert "— not answered yet —" in draft.text  # the screening history is asked, never pre-filled
    assert 'id="referral-flags"' in draft.text and "Essential hypertension" in draft.text  # beside the sign button
    assert 'value="amlodipine 5 mg daily"' in draft.text or "amlodipine 5 mg daily" in draft.text
    exported = physician.get(f"/patients/{chart_link}/fhir.json")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/fhir+json")
    assert json.loads(exported.text)["resourceType"] == "Bundle"
    assert "attachment" in exported.headers["content-disposition"]
    assert 'href="/patients/' + chart_link + '/fhir.json"' in chart


def test_a_bad_bundle_gets_the_form_back_with_the_reason_and_stores_nothing(signed_in, db):
    client = signed_in("physician")
    before = _patients(db)
    form = client.get("/referrals/new")
    not_json = client.post("/referrals/new", data={"csrf_token": csrf_of(form.text), "bundle": "{not json"})
    assert not_json.status_code == 422 and "This is not JSON" in not_json.text
    no_patient = client.post("/referrals/new", data={"csrf_token": csrf_of(form.text), "bundle": json.dumps(
        {"resourceType": "Bundle", "type": "collection", "entry": []})})
    assert no_patient.status_code == 422 and "exactly one Patient" in no_patient.text
    assert _patients(db) == before


def test_nurses_do_not_import_referrals_or_export_records(signed_in, clinic):
    nurse = signed_in("nurse")
    assert nurse.get("/referrals/new").status_code == 403
    assert nurse.get(f"/patients/{clinic.own_patient_id}/fhir.json").status_code == 403


def test_the_same_referral_twice_asks_before_a_second_chart(signed_in, db):
    client = signed_in("physician")
    form = client.get("/referrals/new")
    body = json.dumps(referral_bundle())
    assert client.post("/referrals/new", data={"csrf_token": csrf_of(form.text), "bundle": body}).status_code == 200
    before = _patients(db)
    again = client.post("/referrals/new", data={"csrf_token": csrf_of(form.text), "bundle": body})
    assert again.status_code == 422 and "imported already" in again.text and 'name="confirm_new_chart"' in again.text
    assert _patients(db) == before
    confirmed = client.post("/referrals/new", data={"csrf_token": csrf_of(form.text), "bundle": body,
                                                    "confirm_new_chart": "yes"})
    assert confirmed.status_code == 200 and _patients(db) == before + 1


def test_a_physician_adds_a_later_referral_from_the_chart(signed_in, db):
    client = signed_in("physician")
    form = client.get("/referrals/new")
    client.post("/referrals/new", data={"csrf_token": csrf_of(form.text), "bundle": json.dumps(referral_bundle())})
    with db.reading() as session:
        pid = session.execute(select(func.max(Patient.id))).scalar_one()
    chart = client.get(f"/patients/{pid}").text
    assert f'href="/patients/{pid}/referrals/new"' in chart
    page = client.get(f"/patients/{pid}/referrals/new")
    assert "Add a referral to this chart" in page.text
    later = referral_bundle()
    later["identifier"]["value"] = "REF-LATER"
    before = _patients(db)
    added = client.post(f"/patients/{pid}/referrals/new", data={"csrf_token": csrf_of(page.text), "bundle": json.dumps(later)})
    assert added.status_code == 200 and "Referral added to the chart" in added.text and _patients(db) == before
    stranger = referral_bundle()
    stranger["entry"][0]["resource"]["name"][0]["family"] = "Someone Else (demo)"
    refused = client.post(f"/patients/{pid}/referrals/new", data={"csrf_token": csrf_of(page.text),
                                                                  "bundle": json.dumps(stranger)})
    assert refused.status_code == 422 and "not this chart" in refused.text
