"""Reminders through the outbox (issue 13), read back from a real SMTP server on loopback (aiosmtpd):
content and the .ics, reminder times, reschedule / cancel / no-show, consent and opt-out, retries with back-off,
exactly once under two concurrent workers on PostgreSQL and after a kill -9 of a worker mid-batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import pytest
from icalendar import Calendar
from sqlalchemy import select

from ketaclinic.records.outbox import OutboxMessage
from ketaclinic.services import appointments as ap
from ketaclinic.services import consent as cn
from ketaclinic.services import mail
from ketaclinic.services import reminders as rm
from ketaclinic.services.errors import Conflict
from tests.services.schedule_support import NOW, at, ready_clinic
from tests.smtp_support import SmtpServer, free_port

SQLITE = pytest.mark.parametrize("engine", ["sqlite"])
POSTGRES = pytest.mark.parametrize("engine", ["postgresql"])


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


def _settings(settings, smtp_url: str, **more):
    return settings.model_copy(update={"smtp_url": __import__("pydantic").SecretStr(smtp_url), **more})


def _consent(db, clinic, patient_id=None, **prefs):
    patient_id = patient_id or clinic.own_patient_id
    cn.set_contact_preferences(db, clinic.actors["coordinator"], patient_id, cn.ContactIn(contact_consent=True, **prefs))


def _book(db, clinic, now=NOW, **body):
    body.setdefault("patient_id", clinic.own_patient_id)
    body.setdefault("kind", "infusion")
    return ap.book(db, clinic.actors["coordinator"], ap.AppointmentIn.model_validate(body), now=now)


def _rows(db) -> list[OutboxMessage]:
    with db.reading() as uow:
        return list(uow.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())


def _send(db, settings, now):
    return rm.run_once(db, settings, mail.transports(settings), worker="test", now=now)


@SQLITE
def test_confirmation_with_ics_and_both_reminders_arrive(db, clinic, settings, smtp):
    ready_clinic(db, clinic)
    _consent(db, clinic)
    booked = _book(db, clinic, start=at(8, 9).isoformat()).items[0]
    kinds = {(r.kind, r.due_at) for r in _rows(db)}
    assert kinds == {("confirmation", NOW), ("reminder_first", at(6, 9)), ("reminder_second", at(7, 9))}
    s = _settings(settings, smtp.url)
    assert [o.status for o in _send(db, s, NOW)] == ["sent"]  # only the confirmation is due
    confirmation = smtp.inbox.messages[0]
    assert confirmation["To"] == "own@example.org" and "ketamine infusion" in confirmation["Subject"]
    text = confirmation.get_body(("plain",)).get_content()
    assert "Friday 8 January 2027, 09:00" in text and "Escort" in text and "Fasting" in text
    ics = next(p for p in confirmation.iter_attachments() if p.get_content_type() == "text/calendar")
    event = Calendar.from_ical(ics.get_payload(decode=True)).walk("VEVENT")[0]
    assert event.decoded("dtstart") == booked.start and event.decoded("dtend") == booked.end
    assert str(event["uid"]) == f"appointment-{booked.id}@ketaclinic"
    assert _send(db, s, at(6, 8)) == []  # not yet
    assert [o.status for o in _send(db, s, at(6, 9, 1))] == ["sent"]
    assert [o.status for o in _send(db, s, at(7, 9, 1))] == ["sent"]
    subjects = [str(m["Subject"]).strip() for m in smtp.inbox.messages]
    assert subjects[1].startswith("Reminder") and subjects[2].startswith("Tomorrow")
    assert _send(db, s, at(8, 8)) == [] and len(smtp.inbox.messages) == 3  # each once


@SQLITE
def test_reschedule_replaces_cancel_cancels_no_show_writes(db, clinic, settings, smtp):
    ready_clinic(db, clinic)
    _consent(db, clinic)
    first, second = _book(db, clinic, start=at(8, 9).isoformat(), series={"count": 2, "interval_days": 4}).items
    coordinator = clinic.actors["coordinator"]
    ap.reschedule(db, coordinator, first.id, first.version, ap.RescheduleIn(start=at(11, 9)), now=NOW)
    rows = [r for r in _rows(db) if r.appointment_id == first.id]
    # nothing about the old start goes out, not even its confirmation still waiting
    assert {r.kind for r in rows if r.status == "cancelled"} == {"confirmation", "reminder_first", "reminder_second"}
    assert {(r.kind, r.due_at) for r in rows if r.status == "pending" and r.appointment_start_at == at(11, 9)} == {
        ("confirmation", NOW), ("reminder_first", at(9, 9)), ("reminder_second", at(10, 9))}
    ap.cancel(db, coordinator, second.id, second.version, ap.CancelIn(reason="unwell"), now=NOW)
    rows = [r for r in _rows(db) if r.appointment_id == second.id]
    assert {r.kind for r in rows if r.status == "pending"} == {"cancellation"}
    s = _settings(settings, smtp.url)
    outcomes = _send(db, s, NOW)
    # the new confirmation of the moved one and the cancellation notice of the other, once each
    assert sorted(o.status for o in outcomes) == ["sent", "sent"]
    assert any("cancelled" in str(m["Subject"]) for m in smtp.inbox.messages)
    moved = ap.get_appointment(db, coordinator, first.id)
    ap.mark_no_show(db, clinic.actors["nurse"], first.id, moved.version, ap.NoShowIn(), now=at(11, 10))
    sent = _send(db, s, at(11, 10))
    assert [o.status for o in sent] == ["sent"] and "missed you" in str(smtp.inbox.messages[-1]["Subject"])


@SQLITE
def test_nothing_goes_without_consent_and_opt_out_stops_reminders(db, clinic, settings, smtp):
    ready_clinic(db, clinic)
    _book(db, clinic, start=at(8, 9).isoformat())
    s = _settings(settings, smtp.url)
    assert [(o.status, o.detail) for o in _send(db, s, NOW)] == [("skipped", "the patient has not consented to contact")]
    _consent(db, clinic, reminders_opt_out=True)
    assert all(r.status in ("skipped", "cancelled") for r in _rows(db))  # the opt-out cancelled the reminders
    assert smtp.inbox.messages == []


@SQLITE
def test_queueing_is_once_only(db, clinic):
    ready_clinic(db, clinic)
    booked = _book(db, clinic, start=at(8, 9).isoformat()).items[0]
    from ketaclinic.records.schedule import Appointment

    with db.transaction() as uow:  # a retried hook queues nothing new
        rm.on_booked(uow, [uow.get(Appointment, booked.id)], NOW)
    assert len(_rows(db)) == 3


@SQLITE
def test_failures_retry_with_backoff_then_show_on_the_admin_page(db, clinic, settings):
    ready_clinic(db, clinic)
    _consent(db, clinic)
    _book(db, clinic, start=at(8, 9).isoformat())
    s = _settings(settings, f"smtp://127.0.0.1:{free_port()}", outbox_max_attempts=3, outbox_backoff_base_s=60)
    assert [o.status for o in _send(db, s, NOW)] == ["retry"]
    row = _rows(db)[0]
    assert row.attempts == 1 and row.next_attempt_at == NOW + timedelta(seconds=60) and "cannot reach" in row.last_error
    assert _send(db, s, NOW + timedelta(seconds=30)) == []  # backing off
    assert [o.status for o in _send(db, s, NOW + timedelta(seconds=61))] == ["retry"]
    assert _rows(db)[0].next_attempt_at == NOW + timedelta(seconds=61 + 120)
    assert [o.status for o in _send(db, s, NOW + timedelta(seconds=200))] == ["failed"]
    admin = clinic.actors["admin"]
    summary = rm.outbox_summary(db, admin, s)
    assert summary.counts["failed"] == 1 and summary.problems[0].last_error
    retried = rm.retry_message(db, admin, summary.problems[0].id)
    assert retried.status == "pending" and retried.attempts == 0
    with pytest.raises(Conflict):
        rm.retry_message(db, admin, retried.id)


@SQLITE
def test_templates_are_versioned_and_checked(db, clinic, settings, smtp):
    admin = clinic.actors["admin"]
    with pytest.raises(Exception) as bad:
        rm.save_template(db, admin, "confirmation", 0, rm.TemplateIn(subject="Hi {{ nobody }}", body="Dear {{ given_name }}"))
    assert getattr(bad.value, "code", "") == "template_invalid"
    saved = rm.save_template(db, admin, "confirmation", 0, rm.TemplateIn(
        subject="Booked: {{ when }}", body="Hello {{ given_name }}, see you on {{ when }}.\n"))
    assert saved.version == 1
    with pytest.raises(Conflict):
        rm.save_template(db, admin, "confirmation", 0, rm.TemplateIn(subject="x {{ when }}", body="again again"))
    ready_clinic(db, clinic)
    _consent(db, clinic)
    _book(db, clinic, start=at(8, 9).isoformat())
    _send(db, _settings(settings, smtp.url), NOW)
    assert str(smtp.inbox.messages[0]["Subject"]).strip().startswith("Booked: Friday 8 January 2027")


# --- several workers, and a worker killed mid-batch (PostgreSQL) -----------------------------------------


def _weekday_at_nine(days_ahead: int) -> datetime:
    day = (datetime.now(UTC) + timedelta(days=days_ahead)).date()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, dtime(9, 0), tzinfo=UTC)


def _many_confirmations(db, clinic, count: int) -> None:
    """``count`` confirmations due now (follow-ups in rooms, a day apart; the real clock)."""
    ready = ready_clinic(db, clinic, plan=False)
    _consent(db, clinic)
    now = datetime.now(UTC)
    _book(db, clinic, now=now, kind="follow_up", chair_id=ready.room, start=_weekday_at_nine(3).isoformat(),
          series={"count": count, "interval_days": 1, "weekdays_only": True})


@POSTGRES
def test_two_concurrent_workers_send_each_message_once(db, clinic, settings, smtp):
    _many_confirmations(db, clinic, 12)
    s = _settings(settings, smtp.url, outbox_batch=2)
    done: dict[str, int] = {"a": 0, "b": 0}

    def work(name: str) -> None:
        while True:
            outcomes = rm.run_once(db, s, mail.transports(s), worker=name)
            if not outcomes:
                return
            done[name] += sum(o.status == "sent" for o in outcomes)

    threads = [threading.Thread(target=work, args=(n,)) for n in done]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = smtp.inbox.ids()
    assert len(ids) == 12 and len(set(ids)) == 12
    assert done["a"] + done["b"] == 12
    assert {r.status for r in _rows(db) if r.kind == "confirmation"} == {"sent"}


@POSTGRES
def test_a_worker_killed_mid_batch_loses_and_repeats_nothing(db, clinic, settings, smtp, tmp_path: Path):
    _many_confirmations(db, clinic, 6)
    smtp.inbox.hold_at = 3  # the third message hangs at RCPT: the worker is mid-batch when it dies
    env = {**os.environ, "KETACLINIC_DATABASE_URL": settings.database_url, "KETACLINIC_SMTP_URL": smtp.url,
           "KETACLINIC_OUTBOX_LEASE_S": "3", "KETACLINIC_OUTBOX_BATCH": "6", "KETACLINIC_ENV": "test",
           "KETACLINIC_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789"}
    worker = subprocess.Popen([str(Path(sys.executable).parent / "ketaclinic"), "worker"], env=env,
                              stdout=subprocess.DEVNULL, stderr=(tmp_path / "worker.log").open("w"))
    try:
        assert smtp.inbox.held.wait(60), (tmp_path / "worker.log").read_text()[-2000:]
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    smtp.inbox.release.set()
    assert len(smtp.inbox.messages) == 2
    assert sum(r.status == "sending" for r in _rows(db)) == 4  # claimed by the dead worker
    s = _settings(settings, smtp.url, outbox_lease_s=3)
    assert rm.run_once(db, s, mail.transports(s), worker="survivor") == []  # the lease still holds
    time.sleep(3.2)
    outcomes = rm.run_once(db, s, mail.transports(s), worker="survivor")
    assert sorted(o.status for o in outcomes) == ["sent"] * 4
    ids = smtp.inbox.ids()
    assert len(ids) == 6 and len(set(ids)) == 6
    assert {r.status for r in _rows(db) if r.kind == "confirmation"} == {"sent"}


def test_starttls_is_used_when_the_server_offers_it(tmp_path):
    import ssl

    from tests.smtp_support import self_signed

    cert, key = self_signed(tmp_path)
    message = mail.OutgoingMessage(to="own@example.org", subject="Hello", text="Over TLS.", message_id="<t-1@ketaclinic>")
    with SmtpServer(tls=(cert, key)) as server:
        transport = mail.SmtpTransport(server.url, "Clinic <c@example.org>", tls=ssl.create_default_context(cafile=str(cert)))
        transport.send(message)
        transport.close()
        assert transport.used_starttls and server.inbox.ids() == ["<t-1@ketaclinic>"]
    with SmtpServer() as plain:  # a server without STARTTLS: sent in the clear, unless the URL requires TLS
        transport = mail.SmtpTransport(plain.url, "Clinic <c@example.org>")
        transport.send(message)
        transport.close()
        assert not transport.used_starttls and len(plain.inbox.messages) == 1
        strict = mail.SmtpTransport(plain.url + "?starttls=require", "Clinic <c@example.org>")
        with pytest.raises(mail.TransportError, match="STARTTLS"):
            strict.send(message)


@SQLITE
def test_the_worker_loop_sends_what_is_due_and_stops(db, clinic, settings, smtp):
    from ketaclinic.services import worker

    _many_confirmations(db, clinic, 2)
    seen: list[str] = []
    handled = worker.run(_settings(settings, smtp.url), once=True,
                         on_batch=lambda outcomes: seen.extend(o.status for o in outcomes))
    assert handled == 2 and seen == ["sent", "sent"] and len(smtp.inbox.messages) == 2
