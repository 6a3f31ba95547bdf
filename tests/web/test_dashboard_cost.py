"""Issue 17 "Scale": the dashboard costs what one screen shows, not the whole clinic.

The statements the dashboard sends are counted with N patients in treatment and again with 4N: the count
must not grow (the follow-up check was an N+1 at 246 statements for 400 patients). The same run checks
that the dashboard keeps to the picked site.
"""

from __future__ import annotations

from ketaclinic.services import sites as st
from tests.sites_clinic import add_patients, utc_now
from tests.statements import follow_up_rows_stale, statements_of_page

N = 6


def _statements(client, db, url: str) -> tuple[int, str]:
    follow_up_rows_stale(db)  # the page computes the follow-up rows it shows: counted for N and 4N alike
    statements, html = statements_of_page(client, db.engine, url)
    return len(statements), html


def test_the_dashboard_sends_as_many_statements_for_4n_patients_as_for_n(signed_in, db, clinic):
    admin, now = clinic.actors["admin"], utc_now()
    north = st.create_site(db, admin, st.SiteIn(name="North", code="NORTH"))
    signer = clinic.actors["physician"].user_id
    add_patients(db, north.id, N, now=now, signer_id=signer, tag="Northern")
    first = add_patients(db, 1, N, now=now, signer_id=signer, tag="Mainly")
    physician = signed_in("physician")
    physician.get("/dashboard")  # warm: templates compiled, settings read once
    few, page = _statements(physician, db, "/dashboard")
    assert "Mainly0000" in page and "Northern" not in page  # the physician works at the main site only
    assert f'href="/sessions/{first.session_today_ids[0]}"' in page

    add_patients(db, 1, 3 * N, now=now, signer_id=signer, tag="Later")
    many, page = _statements(physician, db, "/dashboard")
    assert "Later" in page
    assert many <= few, f"the dashboard sent {few} statements for {N} patients and {many} for {4 * N}"
    assert few < 80, f"{few} statements for one page"


def test_the_patient_and_session_lists_cost_one_page(signed_in, db, clinic):
    now = utc_now()
    add_patients(db, 1, N, now=now, signer_id=clinic.actors["physician"].user_id, tag="Mainly")
    nurse = signed_in("nurse")
    nurse.get("/patients")
    few, _ = _statements(nurse, db, "/patients")
    add_patients(db, 1, 3 * N, now=now, signer_id=clinic.actors["physician"].user_id, tag="Later")
    many, _ = _statements(nurse, db, "/patients")
    assert many <= few, f"/patients sent {few} statements for {N} patients and {many} for {4 * N}"


def test_the_lists_of_sessions_do_not_load_their_clinical_documents(signed_in, db, clinic):
    """The dashboard's day and the register's sessions to reconcile show time, patient and state: each
    session's checklist, pump program and discharge (JSON documents, five per row) are not read (they were
    60 of the physician dashboard's 140 ms with 200 sessions a day at a group of clinics)."""
    from tests.statements import recorded_statements

    now = utc_now()
    first = add_patients(db, 1, N, now=now, signer_id=clinic.actors["physician"].user_id, tag="Mainly")
    nurse = signed_in("nurse")
    for url in ("/dashboard", "/register"):
        nurse.get(url)
        with recorded_statements(db.engine, selects_only=True) as seen:
            page = nurse.get(url).text
        if url == "/dashboard":
            assert f'href="/sessions/{first.session_today_ids[0]}"' in page
        lists = [s for s, _ in seen if "FROM sessions" in s and "sessions.scheduled_at" in s]
        assert lists, url
        for statement in lists:
            assert "sessions.checklist" not in statement and "sessions.pump_program" not in statement, (url, statement)
