"""The letters to the referring physician, read back from the PDF: the real values, the page count,
the DRAFT marking, what is missing said in words, and the audit entries."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from ketaclinic.records.audit import AuditEntry
from ketaclinic.services import evaluations as ev
from ketaclinic.services.documents import course_letter, evaluation_letter
from ketaclinic.services.errors import Conflict, Forbidden, NotFound
from tests.reports.letters_clinic import (
    ALERT_ACTION,
    DOCS,
    NOW,
    RATE_REASON,
    REFERRER,
    build_story,
    make_clinic,
    module_database,
)
from tests.reports.pdfcheck import read_pdf

pytestmark = pytest.mark.xdist_group("report_letters")  # one worker builds the course and draws the letters once


@pytest.fixture(scope="module")
def env(tmp_path_factory, sqlite_template, cheap_password_hashing):
    tmp = tmp_path_factory.mktemp("letters")
    settings, db = module_database(tmp, sqlite_template)
    clinic = make_clinic(db)
    story = build_story(db, clinic)
    yield {"db": db, "clinic": clinic, "story": story, "tmp": tmp}
    db.dispose()


def _read(pdf: bytes, png: str):
    back = read_pdf(pdf, png)
    return back, " ".join(back.text.split())


@pytest.fixture(scope="module")
def evaluation_pdf(env):
    db, clinic, story = env["db"], env["clinic"], env["story"]
    return _read(evaluation_letter(db, clinic.actors["physician"], story.evaluation_id, NOW), str(env["tmp"] / "e.png"))


@pytest.fixture(scope="module")
def draft_pdf(env):
    db, clinic, story = env["db"], env["clinic"], env["story"]
    return _read(evaluation_letter(db, clinic.actors["nurse"], story.draft_evaluation_id, NOW), str(env["tmp"] / "d.png"))


@pytest.fixture(scope="module")
def refused_pdf(env):
    db, clinic, story = env["db"], env["clinic"], env["story"]
    return _read(evaluation_letter(db, clinic.actors["physician"], story.other_evaluation_id, NOW), str(env["tmp"] / "r.png"))


@pytest.fixture(scope="module")
def course_pdf(env):
    """The course letter, drawn twice (the second draw is timed: warm, as a clinic serves it)."""
    db, clinic = env["db"], env["clinic"]
    course_letter(db, clinic.actors["physician"], clinic.own_patient_id, NOW)
    started = time.perf_counter()
    pdf = course_letter(db, clinic.actors["physician"], clinic.own_patient_id, NOW)
    seconds = time.perf_counter() - started
    DOCS.mkdir(parents=True, exist_ok=True)
    back, text = _read(pdf, str(DOCS / "report-letter-course.png"))
    return back, text, seconds


@pytest.fixture(scope="module")
def sparse_pdf(env):
    db, clinic, story = env["db"], env["clinic"], env["story"]
    return _read(course_letter(db, clinic.actors["physician"], story.sparse_patient_id, NOW), str(env["tmp"] / "s.png"))


# --- after the evaluation ------------------------------------------------------------------------


def test_the_evaluation_letter_is_one_or_two_pages_addressed_to_the_referrer(evaluation_pdf, env):
    back, text = evaluation_pdf
    assert 1 <= back.pages <= 2
    assert back.title == "Letter to the referrer"
    assert back.first_page_ink > 0.001
    assert REFERRER in text and "Riverside Family Practice (synthetic)" in text
    assert f"Dear {REFERRER}," in text
    assert f"Re: Ada Synthetic-Lovell, born 02 Jan 1970 (56 years, female), clinic no. {env['clinic'].own_patient_id}" in text
    assert "DRAFT" not in text


def test_the_evaluation_letter_gives_the_diagnosis_screening_and_plan_as_recorded(evaluation_pdf, env):
    _, text = evaluation_pdf
    assert "Complex regional pain syndrome (CRPS)" in text
    assert "G90.50" not in text and "G56.40" not in text  # issue 18: no ICD-10-CM code names CRPS of unstated type
    assert "Screening result: Eligible" in text
    stored = ev.get_evaluation(env["db"], env["clinic"].actors["physician"], env["story"].evaluation_id)
    assert stored.screening_result["findings"], "the standard screening has findings (notes) to print"
    for finding in stored.screening_result["findings"]:
        assert " ".join(finding["message"].split()) in text  # each finding's reason, word for word
    assert "Cohen et al. 2018" in text  # each source cited briefly ...
    assert "Reg Anesth Pain Med 2018" in text  # ... and in full at the end
    assert "Outpatient infusion series, 40 min to 4 h" in text
    assert "0.2 mg/kg (13.6 mg) over 5 min" in text
    assert "0.5 mg/kg/h (34 mg/h) for 240 min" in text
    assert "149.6 mg ketamine (2.2 mg/kg) over 245 min" in text
    assert "6 sessions, 1–7 days apart" in text
    assert "The patient starts a series of 6 sessions" in text


def test_the_evaluation_letter_is_signed_by_the_physician_who_signed(evaluation_pdf, env):
    _, text = evaluation_pdf
    assert "Yours sincerely, physician Physician; signed evaluation" in text
    assert f"signed evaluation {env['story'].evaluation_id} on 02 Mar 2026 10:00" in text


def test_a_draft_evaluation_gives_a_letter_marked_draft_not_signed(draft_pdf, env):
    back, text = draft_pdf
    assert 1 <= back.pages <= 2
    assert text.count("DRAFT — NOT SIGNED") >= back.pages  # the banner and the watermark on every page
    assert "has not been signed by a physician: do not act on this letter" in text
    assert "NOT SIGNED Draft prepared by nurse" in text
    assert "Yours sincerely, physician" not in text
    assert "Treatment plan" not in text  # no plan is offered on an unsigned evaluation
    assert back.first_page_ink > 0.001


def test_a_refusal_letter_says_why_and_greets_a_colleague_when_no_referrer_is_recorded(refused_pdf):
    back, text = refused_pdf
    assert back.pages == 1
    assert "Dear colleague," in text
    assert "No referring physician is recorded on the patient's chart." in text
    assert "Screening result: Not eligible" in text
    assert "Contraindication" in text and "pregnan" in text.lower()
    assert "We are not offering ketamine infusions at present" in text
    assert "Treatment plan" not in text


def test_a_patient_reads_only_their_own_signed_letter(env):
    db, clinic, story = env["db"], env["clinic"], env["story"]
    patient = clinic.actors["patient"]
    with pytest.raises(Forbidden) as refused:
        evaluation_letter(db, patient, story.draft_evaluation_id, NOW)
    assert refused.value.code == "letter_not_signed"
    with pytest.raises(NotFound):
        evaluation_letter(db, patient, story.other_evaluation_id, NOW)  # someone else's: as if it did not exist
    with pytest.raises(NotFound):
        course_letter(db, patient, clinic.other_patient_id, NOW)
    for role in ("coordinator", "admin"):
        with pytest.raises(Forbidden):
            evaluation_letter(db, clinic.actors[role], story.evaluation_id, NOW)
        with pytest.raises(Forbidden):
            course_letter(db, clinic.actors[role], clinic.own_patient_id, NOW)


# --- after the course ----------------------------------------------------------------------------


def test_the_course_letter_is_one_or_two_pages_drawn_quickly(course_pdf):
    back, _, seconds = course_pdf
    assert 1 <= back.pages <= 2
    assert back.title == "Letter to the referrer"
    assert back.first_page_ink > 0.001
    assert (DOCS / "report-letter-course.png").stat().st_size > 10_000
    assert seconds < 5.0, f"a warm render took {seconds:.1f} s"  # about 1.2 s on the reference machine


def test_the_course_letter_leads_with_a_three_line_summary(course_pdf):
    _, text, _ = course_pdf
    summary = text[text.index("Course 3 sessions"):text.index("has completed a course")]
    assert "3 sessions of Outpatient infusion series, 04 Mar – 09 Mar 2026" in summary
    assert "ketamine 69.1–78.8 mg (1.02–1.16 mg/kg) per session" in summary
    assert "1 alert, all answered" in summary
    assert "Outcome Pain 8 → 4.5/10 (-43.8 %): responder at 30 %, not at 50 %." in summary
    assert "Opioids 30 → 15 MME/day." in summary
    assert summary.index("Next") > summary.index("Outcome") > summary.index("Course")


def test_the_course_letter_lists_each_session_as_the_pump_ran_it(course_pdf):
    _, text, _ = course_pdf
    first = round(13.6 + 34 * (35 - 5) / 60 + 27.2 * (120 - 35) / 60, 1)  # the rate change at minute 35, stop at 120
    whole = round(13.6 + 34 * (120 - 5) / 60, 1)
    assert f"{first} mg" in text and f"{whole} mg" in text
    assert f"{round(first / 68, 2):.2f} mg/kg" in text
    assert "120 min" in text
    assert f"34→27.2 mg/h ({RATE_REASON})" in text
    assert "nausea (moderate)" in text
    assert "dissociation (moderate)" in text and "dissociation (mild)" not in text  # the amended severity counts
    assert f"→ {ALERT_ACTION}" in text


def test_the_course_letter_compares_before_and_after_with_the_responder_classes(course_pdf):
    _, text, _ = course_pdf
    assert "Pain, NRS 0–10 (lower is better) 8 evaluation 4.5 20 days -43.8 % (-3.5 points)" in text
    assert "Daily activities, 0–10 (higher is better) 3 14 days 6 20 days +3.0 points" in text
    assert "30 14 days 15 20 days -15.0 MME/day" in text
    assert "responder at 30 %: yes; at 50 %: no; a fall of 2 points or more: yes" in text
    assert "Dworkin et al. 2008" in text and "CDC 2022 (Dowell)" in text


def test_the_course_letter_recommends_from_the_clinic_rules(course_pdf):
    _, text, _ = course_pdf
    assert "Relief holds" in text  # booster advice: the last 7 diary days are at least 30 % below 8
    assert "oral ketamine or dextromethorphan (B, Low) or intranasal ketamine (B, Moderate)" in text
    assert "Misuse check" in text and "Brief cognitive screen" in text and "Urinary symptoms" in text
    assert "never recorded - due now" in text
    assert "Liver tests not required" in text
    assert f"Dear {REFERRER}," in text
    assert "Responsible physician (signed the treatment plan on 02 Mar 2026)" in text


def test_the_course_letter_says_where_data_are_missing(sparse_pdf):
    back, text = sparse_pdf
    assert 1 <= back.pages <= 2
    assert "Follow-up diary too short to judge: 0 of the 3 diary days needed in the 28 days after the course" in text
    assert "No diary before the course" in text
    assert "not judged" in text and "not enough diary" in text
    assert "Dear colleague," in text


def test_no_course_letter_before_the_first_discharged_session(env):
    with pytest.raises(Conflict) as refused:
        course_letter(env["db"], env["clinic"].actors["physician"], env["clinic"].other_patient_id, NOW)
    assert refused.value.code == "no_course"


def test_every_letter_is_in_the_audit_log(env, evaluation_pdf, course_pdf, draft_pdf):
    with env["db"].transaction() as session:
        rows = session.execute(select(AuditEntry.action, AuditEntry.record_type, AuditEntry.record_id, AuditEntry.username)
                               .where(AuditEntry.action.like("report.letter.%"))).all()
    story, clinic = env["story"], env["clinic"]
    assert ("report.letter.evaluation", "evaluation", str(story.evaluation_id), "physician") in rows
    assert ("report.letter.evaluation", "evaluation", str(story.draft_evaluation_id), "nurse") in rows
    assert ("report.letter.course", "patient", str(clinic.own_patient_id), "physician") in rows
