"""Issue 12, bug 6: an evaluation the coordinator books from an inquiry shows on every staff dashboard
and, once the inquiry becomes a patient, on that patient's chart."""

from __future__ import annotations

from datetime import timedelta

from ketaclinic.clock import utcnow
from ketaclinic.services import inquiries as iq
from ketaclinic.services.context import Actor
from ketaclinic.services.patients import PatientIn

FORM = iq.InquiryIn(name="Synthetic Booked", phone="+1 555 0142", preferred_contact="phone", condition="crps",
                    message="Could ketamine help?", consent_to_contact=True)


def _booked(db, settings, clinic, *, days_ahead: float, convert: bool):
    coordinator = clinic.actors["coordinator"]
    iq.submit_inquiry(db, settings, Actor.public("5.5.5.5"), FORM)
    item = max(iq.list_inquiries(db, coordinator, status="new").items, key=lambda i: i.id)
    when = utcnow() + timedelta(days=days_ahead)
    item = iq.schedule_inquiry(db, coordinator, item.id, item.version, iq.ScheduleIn(scheduled_for=when))
    if convert:
        return iq.convert_inquiry(db, coordinator, item.id, item.version, iq.ConvertIn(patient=PatientIn(
            given_name="Synthetic", family_name="Booked", birth_date="1975-05-05", sex="female"))).patient.id
    return None


def test_a_booked_evaluation_shows_on_every_staff_dashboard(signed_in, db, settings, clinic) -> None:
    _booked(db, settings, clinic, days_ahead=1, convert=False)
    for role in ("coordinator", "physician", "nurse"):
        page = signed_in(role).get("/dashboard").text
        booked = page[page.index('id="h-booked"'):]
        assert "Synthetic Booked" in booked[:booked.index("</section>")], role


def test_a_booked_evaluation_shows_on_the_patients_chart(signed_in, db, settings, clinic) -> None:
    patient_id = _booked(db, settings, clinic, days_ahead=2, convert=True)
    for role in ("coordinator", "physician"):
        page = signed_in(role).get(f"/patients/{patient_id}").text
        assert "Evaluation booked:" in page, role
    far = _booked(db, settings, clinic, days_ahead=30, convert=False)
    assert far is None
    dashboard = signed_in("nurse").get("/dashboard").text
    assert dashboard.count("Synthetic Booked") == 1  # the one in 30 days is not in this week's list
