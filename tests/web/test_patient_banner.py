"""Issue 12: a patient banner on every clinical page — name, age, sex, weight and dosing weight, allergies
(ketamine first), the current profile and the consent state — for physicians and nurses only."""

from __future__ import annotations

from datetime import timedelta

from tests.interop.flows import T0, running, screening, signed_evaluation, signed_plan


def _banner(html: str) -> str:
    start = html.index('id="patient-banner"')
    return html[start:html.index("</section>", start)]


def test_the_banner_is_on_the_chart_the_builder_and_the_console(signed_in, db, clinic) -> None:
    pid = clinic.own_patient_id
    plan = signed_plan(db, clinic, pid)
    visit = running(db, clinic, plan, T0 + timedelta(days=7))
    nurse = signed_in("nurse")
    for path in (f"/patients/{pid}", f"/sessions/{visit.id}", f"/plans/{plan.id}"):
        banner = _banner(nurse.get(path).text)
        assert "Synthetic Own" in banner and "68 kg" in banner and "dosing weight" in banner, path
        assert "Profile: <strong>low dose</strong>" in banner and "Consent: signed" in banner, path  # issue 13: the signed consent document
    builder = signed_in("physician").get(f"/patients/{pid}/plans/new").text
    assert "Synthetic Own" in _banner(builder)


def test_a_ketamine_allergy_leads_the_banner_in_red(signed_in, db, clinic) -> None:
    pid = clinic.own_patient_id
    document = screening()
    document["allergies"] = ["penicillin", "Ketalar (rash)"]
    signed_evaluation(db, clinic, pid, document)
    banner = _banner(signed_in("physician").get(f"/patients/{pid}").text)
    assert 'badge critical">Ketalar (rash)</strong>, penicillin' in banner


def test_no_banner_for_the_coordinator(signed_in, db, clinic) -> None:
    page = signed_in("coordinator").get(f"/patients/{clinic.own_patient_id}").text
    assert 'id="patient-banner"' not in page
