"""`ketaclinic export`: a patient's FHIR Bundle from the terminal, under a clinician's account."""

from __future__ import annotations

import json
from datetime import date

from typer.testing import CliRunner

from ketaclinic.cli import app
from ketaclinic.records.db import Database
from ketaclinic.services.context import Actor
from ketaclinic.services.patients import PatientIn, create_patient
from ketaclinic.services.users import UserCreate, create_user

runner = CliRunner()


def test_export_bundle_is_audited_and_refuses_bad_credentials(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    monkeypatch.setenv("KETACLINIC_DATABASE_URL", url)
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    db = Database(url)
    try:
        create_user(db, Actor.system("test"), UserCreate(username="dr_test", role="physician", password="a long test password"))
        create_user(db, Actor.system("test"), UserCreate(username="desk", role="coordinator", password="a long test password"))
        patient = create_patient(db, Actor.system("test"), PatientIn(
            given_name="Synthetic", family_name="Export Test (demo)", birth_date=date(1970, 1, 1), sex="female", weight_kg=70))
    finally:
        db.dispose()
    args = ["export", "--patient", str(patient.id), "--password-stdin"]

    result = runner.invoke(app, [*args, "--username", "dr_test"], input="a long test password\n")
    assert result.exit_code == 0, result.stdout
    bundle = json.loads(result.stdout)
    assert bundle["resourceType"] == "Bundle"
    assert any(e["resource"]["resourceType"] == "Patient" for e in bundle["entry"])

    wrong = runner.invoke(app, [*args, "--username", "dr_test"], input="not it\n")
    assert wrong.exit_code == 2 and json.loads(wrong.stdout)["error"]["code"] == "invalid_credentials"
    coordinator = runner.invoke(app, [*args, "--username", "desk"], input="a long test password\n")
    assert coordinator.exit_code == 2
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0


def test_export_fhir_then_import_fhir_into_another_clinic(tmp_path, monkeypatch):
    """`ketaclinic export fhir` in one clinic, `ketaclinic import fhir --file` in another."""
    from tests.interop.test_fhir_import import referral_bundle

    first, second = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    for url in (first, second):
        monkeypatch.setenv("KETACLINIC_DATABASE_URL", url)
        assert runner.invoke(app, ["migrate"]).exit_code == 0
        db = Database(url)
        try:
            create_user(db, Actor.system("test"), UserCreate(username="dr_test", role="physician",
                                                             password="a long test password"))
        finally:
            db.dispose()
    referral = tmp_path / "referral.json"
    referral.write_text(json.dumps(referral_bundle()))
    monkeypatch.setenv("KETACLINIC_DATABASE_URL", first)
    sign = ["--username", "dr_test", "--password-stdin"]
    imported = runner.invoke(app, ["import", "fhir", "--file", str(referral), *sign], input="a long test password\n")
    assert imported.exit_code == 0, imported.stdout
    report = json.loads(imported.stdout)
    assert report["report"]["pain_conditions"] == ["crps"] and report["evaluation_id"]

    exported = runner.invoke(app, ["export", "fhir", "--patient", str(report["patient_id"]), *sign],
                             input="a long test password\n")
    assert exported.exit_code == 0, exported.stdout
    (tmp_path / "out.json").write_text(exported.stdout)
    monkeypatch.setenv("KETACLINIC_DATABASE_URL", second)
    again = runner.invoke(app, ["import", "fhir", "--file", str(tmp_path / "out.json"), *sign],
                          input="a long test password\n")
    assert again.exit_code == 0, again.stdout
    assert json.loads(again.stdout)["report"]["medications"] == ["amlodipine 5 mg daily"]
    attached = runner.invoke(app, ["import", "fhir", "--file", str(referral), "--patient",
                                   str(json.loads(again.stdout)["patient_id"]), *sign], input="a long test password\n")
    assert attached.exit_code == 0, attached.stdout  # a later referral joins that chart
    assert json.loads(attached.stdout)["patient_id"] == json.loads(again.stdout)["patient_id"]

    (tmp_path / "bad.json").write_text('{"resourceType": "Bundle", "type": "collection"}')
    bad = runner.invoke(app, ["import", "fhir", "--file", str(tmp_path / "bad.json"), *sign],
                        input="a long test password\n")
    assert bad.exit_code == 2 and json.loads(bad.stdout)["error"]["code"] == "invalid_referral"
    missing = runner.invoke(app, ["import", "fhir", "--file", str(tmp_path / "nope.json"), *sign],
                            input="a long test password\n")
    assert missing.exit_code == 2 and json.loads(missing.stdout)["error"]["code"] == "file_not_found"
