"""Questionnaire pages (issue 15) through the web client: one question a screen for the patient, the clinic
tablet, the chart's trend and the physician's acknowledgement from the dashboard panel."""

from __future__ import annotations

from tests.web.conftest import csrf_of


def _answer(client, url: str, values: list[str]) -> str:
    page = client.get(url)
    for value in values:
        assert page.status_code == 200, page.text[:300]
        item = page.text.split('name="item" value="')[1].split('"')[0]
        page = client.post(url.split("?")[0], data={"csrf_token": csrf_of(page.text), "item": item, "value": value})
        url = str(page.url)
    return page.text


def test_patient_answers_phq9_then_the_physician_sees_the_trend_and_acknowledges(signed_in, clinic):
    patient = signed_in("patient")
    mine = patient.get("/me/questionnaires")
    assert mine.status_code == 200 and "My questionnaires" in mine.text
    started = patient.post("/me/questionnaires/start", data={"csrf_token": csrf_of(mine.text), "instrument": "phq9"})
    assert "question 1 of 10" in started.text and "Little interest or pleasure in doing things" in started.text
    done = _answer(patient, str(started.url), ["2", "2", "2", "1", "1", "1", "1", "1", "1", "skip"])
    assert "Thank you" in done and 'id="q-crisis"' in done and "988" in done
    physician = signed_in("physician")
    panel = physician.get("/questionnaires/alerts-panel").text
    assert "Self-harm answers" in panel and "Synthetic Own" in panel
    assert 'include "questionnaires' not in physician.get("/dashboard").text
    chart = physician.get(f"/patients/{clinic.own_patient_id}/questionnaires")
    assert chart.status_code == 200 and 'id="trend-phq9"' in chart.text and "12/27" in chart.text
    alert_id = chart.text.split('data-alert-id="')[1].split('"')[0]
    acked = physician.post(f"/questionnaire-alerts/{alert_id}/acknowledge",
                           data={"csrf_token": csrf_of(chart.text), "note": "Phoned: no plan; safety plan",
                                 "back": f"/patients/{clinic.own_patient_id}/questionnaires"})
    assert "Alert acknowledged" in acked.text
    assert "Self-harm answers" not in physician.get("/questionnaires/alerts-panel").text


def test_the_clinic_tablet_and_who_may_open_the_pages(signed_in, clinic):
    nurse = signed_in("nurse")
    chart = nurse.get(f"/patients/{clinic.own_patient_id}/questionnaires")
    started = nurse.post(f"/patients/{clinic.own_patient_id}/questionnaires/start",
                         data={"csrf_token": csrf_of(chart.text), "instrument": "pgic", "context": "ad_hoc", "tablet": "1"})
    assert "hand it back to the staff" in started.text
    done = _answer(nurse, str(started.url), ["2"])
    assert "Please hand the tablet back" in done and 'id="q-total">2<' in done
    coordinator = signed_in("coordinator")
    assert coordinator.get(f"/patients/{clinic.own_patient_id}/questionnaires").status_code == 403
    assert coordinator.get("/me/questionnaires").status_code == 403


def test_the_outcomes_page_loads_the_questionnaire_section(signed_in):
    nurse = signed_in("nurse")
    assert 'hx-get="/outcomes/questionnaires"' in nurse.get("/outcomes").text
    panel = nurse.get("/outcomes/questionnaires").text
    assert "PGIC responders" in panel and 'data-instrument="phq9"' in panel


def test_an_admin_adds_a_licensed_questionnaire_from_the_admin_page(signed_in, clinic):
    admin = signed_in("admin")
    page = admin.get("/admin/questionnaires")
    assert page.status_code == 200 and "Pain Catastrophizing Scale" in page.text and 'data-instrument="phq9"' in page.text
    form = {"csrf_token": csrf_of(page.text), "id": "bpi_sf_interference", "name": "BPI-SF interference (licensed)",
            "licence": "Licensed from MD Anderson to this clinic, 2026", "items": "Activity\nMood\nWalking",
            "options": "\n".join(f"{v} = {v}" for v in range(11)), "bands": "low 0-14 Low\nhigh 15-30 High",
            "max_missing": "1", "mcid": ""}
    bad = admin.post("/admin/questionnaires", data={**form, "bands": "low 0-20 Low\nhigh 15-30 High"})
    assert bad.status_code == 422 and "overlap" in bad.text
    added = admin.post("/admin/questionnaires", data=form)
    assert "BPI-SF interference (licensed) added" in added.text and 'data-instrument="bpi_sf_interference"' in added.text
    assert signed_in("nurse").get("/admin/questionnaires").status_code == 403
