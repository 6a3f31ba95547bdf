"""Issue 16 item 4: a restore checks the backup's audit chain first and always puts the triggers back;
``ketaclinic migrate`` checks and repairs the triggers too."""

import json
import subprocess

import pytest
from sqlalchemy import select, text

from ketaclinic.records.audit import AuditEntry, append
from ketaclinic.records.models import metadata
from ketaclinic.records.triggers import check_guards, expected_guards

DROP_AUDIT_GUARDS = {
    "sqlite": ["DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"],
    "postgresql": ["DROP TRIGGER audit_log_append_only ON audit_log"],
}
DROP_SESSION_SEAL = {
    "sqlite": ["DROP TRIGGER sessions_sealed_no_update", "DROP TRIGGER sessions_sealed_no_delete"],
    "postgresql": ["DROP TRIGGER sessions_sealed ON sessions"],
}


def _run(args, settings, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": settings.database_url, "HOME": str(tmp_path)}
    return subprocess.run([".venv/bin/ketaclinic", *args], capture_output=True, text=True, env=env)


def _fill(db, n=4):
    with db.transaction() as s:
        for i in range(n):
            # text the COPY format escapes: tab, newline, backslash, quotes, non-ASCII
            append(s, action="patient.read", username="nurse", role="nurse", record_type="patient", record_id=i,
                   ip="10.0.0.1", detail={"i": i, "note": "tab\there\nnew line \\ back 'q' \"dq\" ünïcode ☃"})


def _execute(db, *statements):
    with db.engine.begin() as connection:
        for sql in statements:
            connection.execute(text(sql))


def _snapshot(db):
    out = {}
    with db.reading() as s:
        for table in metadata.sorted_tables:
            key = list(table.primary_key.columns)
            out[table.name] = [tuple(row) for row in s.execute(select(table).order_by(*key)).all()]
    return out


def _problems(db):
    with db.engine.begin() as connection:
        return check_guards(connection)


def _audit_update_refused(db):
    try:
        _execute(db, "UPDATE audit_log SET username = 'x' WHERE seq = 1")
    except Exception:
        return True
    return False


def test_fresh_schema_has_every_guard(db, engine):
    assert _problems(db) == []
    names = {g.name for g in expected_guards(engine)}
    assert {"audit_log_append_only", "sessions_sealed"} <= names if engine == "postgresql" else \
        {"audit_log_no_update", "sessions_sealed_no_delete"} <= names


def test_a_tampered_backup_is_refused_and_nothing_replaced(db, engine, settings, tmp_path):
    _fill(db)
    _execute(db, *DROP_AUDIT_GUARDS[engine], "UPDATE audit_log SET username = 'someone_else' WHERE seq = 2")
    backup_file = tmp_path / "tampered.backup"
    assert _run(["backup", str(backup_file)], settings, tmp_path).returncode == 0
    _execute(db, "UPDATE audit_log SET username = 'nurse' WHERE seq = 2")  # the live chain is whole again
    _fill(db, 1)
    before = _snapshot(db)
    db.dispose()

    refused = _run(["restore", str(backup_file)], settings, tmp_path)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    body = json.loads(refused.stdout)
    assert body["error"]["code"] == "broken_chain"
    assert body["backup_chain"]["first_broken"]["seq"] == 2
    assert "--accept-broken-chain" in body["error"]["message"]
    assert _snapshot(db) == before  # nothing replaced


def test_a_backup_missing_an_audit_entry_is_refused(db, engine, settings, tmp_path):
    _fill(db)
    _execute(db, *DROP_AUDIT_GUARDS[engine], "DELETE FROM audit_log WHERE seq = 3")
    backup_file = tmp_path / "gap.backup"
    assert _run(["backup", str(backup_file)], settings, tmp_path).returncode == 0
    db.dispose()
    refused = _run(["restore", str(backup_file)], settings, tmp_path)
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["backup_chain"]["first_broken"] == {
        "seq": 3, "kind": "removed", "reason": "entry 3 is missing (the next entry present is 4)"}


def test_accepting_a_broken_chain_restores_audits_and_reinstalls_the_triggers(db, engine, settings, tmp_path):
    _fill(db)
    _execute(db, *DROP_AUDIT_GUARDS[engine], "UPDATE audit_log SET ip = '6.6.6.6' WHERE seq = 1")
    backup_file = tmp_path / "tampered.backup"
    assert _run(["backup", str(backup_file)], settings, tmp_path).returncode == 0
    db.dispose()

    accepted = _run(["restore", "--accept-broken-chain", str(backup_file)], settings, tmp_path)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    body = json.loads(accepted.stdout)
    assert body["restore"]["accepted_broken_chain"] is True
    assert any(p.startswith("audit_log_") for p in body["restore"]["guards_repaired"])
    with db.reading() as s:
        last = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    assert last.action == "backup.restore_broken_chain"
    assert last.username.startswith("system:restore")
    assert json.loads(last.detail)["backup_chain"]["first_broken"]["seq"] == 1
    assert _problems(db) == []
    assert _audit_update_refused(db)


def test_an_intact_backup_without_its_triggers_gets_them_back(db, engine, settings, tmp_path):
    _fill(db)
    _execute(db, *DROP_AUDIT_GUARDS[engine], *DROP_SESSION_SEAL[engine])
    assert _problems(db)
    backup_file = tmp_path / "no-triggers.backup"
    assert _run(["backup", str(backup_file)], settings, tmp_path).returncode == 0
    db.dispose()

    restored = _run(["restore", str(backup_file)], settings, tmp_path)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    body = json.loads(restored.stdout)
    assert body["restore"]["accepted_broken_chain"] is False
    assert body["audit"]["intact"] is True and body["restore"]["backup_chain"]["entries"] == 4
    assert _problems(db) == []
    assert _audit_update_refused(db)


def test_migrate_checks_and_repairs_the_triggers(db, engine, settings, tmp_path):
    first = _run(["migrate"], settings, tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["guards"] == {"intact": True, "repaired": []}

    _fill(db, 1)
    _execute(db, *DROP_AUDIT_GUARDS[engine], *DROP_SESSION_SEAL[engine])
    assert not _audit_update_refused(db)  # the guard really was gone (the update went through)
    db.dispose()
    repaired = _run(["migrate"], settings, tmp_path)
    assert repaired.returncode == 0, repaired.stderr
    guards = json.loads(repaired.stdout)["guards"]
    assert guards["intact"] is False
    assert any("audit_log" in p for p in guards["repaired"]) and any("sessions_sealed" in p for p in guards["repaired"])
    assert _problems(db) == []
    assert _audit_update_refused(db)


ALTER = {
    "sqlite": ["DROP TRIGGER audit_log_no_update",
               "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log WHEN 0 "
               "BEGIN SELECT RAISE(ABORT, 'never'); END"],
    "postgresql": ["ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"],
}


def test_an_altered_or_disabled_trigger_is_found_and_repaired(db, engine, tmp_path, settings):
    _execute(db, *ALTER[engine])
    problems = _problems(db)
    assert problems and problems[0].startswith("audit_log_")
    db.dispose()
    assert _run(["migrate"], settings, tmp_path).returncode == 0
    assert _problems(db) == []


@pytest.mark.parametrize("engine", ["postgresql"])
def test_a_replaced_trigger_function_is_found(db, engine):
    _execute(db, "CREATE OR REPLACE FUNCTION ketaclinic_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
                 "BEGIN RETURN OLD; END $$")
    assert "ketaclinic_refuse_change(): missing or altered" in _problems(db)


@pytest.mark.parametrize("engine", ["postgresql"])
def test_a_sealed_trigger_with_a_weakened_condition_is_found(db, engine):
    _execute(db, "DROP TRIGGER sessions_sealed ON sessions",
             "CREATE TRIGGER sessions_sealed BEFORE UPDATE OR DELETE ON sessions FOR EACH ROW "
             "WHEN (OLD.state = 'discharged') EXECUTE FUNCTION ketaclinic_refuse_change()")
    assert _problems(db) == ["sessions_sealed: altered"]
