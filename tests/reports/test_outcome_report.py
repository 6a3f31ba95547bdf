"""The clinic outcome report PDF on the demo clinic: the same numbers as the outcomes service for the same range,
small cells, Kaplan-Meier, adverse events, published results with their caveats; from service, API, web, CLI."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from ketaclinic.api.app import create_app
from ketaclinic.cli import app as cli_app
from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.clinical.outcomes import wilson_interval
from ketaclinic.clock import utcnow
from ketaclinic.demo import seed_demo
from ketaclinic.records.audit import AuditEntry
from ketaclinic.records.sessions import InfusionSession
from ketaclinic.records.users import User
from ketaclinic.reports.outcome_report import report_context, responder_row
from ketaclinic.services import outcomes as oc
from ketaclinic.services.auth import actor_for, issue_token
from ketaclinic.services.documents import outcome_report, resolve_range, year_before
from ketaclinic.services.errors import Forbidden, ValidationFailed
from tests.reports.pdfcheck import read_pdf
from tests.reports.report_clinic import module_database
from tests.web.conftest import sign_in

pytestmark = pytest.mark.xdist_group("report_outcomes")  # one worker seeds the demo clinic and draws the PDFs once
DEMO_PASSWORD = "demo-clinic"
SEED_NOW = utcnow().replace(second=0, microsecond=0)
TODAY = SEED_NOW.date()
FULL = (date(2025, 1, 1), TODAY)


def squash(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def env(tmp_path_factory, sqlite_template, cheap_password_hashing):
    tmp = tmp_path_factory.mktemp("outcomes")
    settings, db = module_database(tmp, sqlite_template)
    summary = seed_demo(db, settings, now=SEED_NOW, patients=14)
    assert summary.seeded
    with db.reading() as session:
        actors = {u.username: actor_for(u, "127.0.0.1") for u in session.execute(select(User)).scalars()}
    yield {"settings": settings, "db": db, "actors": actors, "tmp": tmp}
    db.dispose()


def report(env, start: date, end: date):
    pdf = outcome_report(env["db"], env["actors"]["physician"], start=start, end=end, now=SEED_NOW)
    return read_pdf(pdf, str(env["tmp"] / f"outcomes-{start}.png"))


@pytest.fixture(scope="module")
def full(env):
    back = report(env, *FULL)
    cohort = oc.cohort_outcomes(env["db"], env["actors"]["physician"], start=FULL[0], end=FULL[1], today=TODAY)
    return back, squash(back.text), cohort


def test_the_report_reads_back_with_its_frame_and_range(full):
    back, text, _ = full
    assert 2 <= back.pages <= 6
    assert back.title == "Clinic outcome report" and back.first_page_ink > 0.001
    assert "SYNTHETIC DEMO DATA" in text  # the demo clinic says so on every page
    assert f"Courses that ended from 01 Jan 2025 to {TODAY:%d %b %Y} (both days included)" in text


def test_responder_counts_and_intervals_match_the_outcomes_service(full):
    _, text, cohort = full
    overall = cohort["overall"]
    assert cohort["patients_with_a_course"] >= 5 and overall["n"] >= 5  # the demo has enough courses to mean something
    assert f"{cohort['patients_with_a_course']} patients whose course ended in the range" in text
    for key in ("responders_30", "responders_50"):
        count, n = overall[key], overall["n"]
        low, high = wilson_interval(count, n)
        cell = f"{count} ({round(100 * count / n)} %) 95 % CI {round(100 * low)}–{round(100 * high)} %"
        assert cell in text, cell
    assert re.search(rf"All conditions {overall['n']} {overall['responders_30']} \(", text)


def test_condition_rows_hide_small_cells(full):
    _, text, cohort = full
    small = [code for code, g in cohort["by_condition"].items() if g["n"] < 5]
    assert small, "the 14-patient demo has small condition groups"
    for code in small:
        assert f"{CONDITIONS[code].name} <5 <5 <5" in text
    assert "counts below 5 are shown as \"<5\"" in text and "Small cells (clinic policy)" in text
    if len(small) == len(cohort["by_condition"]):  # every group small: pooling them would only repeat the overall row
        assert "patients each, together" not in text


def test_small_cells_leave_out_what_would_give_the_count_back_and_pool_the_small_groups():
    big = {"n": 12, "responders_30": 7, "responders_50": 3, "two_point": 8}
    row = responder_row("CRPS", big, small_cells=True)
    assert row["n"] == "12" and row["r30"]["count"] == "7" and row["r30"]["pct"] == 58
    assert (row["r30"]["low"], row["r30"]["high"]) == (32, 81)  # Wilson 7/12
    assert row["r50"] == {"count": "<5", "pct": None} and row["suppressed"]
    assert responder_row("All", big, small_cells=False)["r50"]["count"] == "3"
    cohort = {"patients_with_a_course": 16, "assessable": 16, "not_assessable": {}, "overall": {**big, "n": 16},
              "by_condition": {"crps": big, "migraine": {"n": 2, "responders_30": 1, "responders_50": 0},
                               "sickle_cell": {"n": 2, "responders_30": 2, "responders_50": 1}},
              "durability": None, "caveats": [], "definitions": {}}
    context = report_context(cohort, 0, [], date(2026, 1, 1), date(2026, 6, 30))
    assert context["pooled"]["name"] == "2 conditions with fewer than 5 patients each, together"
    assert context["pooled"]["n"] == "<5" and context["pooled"]["r30"] == {"count": "<5", "pct": None}
    assert [r["n"] for r in context["conditions"]] == ["12", "<5", "<5"]


def test_durability_and_its_median(full):
    back, text, cohort = full
    km = cohort["durability"]
    assert km and km["n"] >= 2
    assert f"{km['n']} courses, {km['events']} with relief lost" in text
    if km["median_days"] is not None:
        assert f"Median: {round(km['median_days'])} days" in text
    else:
        assert "Median: not reached" in text
    assert "days since the end of the course" in text  # the Kaplan-Meier chart's axis, drawn as vector text


def test_adverse_events_are_counted_from_the_sessions_in_the_range(full, env):
    _, text, _ = full
    with env["db"].reading() as session:
        started = session.execute(select(func.count()).select_from(InfusionSession).where(
            InfusionSession.started_at >= datetime(2025, 1, 1, tzinfo=UTC),
            InfusionSession.started_at < datetime.combine(TODAY + timedelta(days=1), datetime.min.time(), UTC))
        ).scalar_one()
    events = oc.adverse_events(env["db"], env["actors"]["physician"], start=FULL[0], end=FULL[1])
    assert events["sessions_started"] == started > 0
    assert (f"{started} sessions started; {events['sessions_with_side_effects']} with at least one side effect "
            f"recorded; {events['sessions_with_alerts']} with at least one monitoring alert") in text
    assert events["side_effects"] and events["alerts"]
    for row in events["side_effects"]:
        assert f"{row['code'].replace('_', ' ')} {row['severity']} {row['sessions']} {row['reports']}" in text
    for row in events["alerts"]:
        assert f"{row['severity']} {row['alerts']} {row['sessions']}" in text and row["code"].replace("_", " ") in text


def test_published_results_keep_their_citations_and_the_caveats_are_named(full):
    _, text, _ = full
    for who, doi in (("Correll GE 2004", "10.1111/j.1526-4637.2004.04043.x"), ("Schwartzman RJ 2009", "10.1016/j.pain.2009.08.015"),
                     ("Sigtermans MJ 2009", "10.1016/j.pain.2009.06.023")):
        assert who in text and doi.replace(" ", "") in text.replace(" ", "")
    assert "For context, not comparison" in text
    for caveat in ("Selection:", "No control arm:", "Regression to the mean:", "Different outcome definitions:",
                   "Different follow-up times:"):
        assert caveat in text
    assert "Wilson EB (1927)" in text and "IMMPACT recommendations" in text


def test_a_narrower_range_keeps_only_the_courses_that_ended_in_it(env, full):
    _, _, everything = full
    start = TODAY - timedelta(days=150)
    cohort = oc.cohort_outcomes(env["db"], env["actors"]["physician"], start=start, end=TODAY, today=TODAY)
    assert 0 < cohort["patients_with_a_course"] < everything["patients_with_a_course"]
    assert cohort["range"] == {"start": start, "end": TODAY}
    ends = []
    with env["db"].reading() as session:
        for pid in range(1, 15):
            course = oc.patient_course(session, pid, TODAY)
            if not isinstance(course, str):
                ends.append(course.course_end)
    assert cohort["patients_with_a_course"] == sum(start <= d <= TODAY for d in ends)
    text = squash(report(env, start, TODAY).text)
    assert f"{cohort['patients_with_a_course']} patients whose course ended in the range" in text
    unranged = oc.cohort_outcomes(env["db"], env["actors"]["physician"], today=TODAY)
    assert "range" not in unranged and unranged["patients_with_a_course"] == len(ends)


def test_a_range_without_courses_says_so(env):
    back = report(env, date(2001, 1, 1), date(2001, 12, 31))
    text = squash(back.text)
    assert "No course ended between 01 Jan 2001 and 31 Dec 2001" in text
    assert "0 sessions started" in text and "Responders (IMMPACT)" not in text
    assert back.first_page_ink > 0.001


def test_range_rules_roles_and_audit(env):
    physician = env["actors"]["physician"]
    with pytest.raises(ValidationFailed, match="starts .2026-03-01. after it ends .2026-01-01."):
        outcome_report(env["db"], physician, start="2026-03-01", end="2026-01-01")
    with pytest.raises(ValidationFailed, match="YYYY-MM-DD") as bad:
        outcome_report(env["db"], physician, start="2026-02-30")
    assert bad.value.field == "start"
    for far in ("0001-01-01", "9999-12-31"):  # no overflow at the ends of the calendar: a plain refusal
        with pytest.raises(ValidationFailed, match="between 1900-01-01 and 2199-12-31"):
            outcome_report(env["db"], physician, end=far)
    with pytest.raises(Forbidden):
        outcome_report(env["db"], env["actors"]["coordinator"], start="2026-01-01", end="2026-02-01")
    assert resolve_range(None, None, date(2026, 11, 26)) == (date(2025, 11, 27), date(2026, 11, 26))
    assert year_before(date(2028, 2, 29)) == date(2027, 3, 1)
    with env["db"].reading() as session:
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "report.outcomes")
                                .order_by(AuditEntry.seq)).scalars().first()
    assert entry is not None and entry.username == "physician"
    detail = json.loads(entry.detail)
    assert detail["start"] == "2025-01-01" and detail["end"] == TODAY.isoformat() and detail["sessions"] > 0


@pytest.fixture(scope="module")
def client(env):
    app = create_app(env["settings"], db=env["db"])
    with TestClient(app) as test_client:
        yield test_client


def bearer(env, username: str) -> dict[str, str]:
    token, _ = issue_token(env["db"], env["actors"][username], now=utcnow(), lifetime_s=600)
    return {"Authorization": f"Bearer {token}"}


def test_api_report_pdf_with_range_default_and_clear_errors(client, env, full):
    _, _, cohort = full
    url = "/api/v1/outcomes/report.pdf"
    ok = client.get(url, params={"start": FULL[0].isoformat(), "end": FULL[1].isoformat()}, headers=bearer(env, "nurse"))
    assert ok.status_code == 200 and ok.headers["content-type"] == "application/pdf"
    assert f"{cohort['patients_with_a_course']} patients whose course ended" in squash(read_pdf(ok.content).text)
    default = client.get(url, headers=bearer(env, "physician"))
    assert default.status_code == 200
    assert f"outcome-report-{year_before(TODAY).isoformat()}-to-{TODAY.isoformat()}.pdf" in default.headers["content-disposition"]
    backwards = client.get(url, params={"start": "2026-06-01", "end": "2026-01-01"}, headers=bearer(env, "physician"))
    assert backwards.status_code == 422
    assert backwards.json()["error"]["field"] == "start" and "after it ends" in backwards.json()["error"]["message"]
    bad = client.get(url, params={"end": "01/02/2026"}, headers=bearer(env, "physician"))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "end"
    assert "YYYY-MM-DD" in bad.json()["error"]["message"]
    for role in ("patient", "coordinator", "admin"):
        assert client.get(url, headers=bearer(env, role)).status_code == 403


def test_web_outcomes_page_offers_the_range_and_the_pdf(client, env):
    client.cookies.clear()
    sign_in(client, "physician", DEMO_PASSWORD)
    start = TODAY - timedelta(days=150)
    page = client.get("/outcomes", params={"start": start.isoformat(), "end": TODAY.isoformat()})
    assert page.status_code == 200
    assert 'formaction="/outcomes/report.pdf"' in page.text and 'type="date"' in page.text
    cohort = oc.cohort_outcomes(env["db"], env["actors"]["physician"], start=start, end=TODAY)
    assert f'<p class="metric">{cohort["patients_with_a_course"]}</p>' in page.text
    if cohort["overall"]["n"]:
        assert f'<p class="metric">{int(cohort["overall"]["pct_30"] + 0.5)} %</p>' in page.text  # a percentage, not x100
    assert f"km.svg?start={start.isoformat()}&amp;end={TODAY.isoformat()}" in page.text
    pdf = client.get("/outcomes/report.pdf", params={"start": start.isoformat(), "end": TODAY.isoformat()})
    assert pdf.status_code == 200 and read_pdf(pdf.content).title == "Clinic outcome report"
    refused = client.get("/outcomes/report.pdf", params={"start": "2026-06-01", "end": "2026-01-01"}, follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/outcomes?start=2026-06-01&end=2026-01-01")
    back = client.get(refused.headers["location"])
    assert back.status_code == 422 and "The report was not made" in back.text and "after it ends" in back.text
    client.cookies.clear()


def test_cli_writes_the_report_and_refuses_bad_dates_as_json(env, tmp_path):
    runner = CliRunner()
    environment = {"KETACLINIC_DATABASE_URL": env["settings"].database_url}
    out = tmp_path / "outcomes.pdf"
    args = ["report", "outcomes", "--username", "physician", "--password-stdin", "--out", str(out)]
    ok = runner.invoke(cli_app, [*args, "--start", "2025-01-01", "--end", TODAY.isoformat()], input=DEMO_PASSWORD + "\n",
                       env=environment)
    assert ok.exit_code == 0, ok.stdout
    assert json.loads(ok.stdout)["bytes"] == out.stat().st_size
    assert read_pdf(out.read_bytes()).title == "Clinic outcome report"
    for bad, field in ((["--start", "2025-13-01"], "start"), (["--start", "2026-02-01", "--end", "2026-01-01"], "start")):
        result = runner.invoke(cli_app, [*args, *bad], input=DEMO_PASSWORD + "\n", env=environment)
        assert result.exit_code == 2, result.stdout
        error = json.loads(result.stdout)["error"]
        assert error["code"] == "invalid_input" and error["field"] == field
    coordinator = runner.invoke(cli_app, ["report", "outcomes", "--username", "coordinator", "--password-stdin", "--out",
                                          str(out)], input=DEMO_PASSWORD + "\n", env=environment)
    assert coordinator.exit_code == 2 and json.loads(coordinator.stdout)["error"]["code"] == "forbidden"
