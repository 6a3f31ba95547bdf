"""`ketaclinic research-export`: the de-identified ZIP from the terminal, as the admin; JSON receipt; exit 2 on bad input."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import zipfile
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from ketaclinic.cli import app
from ketaclinic.services.audit import AuditFilter, list_audit
from tests.conftest import PASSWORD
from tests.interop.flows import T0, completed, signed_plan

runner = CliRunner()


@pytest.fixture
def engine() -> str:
    return "sqlite"


@pytest.fixture
def treated(db, clinic, settings, monkeypatch):
    """Five treated patients (k = 5 lets them out) in the database the command reads."""
    from datetime import date

    from ketaclinic.services.patients import PatientIn, create_patient

    ids = [clinic.own_patient_id, clinic.other_patient_id]
    for i in range(3):
        ids.append(create_patient(db, clinic.actors["coordinator"], PatientIn(
            given_name="Synthetic", family_name=f"Cli{i} (demo)", birth_date=date(1960, 1, 1 + i), sex="female",
            weight_kg=70.0)).id)
    for n, pid in enumerate(ids):
        completed(db, clinic, signed_plan(db, clinic, pid, now=T0 + timedelta(days=n)), T0 + timedelta(days=n + 3))
    monkeypatch.setenv("KETACLINIC_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("KETACLINIC_SECRET_KEY", settings.secret_key.get_secret_value())
    return ids


def test_the_admin_writes_the_zip_and_gets_a_receipt(treated, db, clinic, tmp_path):
    out = tmp_path / "export.zip"
    out.write_bytes(b"an older export, readable by all")
    os.chmod(out, 0o644)
    old_umask = os.umask(0o022)
    try:
        result = runner.invoke(app, ["research-export", "--format", "parquet", "--k", "5", "--out", str(out),
                                     "--username", "admin", "--password-stdin"], input=PASSWORD + "\n")
    finally:
        os.umask(old_umask)
    assert result.exit_code == 0, result.stdout
    receipt = json.loads(result.stdout)
    data = out.read_bytes()
    assert receipt["written"] == str(out) and receipt["bytes"] == len(data)
    assert receipt["sha256"] == hashlib.sha256(data).hexdigest() and receipt["media_type"] == "application/zip"
    assert receipt["patients"] == 5 and receipt["rows"]["sessions"] == 5 and receipt["k"] == 5
    assert receipt["suppression"]["k"] == 5 and "total_values_suppressed" in receipt["suppression"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600, "confidential even de-identified: the owner only"
    assert len(receipt["generated_month"]) == 7 and "generated_at" not in receipt and receipt["data_up_to"]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert "sessions.parquet" in archive.namelist()
    entry = list_audit(db, clinic.actors["admin"], AuditFilter(action="research.export"), limit=1).items[0]
    assert entry.username == "admin" and entry.detail["format"] == "parquet" and entry.detail["sha256"] == receipt["sha256"]
    assert not (tmp_path / "export.zip.partial").exists()


@pytest.mark.parametrize(("args", "code", "field"), [
    (["--k", "4"], "invalid_input", "k"),
    (["--k", "eleven"], "invalid_input", "k"),
    (["--format", "xlsx"], "invalid_input", "format"),
    (["--start", "2026-03-01", "--end", "2026-01-01"], "invalid_input", "end"),
    (["--start", "yesterday"], "invalid_input", "start"),
    (["--condition", "gout"], "invalid_input", "condition"),
    (["--k", "11"], "cohort_too_small", "k"),
    (["--k", "5", "--condition", "migraine"], "cohort_empty", "condition"),
])
def test_bad_input_exits_2_with_the_json_error(treated, tmp_path, args, code, field):
    out = tmp_path / "x.zip"
    result = runner.invoke(app, ["research-export", "--out", str(out), "--username", "admin", "--password-stdin", *args],
                           input=PASSWORD + "\n")
    assert result.exit_code == 2, result.stdout
    error = json.loads(result.stdout)["error"]
    assert (error["code"], error["field"]) == (code, field) and error["message"]
    assert not out.exists()


def test_the_out_file_is_required_and_its_folder_must_exist(treated, tmp_path):
    for args, code in (([], "missing_field"), (["--out", str(tmp_path / "nowhere" / "x.zip")], "bad_path")):
        result = runner.invoke(app, ["research-export", "--username", "admin", "--password-stdin", *args],
                               input=PASSWORD + "\n")
        assert result.exit_code == 2 and json.loads(result.stdout)["error"] == {
            "code": code, "message": json.loads(result.stdout)["error"]["message"], "field": "out"}


def test_only_the_admin_and_only_with_the_password(treated, tmp_path):
    out = tmp_path / "x.zip"
    base = ["research-export", "--out", str(out), "--k", "5", "--password-stdin"]
    physician = runner.invoke(app, [*base, "--username", "physician"], input=PASSWORD + "\n")
    assert physician.exit_code == 2 and json.loads(physician.stdout)["error"]["code"] == "forbidden"
    wrong = runner.invoke(app, [*base, "--username", "admin"], input="not it\n")
    assert wrong.exit_code == 2 and json.loads(wrong.stdout)["error"]["code"] == "invalid_credentials"
    no_password = runner.invoke(app, ["research-export", "--out", str(out), "--username", "admin"])
    assert no_password.exit_code == 2 and json.loads(no_password.stdout)["error"]["code"] == "password_required"
    assert not out.exists()


def test_the_command_uses_the_clinics_time_zone(treated, tmp_path, monkeypatch):
    """First sessions at 09:00 UTC on T0+3..T0+7 are the evenings of T0+2..T0+6 ten hours west of UTC."""
    args = ["research-export", "--k", "5", "--start", (T0 + timedelta(days=2)).date().isoformat(),
            "--end", (T0 + timedelta(days=6)).date().isoformat(), "--username", "admin", "--password-stdin"]
    utc = runner.invoke(app, [*args, "--out", str(tmp_path / "utc.zip")], input=PASSWORD + "\n")
    assert utc.exit_code == 2 and json.loads(utc.stdout)["error"]["code"] == "cohort_too_small"
    monkeypatch.setenv("KETACLINIC_CLINIC_TIMEZONE", "Etc/GMT+10")
    local = runner.invoke(app, [*args, "--out", str(tmp_path / "local.zip")], input=PASSWORD + "\n")
    assert local.exit_code == 0, local.stdout
    assert json.loads(local.stdout)["patients"] == 5
