"""Issue 17 pages (in-process): the admin's sites page (add, edit, who works where) and the site filter on /patients."""

from __future__ import annotations

import re

from ketaclinic.services import sites as st
from tests.web.conftest import csrf_of


def _post(client, url: str, data: dict, page_url: str = "/admin/sites", **kwargs):
    return client.post(url, data={**data, "csrf_token": csrf_of(client.get(page_url).text)}, **kwargs)


def test_the_admin_adds_edits_and_staffs_a_site(signed_in, db, clinic):
    admin = signed_in("admin")
    page = admin.get("/admin/sites")
    assert page.status_code == 200 and 'href="/admin/sites"' in page.text and "Main site (MAIN)" in page.text
    bad = _post(admin, "/admin/sites", {"name": "North", "code": "NORTH", "timezone": "Mars/Base", "address": ""})
    assert bad.status_code == 422 and "is not an IANA time zone name" in bad.text and 'value="North"' in bad.text
    made = _post(admin, "/admin/sites", {"name": "North", "code": "north", "timezone": "Europe/Madrid", "address": ""})
    assert "Site North (NORTH) added." in made.text
    north = next(s for s in st.list_sites(db, clinic.actors["admin"]) if s.code == "NORTH")

    saved = _post(admin, f"/admin/sites/{north.id}", {"version": str(north.version), "name": "North", "code": "NORTH",
                                                      "timezone": "Europe/Madrid", "address": "1 High St",
                                                      "active": "yes"})
    assert "Site North saved." in saved.text and "1 High St" in saved.text
    stale = _post(admin, f"/admin/sites/{north.id}", {"version": str(north.version), "name": "North", "code": "NORTH",
                                                      "timezone": "", "address": "2 Low St", "active": "yes"})
    assert stale.status_code == 409 and "someone else changed this site meanwhile" in stale.text

    nurse = clinic.actors["nurse"].user_id
    added = _post(admin, f"/admin/sites/{north.id}/members", {"user_id": str(nurse), "role": "nurse", "change": "set"})
    assert "North: nurse works there as nurse." in added.text and f'id="member-{north.id}-{nurse}"' in added.text
    removed = _post(admin, f"/admin/sites/{north.id}/members", {"user_id": str(nurse), "change": "remove"})
    assert "North: nurse no longer works there." in removed.text
    last = _post(admin, "/admin/sites/1/members", {"user_id": str(clinic.actors["admin"].user_id), "change": "remove"})
    assert last.status_code == 409 and "last admin membership" in last.text
    assert len(set(re.findall(r'id="([^"]+)"', last.text))) == len(re.findall(r'id="([^"]+)"', last.text))
    assert signed_in("physician").get("/admin/sites").status_code == 403


def test_the_patient_list_filters_by_the_actors_sites(signed_in, db, clinic):
    admin = clinic.actors["admin"]
    north = st.create_site(db, admin, st.SiteIn(name="North", code="NORTH"))
    st.set_member(db, admin, north.id, clinic.actors["coordinator"].user_id, st.MemberIn(role="coordinator"))
    coordinator = signed_in("coordinator")
    page = coordinator.get("/patients").text
    assert '<option value="">All my sites</option>' in page and f'<option value="{north.id}">North</option>' in page
    assert "Own, Synthetic" in page and "Other, Synthetic" in page
    only_north = coordinator.get(f"/patients?site_id={north.id}").text
    assert f'<option value="{north.id}" selected>North</option>' in only_north and "Own, Synthetic" not in only_north
    assert "Own, Synthetic" in coordinator.get("/patients?site_id=1").text
    nurse = signed_in("nurse")  # works at the main site only
    refused = nurse.get(f"/patients?site_id={north.id}")
    assert refused.status_code == 200 and "You do not work at that site" in refused.text
    assert f'<option value="{north.id}"' not in refused.text and "Own, Synthetic" in refused.text
