"""The outcome report's questionnaire section (issue 15): PHQ-9/GAD-7 change, the share reaching the MCID and the
PGIC responders, read from the PDF itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ketaclinic.services import documents
from ketaclinic.services import questionnaires as qs
from tests.reports.pdfcheck import read_pdf

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def engine() -> str:
    return "sqlite"


def _done(db, actor, patient_id, instrument, answers, at):
    started = qs.start_response(db, actor, patient_id, qs.ResponseStart(instrument=instrument, channel="tablet"), now=at)
    qs.save_response(db, actor, started.id, qs.ResponseSave(answers=answers, complete=True), now=at)


def test_the_outcome_report_shows_phq9_change_mcid_share_and_pgic_responders(db, clinic):
    nurse, physician = clinic.actors["nurse"], clinic.actors["physician"]
    _done(db, nurse, clinic.own_patient_id, "phq9", [2, 2, 2, 2, 2, 2, 2, 1, 0], NOW - timedelta(days=60))  # 15
    _done(db, nurse, clinic.own_patient_id, "phq9", [1, 1, 1, 1, 1, 1, 1, 1, 0], NOW - timedelta(days=2))  # 8
    _done(db, nurse, clinic.own_patient_id, "pgic", [2], NOW - timedelta(days=2))  # much improved
    start = (NOW - timedelta(days=30)).date()
    text = " ".join(read_pdf(documents.outcome_report(db, physician, start=start, end=NOW.date(), now=NOW)).text.split())
    assert "Questionnaires (PROMs)" in text
    assert "PHQ-9 1 15.0 8.0 -7.0 1 (100.0 %)" in text  # the baseline before the range still counts
    assert "1 of 1" in text and "(100.0 %)" in text
