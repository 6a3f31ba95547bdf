"""Issue 17 pages (in-process): the header's site picker narrows every page to the picked site, with the role
there; a one-site user sees the site's name and no picker."""

from __future__ import annotations

from ketaclinic.services import sites as st
from tests.sites_clinic import add_patients, utc_now
from tests.web.conftest import csrf_of


def _pick(client, site_id, next_page: str = "/dashboard"):
    page = client.get(next_page)
    return client.post("/site", data={"site_id": str(site_id or ""), "next": next_page, "csrf_token": csrf_of(page.text)})


def _north(db, clinic, role: str = "physician"):
    admin = clinic.actors["admin"]
    north = st.create_site(db, admin, st.SiteIn(name="North clinic", code="NORTH"))
    st.set_member(db, admin, north.id, clinic.actors["physician"].user_id, st.MemberIn(role=role))
    signer = clinic.actors["physician"].user_id
    add_patients(db, north.id, 2, now=utc_now(), signer_id=signer, tag="Northern")
    add_patients(db, 1, 2, now=utc_now(), signer_id=signer, tag="Mainly")
    return north


def test_a_two_site_physician_picks_a_site_and_every_page_keeps_to_it(signed_in, db, clinic):
    north = _north(db, clinic)
    physician = signed_in("physician")
    page = physician.get("/dashboard").text
    assert '<select id="site-pick" name="site_id">' in page and '<option value="" selected>All sites</option>' in page
    assert "Mainly0000" in page and "Northern0000" in page

    picked = _pick(physician, north.id, "/patients")
    assert picked.status_code == 200 and "Working at North clinic." in picked.text
    assert f'<option value="{north.id}" selected>North clinic</option>' in picked.text
    assert "Northern0000" in picked.text and "Mainly0000" not in picked.text  # back on /patients, North only
    dashboard = physician.get("/dashboard").text
    assert "Northern0000" in dashboard and "Mainly0000" not in dashboard
    assert physician.get("/patients/1").status_code == 404  # a main-site chart is out of reach at North

    everywhere = _pick(physician, None)
    assert "Working at all your sites." in everywhere.text and "Mainly0000" in everywhere.text


def test_the_role_at_the_picked_site_is_the_role_of_the_pages(signed_in, db, clinic):
    north = _north(db, clinic, role="nurse")
    physician = signed_in("physician")
    at_north = _pick(physician, north.id).text
    assert '<span class="role">(nurse)</span>' in at_north and 'href="/inquiries"' not in at_north
    assert physician.get("/inquiries").status_code == 403  # the nurse's pages at North
    back = _pick(physician, 1).text
    assert '<span class="role">(physician)</span>' in back and 'href="/inquiries"' in back


def test_a_site_not_yours_is_refused_and_a_one_site_user_has_no_picker(signed_in, db, clinic):
    north = _north(db, clinic)
    nurse = signed_in("nurse")  # works at the main site only
    page = nurse.get("/dashboard").text
    assert 'id="site-pick"' not in page and '<span class="site-name" title="The site you work at">Main site</span>' in page
    refused = _pick(nurse, north.id)
    assert "You do not work at that site" in refused.text and "Northern0000" not in refused.text
    no_csrf = nurse.post("/site", data={"site_id": str(north.id)})
    assert no_csrf.status_code == 403


def test_a_site_taken_away_falls_back_to_all_sites(signed_in, db, clinic):
    north = _north(db, clinic)
    physician = signed_in("physician")
    _pick(physician, north.id)
    st.remove_member(db, clinic.actors["admin"], north.id, clinic.actors["physician"].user_id)
    page = physician.get("/dashboard")
    assert page.status_code == 200 and "Mainly0000" in page.text and "Northern0000" not in page.text
