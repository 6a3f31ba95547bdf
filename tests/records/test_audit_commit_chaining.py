"""Issue 17: the audit chain no longer serializes the clinic. Entries are chained at commit, so the head
lock is held for the instant of the append, not for the whole request; tamper evidence is unchanged."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from ketaclinic.records import audit as audit_module
from ketaclinic.records.audit import AuditEntry, append, verify_chain
from ketaclinic.records.db import Database
from ketaclinic.records.users import User
from tests.statements import recorded_statements


@pytest.mark.parametrize("engine", ["postgresql"])
def test_an_open_transaction_does_not_hold_the_chain_head(db, settings):
    """Before: the first audit call of a request locked the head until its commit, so a second request's
    audit waited. Now a transaction that has recorded an entry but not committed blocks nobody."""
    other = Database(settings.database_url)
    finished = threading.Event()
    try:
        with db.transaction() as slow:
            append(slow, action="slow.request", username="a")
            slow.execute(select(User.id)).all()  # the request goes on working, its entry not yet chained

            def quick():
                with other.transaction() as uow:
                    append(uow, action="quick.request", username="b")
                finished.set()

            worker = threading.Thread(target=quick)
            worker.start()
            assert finished.wait(timeout=10), "the second request waited for the first one's commit"
            worker.join()
        with db.reading() as uow:
            actions = uow.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars().all()
            report = verify_chain(uow)
    finally:
        other.dispose()
    assert actions[-2:] == ["quick.request", "slow.request"]  # chained in commit order
    assert report.intact


def test_entries_are_chained_in_recording_order_at_commit(db):
    with db.transaction() as uow:
        first = append(uow, action="one", username="a")
        second = append(uow, action="two", username="a")
        assert first.seq is None  # not chained before the commit
    assert (first.seq + 1, first.hash) == (second.seq, second.prev_hash)
    with db.reading() as uow:
        assert verify_chain(uow).intact


def test_a_failure_while_chaining_rolls_back_the_change_with_its_entry(db, monkeypatch, clinic):
    """No change is committed without its audit entry: if chaining fails, the commit fails whole."""
    from ketaclinic.services.patients import PatientIn, create_patient

    with db.reading() as uow:
        before = uow.execute(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1)).scalar()

    def broken(uow, count):
        raise RuntimeError("the disk went away while chaining")

    monkeypatch.setattr(audit_module, "_reserve", broken)
    with pytest.raises(RuntimeError, match="disk went away"):
        create_patient(db, clinic.actors["coordinator"], PatientIn(
            given_name="Synthetic", family_name="Unchained", birth_date="1970-01-01", sex="female"))
    monkeypatch.undo()
    from ketaclinic.records.patients import Patient

    with db.reading() as uow:
        assert uow.execute(select(Patient).where(Patient.family_name == "Unchained")).first() is None
        assert uow.execute(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1)).scalar() == before
        assert verify_chain(uow).intact


def test_the_head_is_locked_only_for_the_audit_statements_before_the_commit(db):
    """The window in which the head row is locked (every other request's commit waits on it) holds the
    chain's own statements only: the request's change is flushed before it, and on PostgreSQL the entries
    and the head's new hash go in one statement (each round trip inside the window also waits for the
    process's GIL under load)."""
    from ketaclinic.records.sites import Site

    with recorded_statements(db.engine) as seen, db.transaction() as uow:
        append(uow, action="site.create", username="a")
        uow.add(Site(name="Synthetic window site", code="WINDOW"))  # not flushed: the commit's to write
    statements = [" ".join(statement.split()).upper() for statement, _ in seen]
    locked_at = next(i for i, s in enumerate(statements) if s.startswith("UPDATE AUDIT_HEAD"))
    inside = statements[locked_at + 1:]
    assert any(s.startswith("INSERT INTO SITES") for s in statements[:locked_at])
    if db.dialect == "postgresql":
        assert len(inside) == 1 and "INSERT INTO AUDIT_LOG" in inside[0] and "UPDATE AUDIT_HEAD" in inside[0], inside
    else:
        assert [s.split(" (")[0].split(" SET")[0] for s in inside] == ["INSERT INTO AUDIT_LOG", "UPDATE AUDIT_HEAD"]
    with db.reading() as uow:
        assert verify_chain(uow).intact


def test_a_rolled_back_transaction_leaves_no_entry_for_the_next_one(db):
    with pytest.raises(ValueError), db.transaction() as uow:
        append(uow, action="doomed", username="a")
        raise ValueError("the request failed")
    with db.transaction() as uow:
        uow.info.setdefault("probe", True)
        append(uow, action="next", username="a")
    with db.reading() as uow:
        actions = uow.execute(select(AuditEntry.action)).scalars().all()
    assert "doomed" not in actions and "next" in actions



@pytest.mark.parametrize("count", [3, audit_module._ONE_STATEMENT_ROWS + 5])
def test_a_transaction_of_many_entries_is_chained_whole_in_order(db, count):
    """A few entries go in the one statement that moves the head; a long batch takes the two-statement path:
    either way every entry is there, in recording order, and the chain and the head agree."""
    with db.transaction() as uow:
        for i in range(count):
            append(uow, action=f"batch.{i}", username="a")
    with db.reading() as uow:
        actions = uow.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars().all()
        report = verify_chain(uow)
    assert actions[-count:] == [f"batch.{i}" for i in range(count)]
    assert report.intact and report.head_seq == report.entries
