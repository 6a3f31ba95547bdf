"""The audit chain: intact when untouched; an edited, deleted or inserted row is found and named."""

import json
import subprocess
import threading
from datetime import UTC, datetime

from sqlalchemy import select, text

from ketaclinic.records.audit import AuditEntry, append, entry_hash, verify_chain
from ketaclinic.records.db import Database

DROP_GUARDS = {
    "sqlite": ["DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"],
    "postgresql": ["DROP TRIGGER audit_log_append_only ON audit_log"],
}


def _fill(db, n=5):
    with db.transaction() as s:
        for i in range(n):
            append(s, action="patient.read", username="nurse", role="nurse", record_type="patient", record_id=i,
                   ip="10.0.0.1", detail={"i": i, "note": "ünïcode"})


def _tamper(db, engine, *statements):
    """What an attacker with database access does: remove the guard, then change rows."""
    with db.engine.begin() as connection:
        for sql in DROP_GUARDS[engine] + list(statements):
            connection.execute(text(sql))


def _report(db):
    with db.reading() as s:
        return verify_chain(s)


def test_intact_chain_verifies(db):
    _fill(db)
    report = _report(db)
    assert report.intact and report.entries == 5 and report.head_seq == 5 and report.first_break is None


def test_edited_row_is_named(db, engine):
    _fill(db)
    _tamper(db, engine, "UPDATE audit_log SET username = 'someone_else' WHERE seq = 3")
    report = _report(db)
    assert not report.intact
    assert (report.first_break.seq, report.first_break.kind) == (3, "changed")


def test_edited_row_with_recomputed_hash_is_named(db, engine):
    _fill(db)
    with db.reading() as s:
        row = s.get(AuditEntry, 2)
        forged = entry_hash(seq=2, at=row.at, user_id=None, username="forger", role=row.role, action=row.action,
                            record_type=row.record_type, record_id=row.record_id, ip=row.ip, detail=row.detail,
                            prev_hash=row.prev_hash)
    _tamper(db, engine, f"UPDATE audit_log SET username = 'forger', hash = '{forged}' WHERE seq = 2")
    brk = _report(db).first_break
    assert brk.seq == 3 and brk.kind == "changed"


def test_deleted_row_is_named(db, engine):
    _fill(db)
    _tamper(db, engine, "DELETE FROM audit_log WHERE seq = 4")
    brk = _report(db).first_break
    assert (brk.seq, brk.kind) == (4, "removed")


def test_deleted_last_row_is_named(db, engine):
    _fill(db)
    _tamper(db, engine, "DELETE FROM audit_log WHERE seq = 5")
    brk = _report(db).first_break
    assert (brk.seq, brk.kind) == (5, "removed")


def test_inserted_row_is_named_even_with_a_valid_hash(db, engine):
    _fill(db)
    with db.reading() as s:
        last = s.get(AuditEntry, 5)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    forged = entry_hash(seq=6, at=at, user_id=None, username="ghost", role="admin", action="x", record_type=None,
                        record_id=None, ip=None, detail="{}", prev_hash=last.hash)
    with db.transaction() as s:
        s.execute(text("INSERT INTO audit_log (seq, at, username, role, action, detail, prev_hash, hash) "
                       "VALUES (6, :at, 'ghost', 'admin', 'x', '{}', :prev, :hash)"),
                  {"at": at if engine == "postgresql" else at.replace(tzinfo=None), "prev": last.hash, "hash": forged})
    brk = _report(db).first_break
    assert (brk.seq, brk.kind) == (6, "inserted")


def test_cli_verify_exit_codes(db, engine, settings, tmp_path):
    _fill(db, 3)
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": settings.database_url, "HOME": str(tmp_path)}
    ok = subprocess.run([".venv/bin/ketaclinic", "audit", "verify"], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["intact"] is True
    _tamper(db, engine, "UPDATE audit_log SET ip = '6.6.6.6' WHERE seq = 2")
    bad = subprocess.run([".venv/bin/ketaclinic", "audit", "verify"], capture_output=True, text=True, env=env)
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["first_broken"] == {"seq": 2, "kind": "changed",
                                                      "reason": "entry 2 does not match its hash: its content was changed"}


def test_two_writers_never_fork_the_chain(db, settings):
    """Two threads, each with its own engine (like two workers), append at once: nothing lost, chain valid."""
    per_thread, errors = 40, []

    def writer(name):
        own = Database(settings.database_url)
        try:
            for i in range(per_thread):
                with own.transaction() as s:
                    append(s, action="concurrent", username=name, detail={"i": i})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=writer, args=(f"w{k}",)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = _report(db)
    assert report.intact and report.entries == 2 * per_thread
    with db.reading() as s:
        assert sorted(s.execute(select(AuditEntry.seq)).scalars()) == list(range(1, 2 * per_thread + 1))
