"""Issue 17 "Scale": the dashboards, the follow-up list, the register and the billing desk cost one screen.

- The follow-up panels show at most ``PANEL_ROWS`` lines and say how many more, linking to ``/follow-up``,
  which pages through every patient in treatment (each patient on exactly one page).
- The nurse's dashboard, the follow-up list and the register send as many statements for 4N patients as for N.
- SQLite keeps no histogram, so with the statistics of a large clinic (``sqlite_stat1`` as ``ANALYZE`` writes it
  at 20,000 patients) it walked the whole sessions table for "under way" and for "today or under way": every
  statement these pages send is explained with those statistics and a walk of the sessions table fails.
"""

from __future__ import annotations

import re

from ketaclinic.services import follow_up as fu
from ketaclinic.web.views import dashboard as dash
from tests.sites_clinic import add_patients, utc_now
from tests.statements import (
    follow_up_rows_stale,
    recorded_statements,
    sqlite_plan,
    statements_of_page,
    use_sqlite_statistics,
)

N = 6


def _section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    return html[start:html.index("</section>", start)]


def test_the_follow_up_panels_show_a_screen_and_the_list_pages_through_every_patient(signed_in, db, clinic):
    now = utc_now()
    due = add_patients(db, 1, dash.PANEL_ROWS + 5, now=now, signer_id=clinic.actors["physician"].user_id, tag="Due")
    nurse = signed_in("nurse")
    page = nurse.get("/dashboard").text
    risk = _section(page, "h-risk")
    shown = set(re.findall(r"Due\d{4}", risk))
    assert len(shown) == dash.PANEL_ROWS, "the overdue panel is cut to a screen"
    more = re.search(r'<p id="overdue-more"><a href="/follow-up">(\d+) more</a>', risk)
    assert more and int(more.group(1)) >= 5, "the cut panel says how many more and links to the list"

    listed = nurse.get("/follow-up").text
    assert all(f"Due{n:04d}" in listed for n in range(len(due.patient_ids))), "the list shows every one"

    # the list's pages, walked five patients at a time, name every patient once
    nurse_actor = clinic.actors["nurse"]
    names: list[str] = []
    cursor, pages = None, 0
    while True:
        result = fu.follow_up_due(db, nurse_actor, limit=5, cursor=cursor)
        assert result["patients"] <= 5
        names += sorted({row["name"] for row in result["overdue_risk_checks"] if "Due" in (row["name"] or "")})
        cursor, pages = result["next_cursor"], pages + 1
        if cursor is None:
            break
        assert pages < 20
    assert pages >= 3
    assert sorted(names) == sorted(f"Synthetic Due{n:04d}" for n in range(len(due.patient_ids)))
    assert signed_in("coordinator").get("/follow-up").status_code == 403


def test_the_nurse_dashboard_follow_up_list_and_register_send_as_many_statements_for_4n_patients(signed_in, db,
                                                                                                   clinic):
    now, signer = utc_now(), clinic.actors["physician"].user_id
    add_patients(db, 1, N, now=now, signer_id=signer, tag="Mainly")
    nurse = signed_in("nurse")
    urls = ["/dashboard", "/follow-up", "/register"]
    for url in urls:
        nurse.get(url)  # warm
    def count(url: str) -> int:
        follow_up_rows_stale(db)  # each page computes the stale follow-up rows it shows: counted for N and 4N alike
        return len(statements_of_page(nurse, db.engine, url)[0])

    few = {url: count(url) for url in urls}
    add_patients(db, 1, 3 * N, now=now, signer_id=signer, tag="Later")
    many = {url: count(url) for url in urls}
    for url in urls:
        assert many[url] <= few[url], f"{url} sent {few[url]} statements for {N} patients and {many[url]} for {4 * N}"


# sqlite_stat1 rows of the sessions table as ANALYZE wrote them for the 20,000-patient demo clinic (bulk loader),
# for one site (the test's staff work at one; a site's share is then the whole table, as in a one-site clinic)
BIG_SESSIONS_STATS = {
    "ix_sessions_state_site": "162884 32577 32577", "ix_sessions_site_scheduled": "162884 162884 3",
    "ix_sessions_site_id": "162884 162884", "ix_sessions_scheduled_at": "162884 11", "ix_sessions_started_at": "162884 11",
    "ix_sessions_plan_id": "162884 9", "ix_sessions_patient_id": "162884 9",
}
# a walk of the whole table, by rowid or by an index read end to end (the started_at walk of the billing desk's
# to-do stops at its LIMIT after the newest finished sessions, nearly all of which are finished: allowed), or a
# grouping of sessions (it reads every row it groups: the follow-up panels grouped six months of sessions)
WALKS = (re.compile(r"SCAN sessions(?! USING INDEX ix_sessions_started_at)"),
         re.compile(r"sessions USING INTEGER PRIMARY KEY \(rowid>\?\)"),
         re.compile(r"SEARCH sessions .*TEMP B-TREE FOR GROUP BY"))


