"""Issue 12 pages (in-process): allergies on the chart and in the banner, staff names and credentials, the audit
log in words with filters and keyset pages, and portal invitations and password resets by one-time link."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import select

from ketaclinic.clock import utcnow
from ketaclinic.records.users import User
from ketaclinic.services import allergies as al
from ketaclinic.services import invitations as inv
from ketaclinic.services.patients import PatientIn, create_patient
from tests.interop.flows import T0, running, signed_plan
from tests.web.conftest import csrf_of, sign_in


def _banner(html: str) -> str:
    start = html.index('id="patient-banner"')
    return html[start:html.index("</section>", start)]


def _post(client, page_url: str, url: str, data: dict, **kwargs):
    token = csrf_of(client.get(page_url).text)
    return client.post(url, data={**data, "csrf_token": token}, **kwargs)


def test_allergies_are_recorded_on_the_chart_and_unknown_is_not_none(signed_in, clinic):
    pid = clinic.own_patient_id
    nurse = signed_in("nurse")
    chart = nurse.get(f"/patients/{pid}").text
    assert 'data-allergies="not_recorded"' in _banner(chart) and "No known allergies" not in _banner(chart)
    page = _post(nurse, f"/patients/{pid}", f"/patients/{pid}/allergies", {"kind": "no_known_allergies"})
    assert "No known allergies recorded." in page.text
    assert "<strong>No known allergies</strong>" in _banner(page.text)
    page = _post(nurse, f"/patients/{pid}", f"/patients/{pid}/allergies",
                 {"substance": "Penicillin", "reaction": "hives", "severity": "moderate"})
    assert "Allergy recorded: Penicillin (hives)." in page.text
    banner = _banner(page.text)
    assert "Penicillin (hives)" in banner and "No known allergies" not in banner
    page = _post(nurse, f"/patients/{pid}", f"/patients/{pid}/allergies", {"substance": ""})
    assert "Nothing was recorded: Name the substance the patient is allergic to." in page.text
    assert "kind" not in re.findall(r"Nothing was recorded: ([^<]*)", page.text)[0]  # no field names


def test_a_ketamine_allergy_shows_on_the_plan_and_the_session_and_an_amendment_keeps_the_original(signed_in, db,
                                                                                                  clinic):
    pid = clinic.own_patient_id
    plan = signed_plan(db, clinic, pid)
    visit = running(db, clinic, plan, T0 + timedelta(days=7))
    entry = al.record_allergy(db, clinic.actors["nurse"], pid, al.AllergyIn(substance="ketamine", reaction="rash"))
    al.record_allergy(db, clinic.actors["nurse"], pid, al.AllergyIn(substance="latex"))
    physician = signed_in("physician")
    for path in (f"/plans/{plan.id}", f"/sessions/{visit.id}", f"/patients/{pid}"):
        banner = _banner(physician.get(path).text)
        assert 'badge critical">ketamine (rash)</strong>, latex' in banner, path
    page = _post(physician, f"/patients/{pid}", f"/patients/{pid}/allergies/{entry.id}/amend",
                 {"action": "entered_in_error", "note": "another patient's allergy"})
    assert "Marked entered in error: ketamine (rash) (kept in the history)." in page.text
    assert "badge critical" not in _banner(page.text)
    history = page.text[page.text.index('class="allergy-history"'):]
    assert "ketamine (rash)" in history and "entered in error" in history and "another patient" in history


def test_the_admin_sets_names_and_credentials_and_the_dashboard_uses_them(signed_in, db, clinic):
    nurse_id = clinic.actors["nurse"].user_id
    admin = signed_in("admin")
    form = admin.get(f"/admin/users/{nurse_id}/name").text
    version = re.search(r'name="version" value="(\d+)"', form).group(1)
    bad = _post(admin, f"/admin/users/{nurse_id}/name", f"/admin/users/{nurse_id}/name",
                {"full_name": "Robin Lee", "credentials": "R N!", "version": version})
    assert bad.status_code == 422 and "is not a credential: use letters such as MD, RN" in bad.text
    assert "credentials:" not in bad.text  # no field paths
    good = _post(admin, f"/admin/users/{nurse_id}/name", f"/admin/users/{nurse_id}/name",
                 {"full_name": "Robin Lee", "credentials": "rn", "version": version})
    assert "signs as “Robin Lee, RN”" in good.text and "Robin Lee, RN" in good.text
    dashboard = signed_in("nurse").get("/dashboard").text
    heading = dashboard[dashboard.index("<h1>"):dashboard.index("</h1>")]
    assert "Robin Lee, RN" in heading and "nurse, nurse" not in heading
    physician = signed_in("physician").get("/dashboard").text
    assert "physician, physician" not in physician[physician.index("<h1>"):physician.index("</h1>")]


def test_the_audit_log_reads_in_words_with_links_filters_and_keyset_pages(signed_in, db, clinic):
    pid = clinic.own_patient_id
    nurse = signed_in("nurse")
    for _ in range(3):
        nurse.get(f"/patients/{pid}")
    admin = signed_in("admin")
    page = admin.get("/admin/audit").text
    assert "Opened the chart" in page and f'href="/admin/audit?patient_id={pid}">Patient Synthetic Own (#{pid})' in page
    assert "patient.read" not in re.sub(r'(data-action|value)="[^"]*"', "", page)  # no raw keys on screen
    assert 'type="date"' in page and '<select id="f-user_id"' in page and 'id="f-patient_q"' in page
    nurse_id = clinic.actors["nurse"].user_id
    only = admin.get(f"/admin/audit?user_id={nurse_id}&patient_id={pid}&action=patient.read").text
    rows = re.findall(r'<tr data-action="([^"]+)"', only)
    assert rows and set(rows) == {"patient.read"} and len(rows) == 3
    other = admin.get(f"/admin/audit?patient_id={clinic.other_patient_id}&action=patient.read").text
    assert re.findall(r'<tr data-action="', other) == []
    today = date.today()
    future = admin.get(f"/admin/audit?since={(today + timedelta(days=2)).isoformat()}").text
    assert "No entry matches." in future
    backwards = admin.get(f"/admin/audit?since={today.isoformat()}&until={(today - timedelta(days=3)).isoformat()}")
    assert "The end date is before the start date." in backwards.text
    assert "Pick a day in the calendar" in admin.get("/admin/audit?since=31/01/2026").text
    # more than 50 entries: 50 a page, the next page starts below the last one (keyset, no offset)
    for _ in range(30):
        admin.get("/admin/audit")
    first = admin.get("/admin/audit").text
    seqs = [int(s) for s in re.findall(r'<td class="num muted">(\d+)</td>', first)]
    assert len(seqs) == 50 and seqs == sorted(seqs, reverse=True)
    older = re.search(r'id="older-entries" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = [int(s) for s in re.findall(r'<td class="num muted">(\d+)</td>', admin.get(older).text)]
    assert second and max(second) < min(seqs)


def _invitee(db, clinic):
    return create_patient(db, clinic.actors["coordinator"], PatientIn(given_name="Synthetic", family_name="Invitee",
                                                                      birth_date=date(1975, 5, 6), sex="female"))


def test_an_invitation_from_the_coordinator_makes_a_portal_account_once(signed_in, web, db, clinic):
    patient = _invitee(db, clinic)
    coordinator = signed_in("coordinator")
    assert 'id="invite-to-portal"' in coordinator.get(f"/patients/{patient.id}").text
    issued = _post(coordinator, f"/invitations/new?patient_id={patient.id}", "/invitations",
                   {"patient_id": str(patient.id), "username": ""})
    assert issued.status_code == 201 and "Shown once." in issued.text
    link = re.search(r'value="(http[^"]+)" data-link-url', issued.text).group(1)
    assert "/account/invitation/" in link
    path = link[link.index("/account/"):]
    web.cookies.clear()
    page = web.get(path)
    assert page.status_code == 200 and "synthetic.invitee" in page.text and "Synthetic Invitee" in page.text
    differ = web.post(path, data={"password": "long-enough-1", "password_again": "other-one-22",
                                  "csrf_token": csrf_of(page.text)})
    assert differ.status_code == 422 and "The two passwords differ" in differ.text
    short = web.post(path, data={"password": "short", "password_again": "short", "csrf_token": csrf_of(page.text)})
    assert short.status_code == 422 and "10 characters or more" in short.text
    done = web.post(path, data={"password": "long-enough-1", "password_again": "long-enough-1",
                                "csrf_token": csrf_of(page.text)})
    assert "Your portal account is ready: sign in as synthetic.invitee." in done.text
    again = web.get(path)
    assert again.status_code == 404 and "not valid" in again.text
    sign_in(web, "synthetic.invitee", "long-enough-1")
    assert "My diary" in web.get("/me").text


def test_an_expired_invitation_page_is_refused(web, db, clinic):
    patient = _invitee(db, clinic)
    issued = inv.issue_invitation(db, clinic.actors["admin"], inv.InvitationIn(patient_id=patient.id),
                                  now=utcnow() - timedelta(hours=80))
    page = web.get(issued.path)
    assert page.status_code == 404 and "has expired" in page.text
    posted = web.post(issued.path, data={"password": "long-enough-1", "password_again": "long-enough-1",
                                         "csrf_token": csrf_of(web.get("/login").text)})
    assert posted.status_code == 404
    with db.reading() as session:
        assert session.execute(select(User).where(User.patient_id == patient.id)).first() is None


def test_the_admin_issues_a_reset_link_and_using_it_signs_the_user_out(signed_in, web, db, clinic):
    admin = signed_in("admin")
    nurse_id = clinic.actors["nurse"].user_id
    issued = _post(admin, "/admin/users", f"/admin/users/{nurse_id}/reset-link", {})
    assert issued.status_code == 201 and 'data-link-kind="password_reset"' in issued.text
    link = re.search(r'value="(http[^"]+)" data-link-url', issued.text).group(1)
    path = link[link.index("/account/"):]
    nurse_browser = signed_in("nurse")  # the nurse signed in (this client), then the reset is used
    assert nurse_browser.get("/dashboard").status_code == 200
    cookies = dict(nurse_browser.cookies)
    page = web.get(path)
    done = web.post(path, data={"password": "brand-new-pass", "password_again": "brand-new-pass",
                                "csrf_token": csrf_of(page.text)})
    assert "Your new password is set: sign in as nurse." in done.text
    web.cookies.clear()
    web.cookies.update(cookies)  # the nurse's earlier web session has ended
    assert "/login" in str(web.get("/dashboard").url)
    sign_in(web, "nurse", "brand-new-pass")


def test_patient_accounts_are_not_made_from_a_typed_patient_id(signed_in, clinic):
    admin = signed_in("admin")
    page = admin.get("/admin/users").text
    assert 'name="patient_id"' not in page and "Invite a patient to the portal" in page
    refused = _post(admin, "/admin/users", "/admin/users", {"username": "typed.patient", "role": "patient",
                                                            "password": "long-enough-pw"})
    assert refused.status_code == 422 and "by invitation" in refused.text


def test_using_links_is_rate_limited(web, settings):
    page = web.get("/login")
    statuses = [web.post("/account/invitation/" + "x" * 43, data={"password": "p", "password_again": "p",
                                                                   "csrf_token": csrf_of(page.text)}).status_code
                for _ in range(settings.login_rate_limit + 1)]
    assert statuses[0] == 404 and statuses[-1] == 429
    api = [web.post("/api/v1/account/password-reset", json={"token": "y" * 43, "password": "long-enough-pw"}).status_code
           for _ in range(settings.login_rate_limit + 1)]
    assert api[0] == 404 and api[-1] == 429
