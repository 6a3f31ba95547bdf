"""Issue 17 over HTTP: ``X-Site-Id`` narrows a request to one of the caller's sites, with the role there."""

from __future__ import annotations

from ketaclinic.services import sites as st
from tests.sites_clinic import add_patients, utc_now


def test_the_site_header_narrows_the_request_and_takes_the_role_there(client, headers, db, clinic):
    admin = clinic.actors["admin"]
    north = st.create_site(db, admin, st.SiteIn(name="North", code="NORTH"))
    physician = clinic.actors["physician"].user_id
    st.set_member(db, admin, north.id, physician, st.MemberIn(role="nurse"))
    northern = add_patients(db, north.id, 2, now=utc_now(), signer_id=physician, tag="Northern")

    everywhere = client.get("/api/v1/patients", headers=headers["physician"]).json()["items"]
    assert {p["site_id"] for p in everywhere} == {1}  # all sites: where the account's role (physician) is held
    at_north = client.get("/api/v1/patients", headers={**headers["physician"], "X-Site-Id": str(north.id)})
    assert at_north.status_code == 200
    assert [p["id"] for p in at_north.json()["items"]] == northern.patient_ids
    me = client.get("/api/v1/auth/me", headers={**headers["physician"], "X-Site-Id": str(north.id)}).json()
    assert me["role"] == "nurse"  # the role at North
    refused = client.get("/api/v1/inquiries", headers={**headers["physician"], "X-Site-Id": str(north.id)})
    assert refused.status_code == 403  # a nurse there: the inquiry queue is not theirs

    other = client.get("/api/v1/patients", headers={**headers["nurse"], "X-Site-Id": str(north.id)})
    assert other.status_code == 403 and other.json()["error"]["code"] == "site_not_yours"
    bad = client.get("/api/v1/patients", headers={**headers["nurse"], "X-Site-Id": "north"})
    assert bad.status_code == 422


def test_the_site_header_is_in_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").json()
    parameters = document["paths"]["/api/v1/patients"]["get"]["parameters"]
    header = next(p for p in parameters if p["name"] == "X-Site-Id")
    assert header["in"] == "header" and "role at that site" in header["description"]
