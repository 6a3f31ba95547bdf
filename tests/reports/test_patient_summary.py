"""The patient's summary PDF: plain words, their own numbers, what next, when to call; from service, API, web, CLI."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from ketaclinic.api.app import create_app
from ketaclinic.cli import app as cli_app
from ketaclinic.records.audit import AuditEntry
from ketaclinic.services.auth import issue_token
from ketaclinic.services.documents import patient_summary
from tests.conftest import PASSWORD
from tests.reports.pdfcheck import read_pdf
from tests.reports.report_clinic import build_summary_story, make_clinic, module_database
from tests.web.conftest import sign_in

pytestmark = pytest.mark.xdist_group("report_summary")  # one worker builds the clinic and draws the PDFs once


@pytest.fixture(scope="module")
def env(tmp_path_factory, sqlite_template, cheap_password_hashing):
    tmp = tmp_path_factory.mktemp("summary")
    settings, db = module_database(tmp, sqlite_template)
    clinic = make_clinic(db)
    story = build_summary_story(db, clinic)
    yield {"settings": settings, "db": db, "clinic": clinic, "story": story, "tmp": tmp}
    db.dispose()


@pytest.fixture(scope="module")
def summary(env):
    """The own patient's summary, asked for by the patient at a fixed time; drawn twice to time a warm render."""
    db, clinic, story = env["db"], env["clinic"], env["story"]
    pdf = patient_summary(db, clinic.actors["patient"], clinic.own_patient_id, now=story.now)
    started = time.perf_counter()
    pdf = patient_summary(db, clinic.actors["patient"], clinic.own_patient_id, now=story.now)
    seconds = time.perf_counter() - started
    back = read_pdf(pdf, str(env["tmp"] / "summary-page1.png"))
    return back, " ".join(back.text.split()), seconds


@pytest.fixture(scope="module")
def client(env):
    app = create_app(env["settings"], db=env["db"])
    with TestClient(app) as test_client:
        yield test_client


def bearer(env, role: str) -> dict[str, str]:
    from ketaclinic.clock import utcnow

    token, _ = issue_token(env["db"], env["clinic"].actors[role], now=utcnow(), lifetime_s=600)
    return {"Authorization": f"Bearer {token}"}


def test_the_summary_is_a_short_readable_pdf_drawn_quickly(summary):
    back, _, seconds = summary
    assert 1 <= back.pages <= 3
    assert back.title == "Treatment summary" and "Your treatment summary" in back.text
    assert back.first_page_ink > 0.001
    assert seconds < 5.0, f"a warm render took {seconds:.1f} s"  # about 0.8 s on the reference machine


def test_it_tells_the_patient_their_treatment_in_plain_words(summary):
    _, text, _ = summary
    assert "Synthetic Own" in text and "born 02 Jan 1970" in text
    assert "Complex regional pain syndrome (CRPS)" in text
    assert "rated your pain 8 out of 10 (0 = no pain, 10 = worst pain imaginable)" in text
    assert "You had 3 sessions of ketamine" in text
    for day in ("09 Mar 2026", "11 Mar 2026", "13 Mar 2026"):
        assert day in text
    assert "a small first dose injected slowly into a vein, then a slow drip into the vein" in text
    # 13.6 mg push + 0.5 mg/kg/h (34 mg/h) for the rest of 2 h = 79 mg; the first visit slowed to 17 mg/h at 60 min
    assert re.search(r"13 Mar 2026 about 2 hours 79 mg", text)
    assert re.search(r"09 Mar 2026 about 2 hours 62 mg", text)
    assert "about 219 milligrams (mg)" in text
    assert "mild dizziness (1 session)" in text
    prose = text.split("About this summary")[0]  # the references at the end keep their own titles
    for jargon in ("NRS", "mg/kg", "IMMPACT", "MME", "dissociation", "bolus", "Kaplan"):
        assert jargon not in prose, jargon


def test_it_shows_their_own_diary_numbers_before_and_after(summary):
    _, text, _ = summary
    assert "21 diary days" in text and "28 days" in text
    assert re.search(r"Pain score \(0 = no pain, 10 = worst pain imaginable\) 8 3 5 points lower: better\.", text)
    assert re.search(r"Mood \(0 = worst, 10 = best\) 3 7 4 points higher: better\.", text)
    assert re.search(r"Sleep \(0 = worst, 10 = best\) 4 7 3 points higher: better\.", text)
    assert re.search(r"Daily activities \(0 = worst, 10 = best\) 3 6 3 points higher: better\.", text)
    assert re.search(r"Opioid painkillers \(as mg of morphine a day\) 30 15 15 mg a day lower: better\.", text)
    assert "your average pain score was 3, against 8 at your assessment" in text
    assert "Your pain fell by half or more (63 %)" in text and '"responder"' in text
    assert "a fall in pain of 30 % (about a third) as a worthwhile improvement" in text
    assert "Your relief was still there at your last diary entry, 30 days after the course." in text


def test_it_says_what_happens_next_and_when_to_call(summary, env):
    _, text, _ = summary
    booked = env["story"].next_session
    assert f"Your next session is booked for {booked:%A %d %B %Y} at 09:30" in text
    assert "You reported bladder symptoms in your diary" in text
    assert "A routine review of your pain medicines is due" in text
    assert "When to call the clinic" in text
    assert "Blood in your urine, pain or burning when you pass urine" in text
    assert "Seeing or hearing things that are not there" in text
    assert "Chest pain, a pounding or racing heartbeat" in text
    assert "call your local emergency number" in text
    assert "It is not medical advice" in text and "ask your care team" in text
    assert "doi:10.1016/j.jpain.2007.09.005" in text  # immpact2008
    assert "ketamine-associated uropathy" in text  # chan2022_uropathy, behind the bladder advice


