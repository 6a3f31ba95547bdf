"""Backup and restore round trip: every table comes back exactly as it was."""

import json
import subprocess
from datetime import date

from sqlalchemy import select, text

from ketaclinic.records.models import metadata
from ketaclinic.services.context import Actor
from ketaclinic.services.inquiries import InquiryIn, submit_inquiry
from ketaclinic.services.patients import PatientIn, PatientPatch, create_patient, update_patient


def _snapshot(db):
    out = {}
    with db.reading() as s:
        for table in metadata.sorted_tables:
            key = [c for c in table.primary_key.columns]
            out[table.name] = [tuple(row) for row in s.execute(select(table).order_by(*key)).all()]
    return out


def _run(args, settings, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": settings.database_url, "HOME": str(tmp_path)}
    return subprocess.run([".venv/bin/ketaclinic", *args], capture_output=True, text=True, env=env)


def test_round_trip_loses_nothing(db, clinic, settings, tmp_path):
    coordinator = clinic.actors["coordinator"]
    patient = create_patient(db, coordinator, PatientIn(given_name="Synthetic", family_name="Backup",
                                                        birth_date=date(1990, 5, 6), sex="other", weight_kg=55.5))
    update_patient(db, coordinator, patient.id, 1, PatientPatch(phone="+1 555 0100"))
    submit_inquiry(db, settings, Actor.public("1.2.3.4"), InquiryIn(name="Synthetic Asker", email="a@example.org",
                   preferred_contact="email", message="hello", consent_to_contact=True))
    before = _snapshot(db)
    assert all(before[t] for t in ("users", "patients", "patient_versions", "patient_weights", "inquiries", "audit_log"))

    backup_file = tmp_path / "clinic.backup"
    made = _run(["backup", str(backup_file)], settings, tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr

    # Life goes on after the backup: more rows, which the restore must take away again.
    create_patient(db, coordinator, PatientIn(given_name="Synthetic", family_name="Later", birth_date=date(1991, 1, 1),
                                              sex="female"))
    assert _snapshot(db) != before
    db.dispose()

    restored = _run(["restore", str(backup_file)], settings, tmp_path)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert json.loads(restored.stdout)["audit"]["intact"] is True
    assert _snapshot(db) == before
    with db.reading() as s:  # the guards came back too
        assert s.execute(text("SELECT count(*) FROM audit_log")).scalar() == len(before["audit_log"])


def test_restore_refuses_a_file_that_is_not_a_backup(db, settings, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a backup at all")
    result = _run(["restore", str(junk)], settings, tmp_path)
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"]["code"] == "restore_failed"
