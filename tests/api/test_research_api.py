"""``POST /api/v1/research/exports``: the admin gets the ZIP as an attachment; every other role 403; bad parameters 422."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import date, timedelta

import pytest

from ketaclinic.services.audit import AuditFilter, list_audit
from tests.interop.flows import T0, completed, signed_plan

URL = "/api/v1/research/exports"


@pytest.fixture
def engine() -> str:
    """The export is tested on both engines in tests/interop; the HTTP edge runs on SQLite."""
    return "sqlite"


def five_treated(db, clinic) -> list[int]:
    """Five patients with two completed sessions each (k = 5 lets them out, all in the 2-3 sessions band)."""
    from ketaclinic.services.patients import PatientIn, create_patient

    ids = [clinic.own_patient_id, clinic.other_patient_id]
    for i in range(3):
        ids.append(create_patient(db, clinic.actors["coordinator"], PatientIn(
            given_name="Synthetic", family_name=f"Researchapi{i} (demo)", birth_date=date(1960, 1, 1 + i),
            sex="female", weight_kg=70.0)).id)
    for n, pid in enumerate(ids):
        plan = signed_plan(db, clinic, pid, now=T0 + timedelta(days=n))
        completed(db, clinic, plan, T0 + timedelta(days=n + 3))
        completed(db, clinic, plan, T0 + timedelta(days=n + 10))
    return ids


def test_the_admin_downloads_the_zip(client, headers, db, clinic):
    five_treated(db, clinic)
    response = client.post(URL, headers=headers["admin"], json={"format": "parquet", "k": 5, "condition": "crps"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="ketaclinic-research-') and disposition.endswith('.zip"')
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-sha256"] == hashlib.sha256(response.content).hexdigest()
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
    assert {"patients.parquet", "events.parquet", "data_dictionary.csv", "README.md", "manifest.json"} <= names
    assert manifest["patients"] == 5 and manifest["k"] == 5 and manifest["cohort"]["condition"] == "crps"
    month = disposition.removeprefix('attachment; filename="ketaclinic-research-').removesuffix('.zip"')
    assert len(month) == 7 and month == manifest["generated_month"], "the month only, as in the manifest"
    entry = list_audit(db, clinic.actors["admin"], AuditFilter(action="research.export"), limit=1).items[0]
    assert entry.detail["condition"] == "crps" and entry.detail["sha256"] == response.headers["x-content-sha256"]


def test_an_empty_cohort_is_a_clear_422_not_an_empty_zip(client, headers, db, clinic):
    five_treated(db, clinic)
    response = client.post(URL, headers=headers["admin"], json={"k": 5, "condition": "migraine"})
    assert response.status_code == 422 and response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "cohort_empty" and "empty" in error["message"] and error["field"] == "condition"
    entry = list_audit(db, clinic.actors["admin"], AuditFilter(action="research.export.refused"), limit=1).items[0]
    assert entry.detail["reason"] == "cohort_empty" and entry.detail["condition"] == "migraine"


def test_one_treated_patient_is_too_small_a_cohort(client, headers, db, clinic):
    completed(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), T0 + timedelta(days=2))
    response = client.post(URL, headers=headers["admin"], json={})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "cohort_too_small" and error["message"].startswith("the cohort has fewer than k = 11 patients")
    assert "has 1 patient" not in error["message"], "never the count"
    entry = list_audit(db, clinic.actors["admin"], AuditFilter(action="research.export.refused"), limit=1).items[0]
    assert entry.detail["reason"] == "cohort_too_small" and "patients" not in entry.detail


@pytest.mark.parametrize("role", ["physician", "nurse", "coordinator", "patient"])
def test_every_other_role_is_refused(client, headers, role):
    response = client.post(URL, headers=headers[role], json={"format": "csv"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"


def test_anonymous_is_asked_to_log_in(client):
    assert client.post(URL, json={}).status_code == 401


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"k": 4}, "k", "k must be at least 5"),
    ({"k": "many"}, "k", "whole number"),
    ({"format": "xlsx"}, "format", "format must be one of csv, parquet"),
    ({"start": "2026-03-01", "end": "2026-01-01"}, "end", "start (2026-03-01) must be on or before end (2026-01-01)"),
    ({"condition": "gout"}, "condition", "unknown condition 'gout'"),
    ({"start": "2026-02-30"}, "start", "date"),
    ({"kay": 11}, "kay", "unknown field"),
    ({"condition": []}, "condition", "unknown condition"),  # found by schemathesis: a list is not a condition
    ({"format": {"csv": 1}}, "format", "format must be one of"),
    ({"k": True}, "k", "whole number"),
])
def test_bad_parameters_say_what_is_wrong(client, headers, body, field, words):
    response = client.post(URL, headers=headers["admin"], json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == field and words in error["message"], error


def test_dates_are_the_clinics_days(settings, db, clinic):
    """The review's s17_tz: days were UTC. Here the clinic is ten hours behind UTC, so the 09:00 UTC sessions
    fall on the clinic's previous day: the range chooses all five only in the clinic's days."""
    from fastapi.testclient import TestClient

    from ketaclinic.api.app import create_app
    from ketaclinic.clock import utcnow
    from ketaclinic.services.auth import issue_token

    five_treated(db, clinic)
    body = {"k": 5, "start": (T0 + timedelta(days=2)).date().isoformat(),
            "end": (T0 + timedelta(days=6)).date().isoformat()}
    token, _ = issue_token(db, clinic.actors["admin"], now=utcnow(), lifetime_s=600)
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings.model_copy(update={"clinic_timezone": "Etc/GMT+10"}), db=db)) as local:
        response = local.post(URL, headers=auth, json=body)
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert json.loads(archive.read("manifest.json"))["patients"] == 5
    with TestClient(create_app(settings, db=db)) as utc:
        assert utc.post(URL, headers=auth, json=body).json()["error"]["code"] == "cohort_too_small", \
            "in UTC days the first session of one of them falls outside the range"
