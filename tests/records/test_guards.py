"""Signed and append-only records refuse UPDATE and DELETE: through the ORM and through plain SQL."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from ketaclinic.records.audit import append
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.guards import ImmutableRecordError
from ketaclinic.records.plans import Plan
from ketaclinic.records.sessions import InfusionSession, SessionEvent

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def chart(db, clinic):
    """A signed evaluation, a signed plan, a discharged session with one event, a draft evaluation."""
    physician = clinic.actors["physician"].user_id
    with db.transaction() as s:
        signed = Evaluation(patient_id=clinic.own_patient_id, screening_input={"x": 1}, screening_result={"decision": "eligible"},
                            rule_version="test", status="signed", signed_by=physician, signed_at=NOW)
        draft = Evaluation(patient_id=clinic.own_patient_id, screening_input={"x": 2})
        plan = Plan(patient_id=clinic.own_patient_id, protocol_id="test", weight_kg=70, concentration_mg_per_ml=1.0,
                    steps=[{"rate_mg_per_kg_per_h": 0.5}], pump_program={"rate_ml_per_h": 35}, series_rule={"sessions": 6},
                    status="signed", signed_by=physician, signed_at=NOW)
        s.add_all([signed, draft, plan])
        s.flush()
        session = InfusionSession(patient_id=clinic.own_patient_id, plan_id=plan.id, site_id=1, scheduled_at=NOW, state="discharged")
        s.add(session)
        s.flush()
        event = SessionEvent(session_id=session.id, kind="note", payload={"text": "ok"}, recorded_at=NOW)
        s.add(event)
        s.flush()
        return {"signed": signed.id, "draft": draft.id, "plan": plan.id, "session": session.id, "event": event.id}


@pytest.mark.parametrize("model,key,change", [
    (Evaluation, "signed", {"notes": "changed"}),
    (Plan, "plan", {"weight_kg": 90.0}),
    (InfusionSession, "session", {"state": "running"}),
    (SessionEvent, "event", {"payload": {"text": "rewritten"}}),
])
def test_orm_refuses_update_and_delete(db, chart, model, key, change):
    with pytest.raises(ImmutableRecordError), db.transaction() as s:
        row = s.get(model, chart[key])
        for name, value in change.items():
            setattr(row, name, value)
        s.flush()
    with pytest.raises(ImmutableRecordError), db.transaction() as s:
        s.delete(s.get(model, chart[key]))
        s.flush()


def test_draft_can_change_and_be_signed_once(db, chart, clinic):
    with db.transaction() as s:
        draft = s.get(Evaluation, chart["draft"])
        draft.notes = "more history"
        draft.status, draft.signed_by, draft.signed_at = "signed", clinic.actors["physician"].user_id, NOW
    with pytest.raises(ImmutableRecordError), db.transaction() as s:
        s.get(Evaluation, chart["draft"]).notes = "after signing"
        s.flush()


@pytest.mark.parametrize("sql", [
    "UPDATE evaluations SET notes = 'x' WHERE id = :signed",
    "DELETE FROM evaluations WHERE id = :signed",
    "UPDATE plans SET weight_kg = 1 WHERE id = :plan",
    "UPDATE sessions SET state = 'running' WHERE id = :session",
    "UPDATE session_events SET payload = payload WHERE id = :event",
    "DELETE FROM session_events WHERE id = :event",
    "UPDATE audit_log SET action = 'x'",
    "DELETE FROM audit_log",
    "UPDATE patient_weights SET weight_kg = 1",
])
def test_database_triggers_refuse_plain_sql(db, chart, sql):
    with db.transaction() as s:
        append(s, action="test.entry")
    with pytest.raises(sa_exc.IntegrityError) as caught, db.transaction() as s:
        s.execute(text(sql), {k: v for k, v in chart.items() if ":" + k in sql})
    assert "append-only" in str(caught.value) or "refused" in str(caught.value) or "never changed" in str(caught.value)


def test_draft_rows_stay_editable_by_sql(db, chart):
    with db.transaction() as s:
        assert s.execute(text("UPDATE evaluations SET notes = 'ok' WHERE id = :id"), {"id": chart["draft"]}).rowcount == 1


def test_amendment_must_point_to_an_event(db, chart):
    with pytest.raises(sa_exc.IntegrityError), db.transaction() as s:
        s.add(SessionEvent(session_id=chart["session"], kind="amendment", payload={}, recorded_at=NOW))
        s.flush()
    with db.transaction() as s:
        s.add(SessionEvent(session_id=chart["session"], kind="amendment", payload={"corrects": "text"},
                           recorded_at=NOW, amends_event_id=chart["event"]))
    with db.transaction() as s:
        original = s.get(SessionEvent, chart["event"])
        assert original.payload == {"text": "ok"}


def test_every_append_only_table_has_its_refusing_trigger(db, engine):
    """A new append-only table without its trigger (records.triggers.append_only) fails here."""
    from ketaclinic.records import models
    from ketaclinic.records.mixins import AppendOnlyMixin

    tables = sorted(m.__tablename__ for m in vars(models).values()
                    if isinstance(m, type) and issubclass(m, AppendOnlyMixin) and hasattr(m, "__tablename__"))
    assert "referral_imports" in tables and "risk_checks" in tables
    query = ("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'" if engine == "sqlite" else
             "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal")
    with db.reading() as s:
        guarded = set(s.execute(text(query)).scalars())
    assert set(tables) <= guarded, set(tables) - guarded
