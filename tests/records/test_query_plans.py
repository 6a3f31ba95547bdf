"""Issue 17: the main pages read by index, never by scanning a large table (PostgreSQL, EXPLAIN).

A clinic of a few thousand patients is made on PostgreSQL by cloning one service-made patient (its
evaluation, signed plan, discharged session with its events, diary and course summary) in SQL, over
four sites, with sessions today and in the coming days; ``VACUUM ANALYZE`` gives the planner true
statistics, so its choices are the ones it makes on a large clinic (a small table is read whole
whatever its indexes; at these sizes an unindexed filter is a sequential scan). Then the pages a
physician working at one of the sites opens are fetched (dashboard with today's sessions and open
alerts, the patient list, a chart, a session, outcomes; the API lists of patients and sessions); every
SELECT they send is explained with its own parameters, and a sequential scan of any table holding
more than ``LARGE`` rows fails the test, naming the query.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from ketaclinic.services import diary as dy
from tests.interop.flows import completed, signed_plan
from tests.services.test_register import stock
from tests.statements import recorded_statements
from tests.web.conftest import sign_in

CLONES = 6000
LARGE = 2000


@pytest.fixture
def engine() -> str:
    return "postgresql"


def _columns(conn, table: str) -> list[str]:
    return list(conn.execute(text("SELECT column_name FROM information_schema.columns WHERE table_name = :t "
                                  "ORDER BY ordinal_position"), {"t": table}).scalars())


def _clone(conn, table: str, replace: dict[str, str], source: str, *, skip: tuple[str, ...] = ("id",)) -> None:
    """INSERT INTO table SELECT every column of ``t`` (the template row) with some replaced, FROM ``source``."""
    columns = [c for c in _columns(conn, table) if c not in skip]
    values = [replace.get(c, f"t.{c}") for c in columns]
    conn.execute(text(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} {source}"))


def _grow(db, template_patient: int, site_ids: list[int]) -> None:
    sites = "ARRAY[" + ",".join(str(s) for s in site_ids) + "]"
    with db.engine.begin() as conn:
        _clone(conn, "patients", {"family_name": "'Clone ' || g", "site_id": f"({sites})[1 + g % {len(site_ids)}]"},
               f"FROM patients t, generate_series(1, {CLONES}) g WHERE t.id = {template_patient}")
        clones = "FROM patients c JOIN {table} t ON t.patient_id = %d WHERE c.family_name LIKE 'Clone %%'"
        _clone(conn, "evaluations", {"patient_id": "c.id"}, clones.replace("{table}", "evaluations") % template_patient)
        _clone(conn, "plans", {"patient_id": "c.id", "evaluation_id": "(SELECT max(e.id) FROM evaluations e WHERE "
                                                                       "e.patient_id = c.id)"},
               clones.replace("{table}", "plans") % template_patient)
        # four sessions each: three discharged over the last months, one to come (some of them today)
        _clone(conn, "sessions", {
            "patient_id": "c.id", "site_id": "c.site_id",
            "plan_id": "(SELECT max(p.id) FROM plans p WHERE p.patient_id = c.id)",
            "scheduled_at": "CASE WHEN k < 3 THEN now() - ((c.id % 300) + 7 * k + 1) * interval '1 day' "
                            "ELSE date_trunc('day', now()) + (c.id % 20) * interval '1 day' + interval '9 hours' END",
            "state": "CASE WHEN k < 3 THEN t.state ELSE 'scheduled' END",
            "discharged_at": "CASE WHEN k < 3 THEN now() - ((c.id % 300) + 7 * k) * interval '1 day' END",
            "discharge": "CASE WHEN k < 3 THEN t.discharge END"},
            "FROM patients c CROSS JOIN generate_series(0, 3) k JOIN sessions t ON t.id = (SELECT min(id) FROM sessions "
            f"WHERE patient_id = {template_patient}) WHERE c.family_name LIKE 'Clone %'")
        _clone(conn, "session_events", {"session_id": "s.id"},
               "FROM sessions s JOIN patients c ON c.id = s.patient_id AND c.family_name LIKE 'Clone %' "
               f"JOIN session_events t ON t.session_id = (SELECT min(id) FROM sessions WHERE patient_id = "
               f"{template_patient}) WHERE s.state = 'discharged'")
        _clone(conn, "diary_entries", {"patient_id": "c.id"}, clones.replace("{table}", "diary_entries") % template_patient)
        _clone(conn, "course_summaries", {"patient_id": "c.id", "site_id": "c.site_id"},
               clones.replace("{table}", "course_summaries") % template_patient, skip=())
        _clone(conn, "follow_up_summaries", {"patient_id": "c.id", "site_id": "c.site_id",
                                             "last_seen_at": "now() - (c.id % 150) * interval '1 day'"},
               clones.replace("{table}", "follow_up_summaries") % template_patient, skip=())
        # the register of a group of clinics: many lots used up long ago (at 100,000 patients, 76,000 lots of
        # which ~3 a site are in stock), each with its book and its stored balance at zero
        _clone(conn, "register_lots", {"lot_number": "t.lot_number || '-C' || g", "site_id": f"({sites})[1 + g % {len(site_ids)}]"},
               f"FROM register_lots t, generate_series(1, {CLONES}) g WHERE t.id = (SELECT min(id) FROM register_lots)")
        _clone(conn, "register_entries", {"lot_id": "l.id", "site_id": "l.site_id", "location_id": "NULL",
                                          "balance_after_mg": "0", "location_balance_after_mg": "NULL"},
               "FROM register_lots l JOIN register_entries t ON t.id = (SELECT min(id) FROM register_entries) "
               "WHERE l.lot_number LIKE '%-C%'")
        _clone(conn, "register_lot_stock", {"lot_id": "e.lot_id", "site_id": "e.site_id", "balance_mg": "0",
                                            "last_entry_id": "e.id"},
               "FROM register_entries e JOIN register_lot_stock t ON t.lot_id = (SELECT min(lot_id) FROM "
               "register_lot_stock) JOIN register_lots l ON l.id = e.lot_id AND l.lot_number LIKE '%-C%'", skip=())
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


def _seq_scans(plan: dict, large: set[str]) -> list[str]:
    found = []
    if plan.get("Node Type") == "Seq Scan" and plan.get("Relation Name") in large:
        found.append(plan["Relation Name"])
    for child in plan.get("Plans", []):
        found += _seq_scans(child, large)
    return found


def test_the_main_pages_read_large_tables_by_index(db, settings, clinic):
    from fastapi.testclient import TestClient

    from ketaclinic.api.app import create_app
    from ketaclinic.services import sites as st

    nurse = clinic.actors["nurse"]
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    session = completed(db, clinic, plan, plan.signed_at + timedelta(days=3))
    for day in range(1, 11):
        at = session.discharged_at + timedelta(days=day)
        dy.add_entry(db, nurse, dy.DiaryIn(patient_id=clinic.own_patient_id, pain_nrs=3, day=at.date()), now=at)
    admin = clinic.actors["admin"]
    sites = [1] + [st.create_site(db, admin, st.SiteIn(name=f"Site {c}", code=c)).id for c in ("NB", "SB", "EB")]
    stock(db, clinic)  # a lot in the safe: the template of the register's clones
    _grow(db, clinic.own_patient_id, sites)
    with db.engine.connect() as conn:
        some_patient = conn.execute(text("SELECT id FROM patients WHERE site_id = 1 ORDER BY id DESC LIMIT 1")).scalar()
        some_session = conn.execute(text("SELECT s.id FROM sessions s WHERE s.site_id = 1 AND s.state = 'discharged' "
                                         "ORDER BY s.id DESC LIMIT 1")).scalar()
    large = _large_tables(db)
    assert {"patients", "sessions", "session_events", "diary_entries", "course_summaries", "follow_up_summaries",
            "register_lots", "register_entries", "register_lot_stock"} <= large

    app = create_app(settings.model_copy(update={"demo": True}), db=db)
    pages = ["/dashboard", "/patients", f"/patients/{some_patient}", f"/sessions/{some_session}", "/outcomes",
             "/api/v1/patients?limit=50", "/api/v1/sessions?limit=50", "/api/v1/outcomes"]
    statements: list[tuple[str, object, str]] = []
    with TestClient(app, base_url="http://testserver") as client:
        sign_in(client, "physician")
        from ketaclinic.clock import utcnow
        from ketaclinic.services.auth import issue_token

        token, _ = issue_token(db, clinic.actors["physician"], now=utcnow(), lifetime_s=600)
        for page in pages:
            headers = {"Authorization": f"Bearer {token}"} if page.startswith("/api/") else {}
            with recorded_statements(db.engine, selects_only=True) as seen:
                response = client.get(page, headers=headers, follow_redirects=False)
            assert response.status_code == 200, (page, response.status_code, response.text[:300])
            statements += [(statement, parameters, page) for statement, parameters in seen]
    assert {page for _, _, page in statements} == set(pages)
    # the dashboards' and desks' other pages (issue 17): the follow-up list, the register, the billing desk
    problems = _scans(db, statements, large) + _explain_pages(db, settings, [
        ("physician", "/follow-up"), ("physician", "/register"), ("nurse", "/dashboard"),
        ("coordinator", "/billing"), ("coordinator", "/billing?show=all")])
    assert not problems, "\n\n".join(problems)
    # the register's lots in stock are found by their stored balance: its pages read the few lots in stock,
    # not every lot the group ever received (6,000 used up here; 76,000 at 100,000 patients)
    from ketaclinic.services import register as rg

    with recorded_statements(db.engine, selects_only=True) as seen:
        assert rg.balances(db, clinic.actors["physician"]).items
    read = _register_rows_read(db, seen)
    assert read < 100, f"the register's balances read {read} rows of its tables for one lot in stock"


def _rows_read(plan: dict, prefix: str) -> int:
    """Rows the plan's scans of tables named ``prefix...`` returned, over all their loops (EXPLAIN ANALYZE)."""
    own = plan["Actual Rows"] * plan["Actual Loops"] if plan.get("Relation Name", "").startswith(prefix) else 0
    return own + sum(_rows_read(child, prefix) for child in plan.get("Plans", []))


