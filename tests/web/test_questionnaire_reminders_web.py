"""Web pages of issue 15's rest: a questionnaire reminder on the admin's outbox and message pages, the patient's
bills on the portal."""

from __future__ import annotations

from datetime import UTC, date, datetime

from ketaclinic.records.outbox import OutboxMessage


def test_the_outbox_and_message_pages_show_questionnaire_reminders(signed_in, db, clinic) -> None:
    now = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    with db.transaction() as uow:
        uow.add(OutboxMessage(site_id=clinic.actors["admin"].site_ids[0], patient_id=clinic.own_patient_id,
                              kind="questionnaire_due", instrument="phq9", due_on=date(2027, 1, 4), channel="email",
                              status="pending", due_at=now, next_attempt_at=now, attempts=0))
    web = signed_in("admin")
    outbox = web.get("/admin/outbox").text
    assert "Questionnaire due · patient #" in outbox and "PHQ9 due" in outbox
    messages = web.get("/admin/messages").text
    assert "Questionnaire due" in messages and "{{ portal_url }}" in messages


def test_the_patient_sees_the_bills_page(signed_in) -> None:
    page = signed_in("patient").get("/me/billing")
    assert page.status_code == 200 and "My bills" in page.text and "No bills." in page.text