def test_every_generation_is_audited(summary, env):
    with env["db"].reading() as session:
        entries = session.execute(select(AuditEntry).where(AuditEntry.action == "report.patient_summary")
                                  .order_by(AuditEntry.seq)).scalars().all()
    assert len(entries) >= 2
    assert {(e.record_type, e.record_id, e.username) for e in entries[:2]} == \
        {("patient", str(env["clinic"].own_patient_id), "patient")}


def test_api_gives_the_patient_their_own_summary_and_404_for_anyone_elses(client, env):
    clinic = env["clinic"]
    own = client.get(f"/api/v1/patients/{clinic.own_patient_id}/summary.pdf", headers=bearer(env, "patient"))
    assert own.status_code == 200 and own.headers["content-type"] == "application/pdf"
    assert own.headers["cache-control"] == "no-store"
    assert "Synthetic Own" in read_pdf(own.content).text
    other = client.get(f"/api/v1/patients/{clinic.other_patient_id}/summary.pdf", headers=bearer(env, "patient"))
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    missing = client.get("/api/v1/patients/999999/summary.pdf", headers=bearer(env, "patient"))
    assert missing.status_code == 404 and missing.json() == other.json()  # no hint that the other one exists
    assert client.get(f"/api/v1/patients/{clinic.own_patient_id}/summary.pdf",
                      headers=bearer(env, "coordinator")).status_code == 403
    nurse = client.get(f"/api/v1/patients/{clinic.other_patient_id}/summary.pdf", headers=bearer(env, "nurse"))
    assert nurse.status_code == 200
    text = " ".join(read_pdf(nurse.content).text.split())
    assert "Synthetic Other" in text and "You have not had a treatment session yet." in text
    assert "No session has been booked yet." in text


def test_web_portal_and_chart_link_to_the_summary(client, env):
    clinic = env["clinic"]
    client.cookies.clear()
    sign_in(client, "patient", PASSWORD)
    portal = client.get("/me")
    assert portal.status_code == 200 and 'href="/me/summary.pdf"' in portal.text
    assert "Download my summary (PDF)" in portal.text
    mine = client.get("/me/summary.pdf")
    assert mine.status_code == 200 and mine.headers["content-type"] == "application/pdf"
    assert "Synthetic Own" in read_pdf(mine.content).text
    assert client.get(f"/patients/{clinic.other_patient_id}/summary.pdf").status_code == 404
    client.cookies.clear()
    sign_in(client, "physician", PASSWORD)
    chart = client.get(f"/patients/{clinic.own_patient_id}")
    assert f'href="/patients/{clinic.own_patient_id}/summary.pdf"' in chart.text
    printed = client.get(f"/patients/{clinic.own_patient_id}/summary.pdf")
    assert printed.status_code == 200 and read_pdf(printed.content).pages >= 1
    client.cookies.clear()


def test_cli_writes_a_readable_pdf_and_refuses_bad_input_as_json(env, tmp_path):
    runner = CliRunner()
    environment = {"KETACLINIC_DATABASE_URL": env["settings"].database_url}
    out = tmp_path / "summary.pdf"
    pid = env["clinic"].own_patient_id
    args = ["report", "summary", "--username", "nurse", "--password-stdin"]
    ok = runner.invoke(cli_app, [*args, "--patient", str(pid), "--out", str(out)], input=PASSWORD + "\n", env=environment)
    assert ok.exit_code == 0, ok.stdout
    receipt = json.loads(ok.stdout)
    assert receipt["written"] == str(out) and receipt["bytes"] == out.stat().st_size
    assert "Synthetic Own" in read_pdf(out.read_bytes()).text
    for bad, code in ((["--patient", "abc", "--out", str(out)], "invalid_input"),
                      (["--patient", "999999", "--out", str(out)], "not_found"),
                      (["--patient", str(pid), "--out", str(tmp_path / "missing" / "x.pdf")], "bad_path")):
        result = runner.invoke(cli_app, [*args, *bad], input=PASSWORD + "\n", env=environment)
        assert result.exit_code == 2, result.stdout
        assert json.loads(result.stdout)["error"]["code"] == code
    as_patient = runner.invoke(cli_app, ["report", "summary", "--username", "patient", "--password-stdin", "--patient",
                                         str(env["clinic"].other_patient_id), "--out", str(out)],
                               input=PASSWORD + "\n", env=environment)
    assert as_patient.exit_code == 2 and json.loads(as_patient.stdout)["error"]["code"] == "not_found"


def test_a_patient_with_relief_fading_is_told_about_a_booster(env, tmp_path):
    """Same records seen later: the booked session has passed unattended, pain is back near 8 for a week."""
    from ketaclinic.services import diary as dy
    from ketaclinic.services import sessions as ss

    db, clinic, story = env["db"], env["clinic"], env["story"]
    later = story.now + timedelta(days=10)
    nurse = clinic.actors["nurse"]
    visits = ss.list_sessions(db, nurse, patient_id=clinic.own_patient_id, limit=50).items
    booked = next(v for v in visits if v.state == "scheduled")
    ss.cancel_session(db, nurse, booked.id, booked.version, ss.CancelIn(reason="synthetic: rebooking"),
                      now=story.now + timedelta(days=1))
    for offset in range(1, 10):
        day = (story.now + timedelta(days=offset)).date()
        dy.add_entry(db, clinic.actors["patient"], dy.DiaryIn(day=day, pain_nrs=8), now=story.now + timedelta(days=offset))
    text = " ".join(read_pdf(patient_summary(db, clinic.actors["patient"], clinic.own_patient_id, now=later)).text.split())
    assert "your pain relief has worn off over the last week" in text
    assert 'A top-up session (a "booster") may help' in text
    assert "Your next session is booked" not in text