def _register_rows_read(db, statements) -> int:
    total = 0
    with db.engine.connect() as conn:
        for statement, parameters in statements:
            if "register_entries" in statement:
                plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters).scalar()
                plan = plan if isinstance(plan, list) else json.loads(plan)
                total += _rows_read(plan[0]["Plan"], "register_")
    return total


def _large_tables(db) -> set[str]:
    with db.engine.connect() as conn:
        return {name for name, rows in conn.execute(text(
            "SELECT relname, reltuples FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"))
            .all() if rows > LARGE}


def _scans(db, statements: list[tuple[str, object, str]], large: set[str]) -> list[str]:
    """Each (statement, parameters, page) explained with its own parameters: the sequential scans of a large table."""
    problems = []
    with db.engine.connect() as conn:
        for statement, parameters, page in statements:
            plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar()
            plan = plan if isinstance(plan, list) else json.loads(plan)
            scans = _seq_scans(plan[0]["Plan"], large)
            if scans:
                problems.append(f"{page}: sequential scan of {', '.join(scans)} in\n{statement}\n{parameters}")
    return problems


def _explain_pages(db, settings, pages: list[tuple[str, str]]) -> list[str]:
    """The SELECTs the pages send (as the role named with each page), each with a sequential scan of a large
    table named (the lists a test made large)."""
    from fastapi.testclient import TestClient

    from ketaclinic.api.app import create_app

    statements: list[tuple[str, object, str]] = []
    app = create_app(settings.model_copy(update={"demo": True}), db=db)
    with TestClient(app, base_url="http://testserver") as client:
        for role, page in pages:
            client.cookies.clear()
            sign_in(client, role)
            with recorded_statements(db.engine, selects_only=True) as seen:
                response = client.get(page, follow_redirects=False)
            assert response.status_code == 200, (page, response.status_code, response.text[:300])
            statements += [(statement, parameters, f"{role} {page}") for statement, parameters in seen]
    assert {page for _, _, page in statements} == {f"{role} {page}" for role, page in pages}
    return _scans(db, statements, _large_tables(db))


