"""The printable session record, read back from the PDF (and its markup for what text cannot show: the strike)."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from ketaclinic.records.audit import AuditEntry
from ketaclinic.services import plans as pl
from ketaclinic.services.documents import session_record, session_record_html
from ketaclinic.services.errors import Forbidden, NotFound
from tests.interop.flows import KETAMINE_LOT, T0, running
from tests.reports.letters_clinic import (
    ALERT_ACTION,
    AMEND_REASON,
    DOCS,
    NOW,
    ONDANSETRON_LOT,
    RATE_REASON,
    build_story,
    make_clinic,
    module_database,
)
from tests.reports.pdfcheck import read_pdf

pytestmark = pytest.mark.xdist_group("report_letters")


@pytest.fixture(scope="module")
def env(tmp_path_factory, sqlite_template, cheap_password_hashing):
    tmp = tmp_path_factory.mktemp("session-record")
    settings, db = module_database(tmp, sqlite_template)
    clinic = make_clinic(db)
    story = build_story(db, clinic)
    yield {"db": db, "clinic": clinic, "story": story, "tmp": tmp}
    db.dispose()


@pytest.fixture(scope="module")
def record(env):
    """The eventful session's record as a nurse prints it (drawn twice; the second draw is timed)."""
    db, clinic, story = env["db"], env["clinic"], env["story"]
    session_record(db, clinic.actors["nurse"], story.eventful_session_id, NOW)
    started = time.perf_counter()
    pdf = session_record(db, clinic.actors["nurse"], story.eventful_session_id, NOW)
    seconds = time.perf_counter() - started
    DOCS.mkdir(parents=True, exist_ok=True)
    back = read_pdf(pdf, str(DOCS / "report-session-record.png"))
    return back, " ".join(back.text.split()), seconds


def test_the_record_is_a_short_landscape_pdf_drawn_quickly(record):
    back, _, seconds = record
    assert 1 <= back.pages <= 3
    assert back.title.startswith("Session record #")
    assert back.first_page_ink > 0.001
    assert (DOCS / "report-session-record.png").stat().st_size > 10_000
    assert seconds < 5.0, f"a warm render took {seconds:.1f} s"  # about 1.3 s on the reference machine


def test_it_names_the_patient_the_plan_and_the_day(record, env):
    _, text, _ = record
    story = env["story"]
    assert f"Monitored session record — session {story.eventful_session_id}" in text
    assert "Ada Synthetic-Lovell" in text and "clinic no. 1" in text
    assert f"Plan {story.plan_id}, signed 02 Mar 2026 by physician" in text
    assert "Outpatient infusion series, 40 min to 4 h" in text
    assert "record as of 31 Mar 2026 10:00" in text
    assert "plan dosed for 68 kg" in text


def test_it_prints_the_checklist_and_the_pump_program(record):
    _, text, _ = record
    assert "Consent signed: version 1 signed" in text and "ready to start" in text  # from the signature (issue 13)
    assert "No urinary symptoms." in text
    assert f"lot {KETAMINE_LOT}" in text
    assert "Ketamine 1 mg/mL · dosed for 68 kg" in text
    assert "1. loading bolus, slow push 0.2 mg/kg 13.6 163.2 163.2 5 13.6" in text  # mg, mg/h, mL/h, min, mL
    assert "2. maintenance infusion 0.5 mg/kg/h 136 34 34 240 136" in text
    assert "Programmed total 149.6" in text
    given = round(13.6 + 34 * 30 / 60 + 27.2 * 85 / 60, 1)
    assert f"Ketamine given: {given} mg (1.02 mg/kg) over 120 min" in text


def test_every_event_is_there_in_time_order_with_its_values(record):
    _, text, _ = record
    steps = ["Checked in", "Infusion started", "side effects: nausea (moderate)", "ALERT WARNING",
             f"ondansetron 4 mg IV · lot {ONDANSETRON_LOT}", "Alert answered",
             f"34 → 27.2 mL/h · 34 → 27.2 mg/h (0.5 → 0.4 mg/kg/h) · reason: {RATE_REASON}",
             "dissociation (mild)", "Amendment Corrects the side effect entry", "Infusion stopped", "Discharged"]
    events = text[text.index("Events, in time order"):text.index("Discharge Criterion")]
    where = [events.index(s) for s in steps]
    assert where == sorted(where), list(zip(steps, where, strict=True))
    assert "BP 132/84 mmHg · HR 78/min · SpO2 98 % · RR 14/min · MOAA/S 5" in events


def test_each_alert_shows_the_rule_advice_and_who_answered_what(record):
    _, text, _ = record
    assert "Recommended: give medication (per plan)" in text
    assert f"Answered by nurse at 09:33: {ALERT_ACTION}" in text
    assert "Not answered" not in text


def test_the_amended_original_is_struck_through_never_hidden(record, env):
    _, text, _ = record
    assert f"dissociation (mild) Corrected by nurse at 09:55: severity: moderate — reason: {AMEND_REASON}" in text
    html = session_record_html(env["db"], env["clinic"].actors["physician"], env["story"].eventful_session_id, NOW)
    assert re.search(r'<span class="amended">\s*dissociation \(mild\)\s*</span>', html)
    assert ".amended { text-decoration: line-through" in html


def test_it_prints_the_discharge_and_the_signatures(record):
    _, text, _ = record
    assert "Observed 65 min since the infusion stopped (minimum 60 min)." in text
    assert "total 10/10" in text and "fit for discharge" in text
    assert "Vital signs 2; Activity 2; Nausea, vomiting 2; Pain 2; Bleeding 2" in text  # the modified PADSS (4.7)
    assert "Started the infusion nurse 04 Mar 2026 09:00" in text
    assert "Discharged nurse 04 Mar 2026 12:05" in text
    assert "Chung et al. 1995" in text


def test_a_running_session_prints_what_has_happened_so_far(env):
    db, clinic = env["db"], env["clinic"]
    plan = pl.get_plan(db, clinic.actors["physician"], env["story"].plan_id)
    at = T0 + timedelta(days=12)
    visit = running(db, clinic, plan, at)
    html = session_record_html(db, clinic.actors["nurse"], visit.id, at + timedelta(minutes=35))
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert "Infusion running" in text
    assert f"Ketamine given: {round(13.6 + 34 * 30 / 60, 1)} mg" in text  # the bolus, then 30 min at 34 mg/h
    assert "Not discharged as of" in text


def test_only_clinicians_print_it_and_each_print_is_audited(record, env):
    db, clinic, story = env["db"], env["clinic"], env["story"]
    for role in ("patient", "coordinator", "admin"):
        with pytest.raises(Forbidden):
            session_record(db, clinic.actors[role], story.eventful_session_id, NOW)
    with pytest.raises(NotFound):
        session_record(db, clinic.actors["physician"], 10**9, NOW)
    with db.transaction() as session:
        rows = session.execute(select(AuditEntry.record_id, AuditEntry.username)
                               .where(AuditEntry.action == "report.session_record")).all()
    assert (str(story.eventful_session_id), "nurse") in rows
