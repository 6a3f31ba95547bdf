"""Questionnaires through the services (issue 15): answering with partial saves, scoring at completion, the
self-harm alert with the clinic's action and its once-only acknowledgement, who may see what, due lists."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from ketaclinic.clinical.questionnaires import CustomInstrumentIn
from ketaclinic.records.audit import AuditEntry
from ketaclinic.records.questionnaires import QuestionnaireAlert, QuestionnaireResponse
from ketaclinic.services import questionnaires as qs
from ketaclinic.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.interop.flows import signed_evaluation

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine() -> str:
    """SQLite: nothing here depends on the engine (the triggers of both are checked by the migration tests)."""
    return "sqlite"


def _answer_all(db, actor, response_id, values, *, complete=True):
    view = None
    for n, value in enumerate(values, start=1):
        view = qs.answer_item(db, actor, response_id, qs.AnswerIn(item=n, value=value),
                              complete=complete and n == len(values), now=NOW)
        response_id = view.id
    return view


def test_patient_answers_phq9_one_question_at_a_time_and_it_is_scored(db, clinic):
    patient = clinic.actors["patient"]
    started = qs.start_response(db, patient, clinic.own_patient_id, qs.ResponseStart(instrument="phq9"), now=NOW)
    assert (started.channel, started.status, started.next_item, started.items) == ("portal", "partial", 1, 9)
    half = _answer_all(db, patient, started.id, [1, 1, 1, 1], complete=False)
    assert (half.status, half.answered, half.next_item) == ("partial", 4, 5)
    # starting again continues the one in progress (partial answers are kept)
    again = qs.start_response(db, patient, clinic.own_patient_id, qs.ResponseStart(instrument="phq9"), now=NOW)
    assert again.id == half.id and again.answers[:4] == [1, 1, 1, 1]
    done = qs.save_response(db, patient, half.id, qs.ResponseSave(answers=[1, 1, 1, 1, 2, 2, 1, 1, 0], complete=True),
                            now=NOW)
    assert (done.status, done.total, done.severity, done.flags) == ("complete", 10, "moderate", [])
    with db.reading() as s:
        versions = s.execute(select(QuestionnaireResponse).where(
            QuestionnaireResponse.patient_id == clinic.own_patient_id)).scalars().all()
        assert len(versions) == 6  # start + 4 single answers + the completing save: every version kept
        assert not s.execute(select(QuestionnaireAlert)).scalars().all()
    chart = qs.patient_questionnaires(db, clinic.actors["physician"], clinic.own_patient_id, now=NOW)
    assert [r.id for r in chart.responses] == [done.id]
    assert chart.trends[0].points[0].total == 10


def test_item9_raises_the_alert_with_the_clinics_action_and_a_physician_acknowledges_once(db, clinic):
    nurse = clinic.actors["nurse"]
    started = qs.start_response(db, nurse, clinic.own_patient_id,
                                qs.ResponseStart(instrument="phq9", channel="tablet"), now=NOW)
    assert started.channel == "tablet"
    done = qs.save_response(db, nurse, started.id, qs.ResponseSave(answers=[2, 2, 2, 2, 1, 1, 1, 1, 1], complete=True),
                            now=NOW)
    assert [f["code"] for f in done.flags] == ["self_harm_thoughts"]
    alerts = qs.open_alerts(db, clinic.actors["physician"])
    assert len(alerts) == 1 and alerts[0].response_id == done.id
    assert "same day" in alerts[0].message and "988" in alerts[0].action and alerts[0].source == "kroenke2001_phq9"
    with pytest.raises(Forbidden):
        qs.acknowledge_alert(db, nurse, alerts[0].id, qs.AcknowledgeIn(note="called"))
    acked = qs.acknowledge_alert(db, clinic.actors["physician"], alerts[0].id,
                                 qs.AcknowledgeIn(note="Called the patient: passive thoughts, no plan; safety plan made"))
    assert acked.acknowledged_by_name and acked.note.startswith("Called")
    assert qs.open_alerts(db, clinic.actors["physician"]) == []
    with pytest.raises(Conflict) as twice:
        qs.acknowledge_alert(db, clinic.actors["physician"], alerts[0].id, qs.AcknowledgeIn(note="again"))
    assert twice.value.code == "alert_acknowledged"
    with db.reading() as s:
        actions = set(s.execute(select(AuditEntry.action).where(AuditEntry.action.like("questionnaire.%"))).scalars())
    assert {"questionnaire.start", "questionnaire.complete", "questionnaire.alert",
            "questionnaire.alert_acknowledged", "questionnaire.alerts"} <= actions


def test_too_many_missing_items_refuse_completion_and_write_nothing(db, clinic):
    patient = clinic.actors["patient"]
    started = qs.start_response(db, patient, clinic.own_patient_id, qs.ResponseStart(instrument="gad7"), now=NOW)
    with pytest.raises(ValidationFailed) as refused:
        qs.save_response(db, patient, started.id, qs.ResponseSave(answers=[1, 1, 1, 1, 1, None, None], complete=True))
    assert refused.value.code == "too_many_missing"
    with pytest.raises(ValidationFailed):
        qs.save_response(db, patient, started.id, qs.ResponseSave(answers=[1, 1, 1, 1, 1, 1, 4]))
    with db.reading() as s:
        assert len(s.execute(select(QuestionnaireResponse)).scalars().all()) == 1
    prorated = qs.save_response(db, patient, started.id,
                                qs.ResponseSave(answers=[2, 2, 2, 1, 1, None, 1], complete=True))
    assert (prorated.total, prorated.prorated) == (11, True)


def test_a_stale_version_and_a_completed_response_are_not_saved_over(db, clinic):
    patient = clinic.actors["patient"]
    started = qs.start_response(db, patient, clinic.own_patient_id, qs.ResponseStart(instrument="pgic"), now=NOW)
    qs.answer_item(db, patient, started.id, qs.AnswerIn(item=1, value=3))
    with pytest.raises(Conflict) as stale:
        qs.answer_item(db, patient, started.id, qs.AnswerIn(item=1, value=2))
    assert stale.value.code == "response_superseded"


def test_who_may_see_and_answer(db, clinic):
    with pytest.raises(Forbidden):
        qs.patient_questionnaires(db, clinic.actors["coordinator"], clinic.own_patient_id)
    with pytest.raises(NotFound):
        qs.patient_questionnaires(db, clinic.actors["patient"], clinic.other_patient_id)
    with pytest.raises(NotFound):
        qs.start_response(db, clinic.actors["patient"], clinic.other_patient_id, qs.ResponseStart(instrument="phq9"))
    with pytest.raises(ValidationFailed):
        qs.start_response(db, clinic.actors["nurse"], clinic.own_patient_id, qs.ResponseStart(instrument="bpi"))


def test_responses_are_append_only_in_the_database(db, clinic):
    started = qs.start_response(db, clinic.actors["patient"], clinic.own_patient_id,
                                qs.ResponseStart(instrument="phq9"), now=NOW)
    with pytest.raises(Exception, match="append-only|refused"):
        with db.engine.begin() as connection:
            connection.execute(text("UPDATE questionnaire_responses SET status = 'complete' WHERE id = :id"),
                               {"id": started.id})


def test_baseline_is_due_after_the_evaluation(db, clinic):
    assert qs.patient_questionnaires(db, clinic.actors["nurse"], clinic.own_patient_id, now=NOW).due == []
    signed_evaluation(db, clinic, clinic.own_patient_id)
    due = qs.patient_questionnaires(db, clinic.actors["nurse"], clinic.own_patient_id,
                                    now=datetime.now(UTC) + timedelta(minutes=1)).due
    assert [(d.instrument, d.context) for d in due] == [("gad7", "baseline"), ("phq9", "baseline")]


def test_an_admin_adds_a_licensed_instrument_for_a_site(db, clinic):
    admin = clinic.actors["admin"]
    site_id = admin.site_ids[0]
    definition = CustomInstrumentIn(
        id="bpi_sf_interference", name="BPI-SF interference (licensed)", licence="Licensed from MD Anderson (2026)",
        items=[{"text": f"Interference {n}", "options": [{"value": v, "label": str(v)} for v in range(11)]}
               for n in range(1, 8)], max_missing=2)
    view = qs.add_custom_instrument(db, admin, site_id, definition)
    assert view.builtin is False and len(view.items) == 7
    with pytest.raises(Forbidden):
        qs.add_custom_instrument(db, clinic.actors["physician"], site_id, definition)
    started = qs.start_response(db, clinic.actors["nurse"], clinic.own_patient_id,
                                qs.ResponseStart(instrument="bpi_sf_interference"), now=NOW)
    done = qs.save_response(db, clinic.actors["nurse"], started.id,
                            qs.ResponseSave(answers=[5, 5, 5, 5, 5, None, None], complete=True), now=NOW)
    assert done.total == 35


def test_cohort_outcomes_change_mcid_and_pgic_responders(db, clinic):
    from ketaclinic.services.questionnaire_outcomes import prom_outcomes

    nurse = clinic.actors["nurse"]
    for answers, instrument in (([3, 3, 2, 2, 2, 2, 2, 2, 0], "phq9"), ([1, 1, 1, 1, 1, 1, 1, 0, 0], "phq9"),
                                ([2], "pgic")):
        started = qs.start_response(db, nurse, clinic.own_patient_id, qs.ResponseStart(instrument=instrument), now=NOW)
        qs.save_response(db, nurse, started.id, qs.ResponseSave(answers=answers, complete=True), now=NOW)
    result = prom_outcomes(db, clinic.actors["physician"])
    phq = result.changes[0]
    assert (phq.patients, phq.mean_baseline, phq.mean_latest, phq.mean_change, phq.improved) == (1, 18, 7, -11, 1)
    assert (result.pgic.patients, result.pgic.responders, result.pgic.by_category["much_improved"]) == (1, 1, 1)
    with pytest.raises(Forbidden):
        prom_outcomes(db, clinic.actors["coordinator"])


def test_the_research_export_carries_scored_questionnaires_only():
    from ketaclinic.interop import research as rx
    from tests.interop.test_research_deid import KEY, SECRET, T, _cohort

    cohort = _cohort(12)
    pid = cohort.patients[-1].patient_id  # (patient 1, aged 95, is removed from every table)
    rows = (rx.PromRow(1, pid, "phq9", T + timedelta(days=3), "baseline", 14, "moderate", False, True),
            rx.PromRow(2, pid, "bpi_sf", T + timedelta(days=4), "ad_hoc", 30, None))
    dataset = rx.deidentify(replace(cohort, questionnaires=rows), rx.Keys(SECRET, KEY), k=11,
                            as_of=T + timedelta(days=60))
    exported = dataset.tables["questionnaires"]
    assert len(exported) == 1 and exported[0]["instrument"] == "phq9" and exported[0]["total"] == 14
    assert exported[0]["self_harm_item"] is True and exported[0]["day"] != (T + timedelta(days=3)).date()
    assert set(exported[0]) == {c.name for c in rx.TABLES["questionnaires"]}