def test_with_a_large_clinic_s_statistics_sqlite_reads_sessions_by_index(signed_in, db, clinic):
    add_patients(db, 1, N, now=utc_now(), signer_id=clinic.actors["physician"].user_id, tag="Mainly")
    use_sqlite_statistics(db, {"sessions": BIG_SESSIONS_STATS})
    captured: list[tuple[str, object, str]] = []
    pages = {"physician": ["/dashboard", "/follow-up", "/register", "/alerts/badge"],
             "nurse": ["/dashboard", "/register"], "coordinator": ["/billing", "/billing?show=all"]}
    for role, urls in pages.items():
        client = signed_in(role)
        for url in urls:
            with recorded_statements(db.engine, selects_only=True) as seen:
                assert client.get(url).status_code == 200, url
            captured += [(statement, parameters, f"{role} {url}") for statement, parameters in seen
                         if "sessions" in statement]
    assert {page for _, _, page in captured} >= {"physician /dashboard", "nurse /register", "coordinator /billing"}
    problems = []
    for statement, parameters, page in captured:
        plan = sqlite_plan(db.engine, statement, parameters)
        if any(walk.search(plan) for walk in WALKS):
            problems.append(f"{page}: {plan}\n  {' '.join(statement.split())[:400]}")
    assert not problems, "\n".join(problems)


# sqlite_stat1 of the 20,000-patient demo clinic for the drafts: every evaluation a draft or signed, four sites
BIG_DRAFT_STATS = {
    "evaluations": {"ix_evaluations_status_id": "20001 10001 1", "ix_evaluations_patient_id": "20001 1",
                    "ix_evaluations_amends_id": "20001 10001"},
    "patients": {"ix_patients_site_id": "20000 5000"},
}


def test_with_a_large_clinic_s_statistics_the_physician_s_drafts_are_read_by_status_not_by_patient(db, clinic):
    """The dashboard's "waiting for your signature" (list_evaluations, status draft, the physician's sites): with
    ``patient_id IN (SELECT id FROM patients WHERE site_id IN ...)`` SQLite read every patient of the sites and
    sorted their evaluations (65 ms at 20,000 patients); the sites check is now a correlated EXISTS and the
    drafts come by the (status, id) index in order."""
    from ketaclinic.services.evaluations import list_evaluations

    add_patients(db, 1, N, now=utc_now(), signer_id=clinic.actors["physician"].user_id, tag="Drafty")
    use_sqlite_statistics(db, BIG_DRAFT_STATS)
    physician = clinic.actors["physician"]
    assert physician.site_ids  # bound to its sites: the check under test is in the query
    with recorded_statements(db.engine, selects_only=True) as seen:
        list_evaluations(db, physician, status="draft", limit=10)
    (statement, parameters), = [(s, p) for s, p in seen if "FROM evaluations" in s]
    plan = sqlite_plan(db.engine, statement, parameters)
    assert "USING INDEX ix_evaluations_status_id" in plan and "TEMP B-TREE" not in plan, plan


# the same clinic's sessions statistics as ANALYZE wrote them with its four sites
FOUR_SITE_SESSIONS_STATS = {
    **BIG_SESSIONS_STATS, "ix_sessions_state_site": "162884 32577 8573", "ix_sessions_site_scheduled": "162884 40721 3",
    "ix_sessions_site_id": "162884 40721",
}


def test_with_a_large_clinic_s_statistics_the_sessions_running_are_listed_by_state_not_by_walking_the_table(db, clinic):
    """``GET /api/v1/sessions?state=running`` for someone at several sites (the nurse's console, the load test's
    set-up): SQLite walked every session by rowid for an id-ordered page (308 ms at 20,000 patients), taking
    "running" for a fifth of the table; marked rare, it reads the running ones by (state, site) (0.1 ms)."""
    from dataclasses import replace

    from ketaclinic.services.sessions import list_sessions

    add_patients(db, 1, N, now=utc_now(), signer_id=clinic.actors["physician"].user_id, tag="Running")
    use_sqlite_statistics(db, {"sessions": FOUR_SITE_SESSIONS_STATS})
    nurse = clinic.actors["nurse"]
    for who, actor in (("one site", nurse), ("four sites", replace(nurse, site_ids=(1, 2, 3, 4), site_id=None))):
        with recorded_statements(db.engine, selects_only=True) as seen:
            list_sessions(db, actor, state="running", limit=50)
        (statement, parameters), = [(s, p) for s, p in seen if "FROM sessions" in s]
        plan = sqlite_plan(db.engine, statement, parameters)
        assert not any(walk.search(plan) for walk in WALKS) and "ix_sessions_state_site" in plan, (who, plan)
