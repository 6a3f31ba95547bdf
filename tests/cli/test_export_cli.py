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
