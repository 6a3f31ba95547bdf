"""The letters and the session record from the API, the web UI and the CLI: who may have them (403),
whose they are (404), and that each entry point hands back a readable PDF; and the documents service
itself (what every entry point calls): who may read each document, and the audit entry of each."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from ketaclinic.api.app import create_app
from ketaclinic.cli import app as cli_app
from ketaclinic.clock import utcnow
from ketaclinic.records.audit import AuditEntry
from ketaclinic.records.sessions import SessionEvent
from ketaclinic.services import documents
from ketaclinic.services.auth import issue_token
from ketaclinic.services.errors import Forbidden, NotFound
from tests.conftest import PASSWORD
from tests.reports.letters_clinic import NOW, REFERRER, build_story, make_clinic, module_database
from tests.reports.pdfcheck import read_pdf
from tests.web.conftest import sign_in

pytestmark = pytest.mark.xdist_group("report_letters")
DOCUMENT_ACTIONS = ("report.letter.evaluation", "report.letter.course", "report.session_record",
                    "report.patient_summary", "report.outcomes")


@pytest.fixture(scope="module")
def env(tmp_path_factory, sqlite_template, cheap_password_hashing):
    tmp = tmp_path_factory.mktemp("letters-access")
    settings, db = module_database(tmp, sqlite_template)
    clinic = make_clinic(db)
    story = build_story(db, clinic)
    app = create_app(settings, db=db)
    with TestClient(app) as client:
        yield {"settings": settings, "db": db, "clinic": clinic, "story": story, "tmp": tmp, "client": client}
    db.dispose()


def bearer(env, role: str) -> dict[str, str]:
    token, _ = issue_token(env["db"], env["clinic"].actors[role], now=utcnow(), lifetime_s=600)
    return {"Authorization": f"Bearer {token}"}


def api(env, role: str, path: str):
    return env["client"].get(f"/api/v1{path}", headers=bearer(env, role))


# --- API ---------------------------------------------------------------------------------------


def test_the_api_gives_a_physician_the_course_letter_as_an_uncached_pdf(env):
    response = api(env, "physician", f"/patients/{env['clinic'].own_patient_id}/course-letter.pdf")
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "no-store"
    assert 'filename="letter-course-patient-' in response.headers["content-disposition"]
    back = read_pdf(response.content)
    assert 1 <= back.pages <= 2 and REFERRER in back.text


def test_a_patient_gets_their_own_course_letter_and_nobody_elses(env):
    clinic = env["clinic"]
    own = api(env, "patient", f"/patients/{clinic.own_patient_id}/course-letter.pdf")
    assert own.status_code == 200 and own.content.startswith(b"%PDF-")
    other = api(env, "patient", f"/patients/{clinic.other_patient_id}/course-letter.pdf")
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    letter = api(env, "patient", f"/evaluations/{env['story'].other_evaluation_id}/letter.pdf")
    assert letter.status_code == 404
    draft = api(env, "patient", f"/evaluations/{env['story'].draft_evaluation_id}/letter.pdf")
    assert draft.status_code == 403 and draft.json()["error"]["code"] == "letter_not_signed"
    record = api(env, "patient", f"/sessions/{env['story'].eventful_session_id}/record.pdf")
    assert record.status_code == 403


@pytest.mark.parametrize("role", ["coordinator", "admin"])
def test_roles_without_clinical_reading_get_403(env, role):
    clinic, story = env["clinic"], env["story"]
    for path in (f"/evaluations/{story.evaluation_id}/letter.pdf", f"/patients/{clinic.own_patient_id}/course-letter.pdf",
                 f"/sessions/{story.eventful_session_id}/record.pdf"):
        response = api(env, role, path)
        assert response.status_code == 403, (path, response.status_code)
    assert env["client"].get(f"/api/v1/sessions/{story.eventful_session_id}/record.pdf").status_code == 401


def test_unknown_records_and_a_patient_without_a_course_say_so(env):
    assert api(env, "physician", "/evaluations/999999/letter.pdf").status_code == 404
    assert api(env, "nurse", "/sessions/999999/record.pdf").status_code == 404
    assert api(env, "physician", "/patients/999999/course-letter.pdf").status_code == 404
    none_yet = api(env, "physician", f"/patients/{env['clinic'].other_patient_id}/course-letter.pdf")
    assert none_yet.status_code == 409 and none_yet.json()["error"]["code"] == "no_course"


def test_a_nurse_prints_the_session_record_from_the_api(env):
    response = api(env, "nurse", f"/sessions/{env['story'].eventful_session_id}/record.pdf")
    assert response.status_code == 200
    back = read_pdf(response.content)
    assert "Monitored session record" in back.text and back.first_page_ink > 0.001


# --- web ---------------------------------------------------------------------------------------


@pytest.fixture
def web(env):
    def signed_in(role: str) -> TestClient:
        client = env["client"]
        client.cookies.clear()
        sign_in(client, role, PASSWORD)
        return client

    yield signed_in
    env["client"].cookies.clear()


def test_the_pages_link_to_their_documents(env, web):
    clinic, story = env["clinic"], env["story"]
    client = web("physician")
    assert f'href="/evaluations/{story.evaluation_id}/letter.pdf"' in client.get(f"/evaluations/{story.evaluation_id}").text
    draft = client.get(f"/evaluations/{story.draft_evaluation_id}").text
    assert f'href="/evaluations/{story.draft_evaluation_id}/letter.pdf"' in draft and "not signed" in draft
    assert f'href="/patients/{clinic.own_patient_id}/course-letter.pdf"' in client.get(f"/patients/{clinic.own_patient_id}").text
    assert "course-letter.pdf" not in client.get(f"/patients/{clinic.other_patient_id}").text  # no course, no letter
    assert f'href="/sessions/{story.eventful_session_id}/record.pdf"' in client.get(f"/sessions/{story.eventful_session_id}").text
    portal = web("patient").get("/me/sessions").text
    assert f'href="/patients/{clinic.own_patient_id}/course-letter.pdf"' in portal


def test_the_web_serves_the_record_to_clinicians_and_refuses_the_rest(env, web):
    story, clinic = env["story"], env["clinic"]
    record = web("physician").get(f"/sessions/{story.eventful_session_id}/record.pdf")
    assert record.status_code == 200 and record.headers["content-type"] == "application/pdf"
    assert read_pdf(record.content).pages >= 1
    assert web("coordinator").get(f"/sessions/{story.eventful_session_id}/record.pdf").status_code == 403
    assert web("coordinator").get(f"/evaluations/{story.evaluation_id}/letter.pdf").status_code == 403
    patient = web("patient")
    assert patient.get(f"/sessions/{story.eventful_session_id}/record.pdf").status_code == 403
    assert patient.get(f"/patients/{clinic.other_patient_id}/course-letter.pdf").status_code == 404
    assert patient.get(f"/evaluations/{story.draft_evaluation_id}/letter.pdf").status_code == 403
    env["client"].cookies.clear()
    anonymous = env["client"].get(f"/sessions/{story.eventful_session_id}/record.pdf", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


# --- CLI ---------------------------------------------------------------------------------------


def cli(env, monkeypatch, *args: str, role: str = "physician"):
    monkeypatch.setenv("KETACLINIC_DATABASE_URL", env["settings"].database_url)
    return CliRunner().invoke(cli_app, ["report", *args, "--username", role, "--password-stdin"], input=PASSWORD + "\n")


def test_the_cli_writes_a_readable_letter(env, monkeypatch):
    out = env["tmp"] / "letter.pdf"
    result = cli(env, monkeypatch, "letter", "--evaluation", str(env["story"].evaluation_id), "--out", str(out))
    assert result.exit_code == 0, result.stdout
    receipt = json.loads(result.stdout)
    assert receipt["written"] == str(out) and receipt["bytes"] == out.stat().st_size
    back = read_pdf(out.read_bytes())
    assert back.pages == 1 and "Screening result: Eligible" in " ".join(back.text.split())


def test_the_cli_answers_bad_requests_with_exit_2_and_the_json_error(env, monkeypatch):
    out = str(env["tmp"] / "never.pdf")
    unknown = cli(env, monkeypatch, "letter", "--evaluation", "999999", "--out", out)
    assert unknown.exit_code == 2 and json.loads(unknown.stdout)["error"]["code"] == "not_found"
    session = cli(env, monkeypatch, "session", "--session", "999999", "--out", out, role="nurse")
    assert session.exit_code == 2 and json.loads(session.stdout)["error"]["code"] == "not_found"
    both = cli(env, monkeypatch, "letter", "--evaluation", "1", "--patient", "1", "--out", out)
    assert both.exit_code == 2 and json.loads(both.stdout)["error"]["field"] == "evaluation"
    neither = cli(env, monkeypatch, "letter", "--out", out)
    assert neither.exit_code == 2 and json.loads(neither.stdout)["error"]["code"] == "invalid_input"
    typo = cli(env, monkeypatch, "session", "--session", "12a", "--out", out)
    assert typo.exit_code == 2 and json.loads(typo.stdout)["error"]["field"] == "session"
    patient = cli(env, monkeypatch, "session", "--session", str(env["story"].eventful_session_id), "--out", out,
                  role="patient")
    assert patient.exit_code == 2 and json.loads(patient.stdout)["error"]["code"] == "forbidden"
    no_course = cli(env, monkeypatch, "letter", "--patient", str(env["clinic"].other_patient_id), "--out", out)
    assert no_course.exit_code == 2 and json.loads(no_course.stdout)["error"]["code"] == "no_course"
    assert not (env["tmp"] / "never.pdf").exists()


# --- the service every entry point calls (services/documents.py) ---------------------------------


def _audit_entries(env, action: str) -> list:
    with env["db"].reading() as session:
        return session.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).scalars().all()


def _service_calls(env) -> dict:
    db, clinic, story = env["db"], env["clinic"], env["story"]
    return {
        "report.letter.evaluation": lambda actor: documents.evaluation_letter(db, actor, story.evaluation_id, NOW),
        "report.letter.course": lambda actor: documents.course_letter(db, actor, clinic.own_patient_id, NOW),
        "report.session_record": lambda actor: documents.session_record(db, actor, story.eventful_session_id, NOW),
        "report.patient_summary": lambda actor: documents.patient_summary(db, actor, clinic.own_patient_id, now=NOW),
        # the role is checked before the range is read: a typo does not tell a coordinator the report exists
        "report.outcomes": lambda actor: documents.outcome_report(db, actor, start="31/03/2026", now=NOW),
    }


@pytest.mark.parametrize(("role", "refused"), [
    ("coordinator", set(DOCUMENT_ACTIONS)), ("admin", set(DOCUMENT_ACTIONS)),
    ("patient", {"report.session_record", "report.outcomes"}),
])
def test_the_service_decides_who_reads_each_document_and_audits_no_refusal(env, role, refused):
    actor = env["clinic"].actors[role]
    before = {action: len(_audit_entries(env, action)) for action in DOCUMENT_ACTIONS}
    for action, call in _service_calls(env).items():
        if action in refused:
            with pytest.raises(Forbidden):
                call(actor)
    assert {action: len(_audit_entries(env, action)) for action in DOCUMENT_ACTIONS} == before


def test_a_patient_asking_the_service_for_someone_elses_document_gets_404(env):
    db, clinic, story = env["db"], env["clinic"], env["story"]
    patient = clinic.actors["patient"]
    with pytest.raises(NotFound):
        documents.patient_summary(db, patient, clinic.other_patient_id, now=NOW)
    with pytest.raises(NotFound):
        documents.course_letter(db, patient, story.sparse_patient_id, NOW)
    with pytest.raises(NotFound):
        documents.evaluation_letter(db, patient, story.other_evaluation_id, NOW)


def test_each_document_is_audited_once_with_what_it_shows(env):
    db, clinic, story = env["db"], env["clinic"], env["story"]
    calls = _service_calls(env)
    own = clinic.own_patient_id
    with db.reading() as session:
        events = session.execute(select(func.count()).select_from(SessionEvent)
                                 .where(SessionEvent.session_id == story.eventful_session_id)).scalar_one()
    expected = {
        "report.letter.evaluation": ("evaluation", str(story.evaluation_id),
                                     {"patient_id": own, "status": "signed", "plan_id": story.plan_id}),
        "report.letter.course": ("patient", str(own), {"sessions": story.session_ids, "responder_assessable": True}),
        "report.session_record": ("session", str(story.eventful_session_id),
                                  {"patient_id": own, "state": "discharged", "events": events}),
        "report.patient_summary": ("patient", str(own), {"sessions": 3, "diary_days": 20}),
    }
    for action, (record_type, record_id, detail) in expected.items():
        count = len(_audit_entries(env, action))
        assert calls[action](clinic.actors["physician"])[:5] == b"%PDF-"
        entries = _audit_entries(env, action)
        assert len(entries) == count + 1, action
        last = entries[-1]
        assert (last.record_type, last.record_id, last.username) == (record_type, record_id, "physician")
        assert json.loads(last.detail) == detail, action
    count = len(_audit_entries(env, "report.outcomes"))
    pdf = documents.outcome_report(db, clinic.actors["nurse"], start="2026-01-01", end="2026-03-31", now=NOW)
    assert pdf[:5] == b"%PDF-"
    entries = _audit_entries(env, "report.outcomes")
    assert len(entries) == count + 1 and entries[-1].username == "nurse"
    # Ada's and Cleo's courses ended in the range (Cleo without diary: not assessable); 3 + 1 sessions started
    assert json.loads(entries[-1].detail) == {"start": "2026-01-01", "end": "2026-03-31", "patients": 2,
                                              "assessable": 1, "sessions": 4}
