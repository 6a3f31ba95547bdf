"""Reminders for due questionnaires through the outbox (issue 15): once per patient, instrument and due date,
only with consent to contact and no opt-out, with the portal link, sent to a real loopback SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from ketaclinic.records.outbox import OutboxMessage
from ketaclinic.services import consent as cn
from ketaclinic.services import mail
from ketaclinic.services import questionnaire_reminders as qr
from ketaclinic.services import questionnaires as qs
from ketaclinic.services import reminders as rm
from ketaclinic.services.errors import ValidationFailed
from tests.interop.flows import signed_evaluation
from tests.smtp_support import SmtpServer


@pytest.fixture
def engine() -> str:
    return "sqlite"


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


def _settings(settings, smtp):
    return settings.model_copy(update={"smtp_url": SecretStr(smtp.url), "public_url": "https://clinic.example.org/"})


def _rows(db) -> list[OutboxMessage]:
    with db.reading() as uow:
        return list(uow.execute(select(OutboxMessage).where(OutboxMessage.kind == "questionnaire_due")
                                .order_by(OutboxMessage.id)).scalars())


def _send(db, settings, now):
    return rm.run_once(db, settings, mail.transports(settings), worker="test", now=now)


def _contact(db, clinic, **prefs):
    cn.set_contact_preferences(db, clinic.actors["coordinator"], clinic.own_patient_id,
                               cn.ContactIn(contact_consent=True, **prefs))


def test_due_questionnaires_are_reminded_once_with_the_portal_link(db, clinic, settings, smtp):
    signed_evaluation(db, clinic, clinic.own_patient_id)
    now = datetime.now(UTC) + timedelta(minutes=1)
    s = _settings(settings, smtp)
    assert qr.queue_due(db, s, now=now) == 0  # no consent to contact: nothing queued
    _contact(db, clinic)
    assert qr.queue_due(db, s, now=now) == 2
    assert qr.queue_due(db, s, now=now + timedelta(hours=1)) == 0  # the same due date: once only
    assert sorted(r.instrument for r in _rows(db)) == ["gad7", "phq9"]
    assert sorted(o.status for o in _send(db, s, now)) == ["sent", "sent"]
    texts = {str(m["Subject"]): m.get_body(("plain",)).get_content() for m in smtp.inbox.messages}
    assert set(texts) == {"Your PHQ-9 questionnaire for KetaClinic", "Your GAD-7 questionnaire for KetaClinic"}
    phq9 = texts["Your PHQ-9 questionnaire for KetaClinic"]
    assert "https://clinic.example.org/me/questionnaires" in phq9 and "9 questions" in phq9
    assert all(m["To"] == "own@example.org" for m in smtp.inbox.messages)
    assert qr.queue_due(db, s, now=now + timedelta(days=1)) == 0 and _send(db, s, now) == []


def test_an_answered_questionnaire_is_not_reminded_and_opt_out_stops_them(db, clinic, settings, smtp):
    signed_evaluation(db, clinic, clinic.own_patient_id)
    now = datetime.now(UTC) + timedelta(minutes=1)
    s = _settings(settings, smtp)
    _contact(db, clinic)
    assert qr.queue_due(db, s, now=now) == 2
    patient = clinic.actors["patient"]
    started = qs.start_response(db, patient, clinic.own_patient_id, qs.ResponseStart(instrument="gad7"), now=now)
    qs.save_response(db, patient, started.id, qs.ResponseSave(answers=[1] * 7, complete=True), now=now)
    outcomes = {(o.status, o.detail) for o in _send(db, s, now + timedelta(minutes=1))}
    assert ("skipped", "the questionnaire was answered (or is no longer due)") in outcomes
    assert [str(m["Subject"]) for m in smtp.inbox.messages] == ["Your PHQ-9 questionnaire for KetaClinic"]
    # a later due questionnaire for an opted-out patient: neither queued nor sent
    with db.transaction() as uow:
        for row in uow.execute(select(OutboxMessage)).scalars():
            uow.delete(row)
    _contact(db, clinic, reminders_opt_out=True)
    assert qr.queue_due(db, s, now=now) == 0
    with db.transaction() as uow:  # queued before the opt-out (a race): the send-time check stops it
        uow.add(OutboxMessage(site_id=clinic.actors["admin"].site_ids[0], patient_id=clinic.own_patient_id,
                              kind="questionnaire_due", instrument="phq9", due_on=now.date(), channel="email",
                              status="pending", due_at=now, next_attempt_at=now, attempts=0))
    assert [(o.status, o.detail) for o in _send(db, s, now)] == [("skipped", "the patient opted out of reminders")]
    assert len(smtp.inbox.messages) == 1


def test_the_admin_edits_the_questionnaire_reminder_wording(db, clinic, settings, smtp):
    admin = clinic.actors["admin"]
    with pytest.raises(ValidationFailed):  # an appointment's names are not a questionnaire reminder's
        rm.save_template(db, admin, "questionnaire_due", 0, rm.TemplateIn(subject="Visit {{ when }}",
                                                                         body="Dear {{ given_name }}, see you"))
    rm.save_template(db, admin, "questionnaire_due", 0, rm.TemplateIn(
        subject="{{ questionnaire }} is waiting", body="Hello {{ given_name }}, open {{ portal_url }} please."))
    signed_evaluation(db, clinic, clinic.own_patient_id)
    _contact(db, clinic)
    now = datetime.now(UTC) + timedelta(minutes=1)
    s = _settings(settings, smtp)
    qr.queue_due(db, s, now=now)
    _send(db, s, now)
    assert sorted(str(m["Subject"]) for m in smtp.inbox.messages) == ["GAD-7 is waiting", "PHQ-9 is waiting"]
    assert all(r.template_version == 1 for r in _rows(db))
