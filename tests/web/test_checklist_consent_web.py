"""The nurse's console reads consent from the signed document (issue 13), in process: no yes/no box; "Consent
required" with a link to sign on the tablet, and the checklist ready to start once the patient has signed."""

from __future__ import annotations

from datetime import timedelta

from tests.consent_support import sign_in
from tests.interop.flows import T0, checked_in, signed_plan
from tests.services.test_consent import _new_patient


def test_the_console_shows_consent_from_the_signature(signed_in, db, clinic) -> None:
    from ketaclinic.clock import utcnow

    patient_id = _new_patient(db, clinic)
    at = max(T0, utcnow() - timedelta(minutes=5))
    visit = checked_in(db, clinic, signed_plan(db, clinic, patient_id, now=at - timedelta(days=3)), at)
    web = signed_in("nurse")
    page = web.get(f"/sessions/{visit.id}").text
    assert 'name="consent_signed"' not in page  # the old box is gone from the form
    assert 'data-consent-state="none"' in page and "Consent required" in page
    assert f'href="/patients/{patient_id}/consent"' in page
    assert 'id="start-infusion"' not in page and "The checklist blocks the start" in page

    sign_in(db, clinic.actors["nurse"], patient_id, "Synthetic Unsigned")
    page = web.get(f"/sessions/{visit.id}").text
    assert 'data-consent-state="valid"' in page and "(the current version)" in page
    assert "Consent signed: version 1 signed" in page and 'id="start-infusion"' in page