def test_the_patient_pickers_the_audit_log_and_the_users_page_read_by_index(db, settings, clinic):
    """Issue 17 (pickers): the invitation form's and the audit log's patient search (name start, number, birth
    date), the audit log filtered by a patient and paged, and the users page, on a clinic with thousands of
    patients and audit entries: no sequential scan of either."""
    _grow(db, clinic.own_patient_id, [1])
    with db.engine.begin() as conn:  # a long audit log about the clones (negative seqs: below the live chain)
        conn.execute(text(
            "INSERT INTO audit_log (seq, at, username, role, action, record_type, record_id, detail, prev_hash, hash) "
            "SELECT -g, now() - g * interval '1 minute', 'nurse', 'nurse', 'patient.read', 'patient', "
            "(SELECT min(id) FROM patients) + g % 5000, '{}', md5('p' || g) || md5('q' || g), "
            "md5('h' || g) || md5('i' || g) FROM generate_series(1, 20000) g"))
        some = conn.execute(text("SELECT id FROM patients WHERE family_name LIKE 'Clone %' ORDER BY id DESC LIMIT 1")).scalar()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    problems = _explain_pages(db, settings, [
        ("coordinator", "/invitations/new"), ("coordinator", "/invitations/new?q=clone+123"),
        ("coordinator", f"/invitations/new?patient_id={some}"), ("admin", "/invitations/new?q=1970-01-02"),
        ("admin", f"/invitations/new?q=%23{some}"), ("admin", "/admin/audit"), ("admin", f"/admin/audit?patient_id={some}"),
        ("admin", "/admin/audit?patient_q=clone+59"), ("admin", "/admin/users"), ("admin", "/admin/users?q=nur")])
    assert not problems, "\n\n".join(problems)
