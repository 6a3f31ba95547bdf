"""Issue 17 over HTTP: the sites list, site changes with If-Match, who works where, and the patient list by site."""

from __future__ import annotations


def test_sites_over_the_api(client, headers, clinic):
    admin = headers["admin"]
    listed = client.get("/api/v1/sites", headers=headers["nurse"])
    assert listed.status_code == 200
    assert listed.json() == {"items": [{"id": 1, "name": "Main site", "code": "MAIN", "timezone": None}]}
    assert client.get("/api/v1/sites", headers=headers["patient"]).status_code == 403
    made = client.post("/api/v1/sites", headers=admin, json={"name": "North", "code": "north", "timezone": "Europe/Madrid"})
    assert made.status_code == 201 and made.headers["ETag"] == '"1"' and made.json()["code"] == "NORTH"
    north = made.json()["id"]
    assert client.post("/api/v1/sites", headers=admin, json={"name": "North", "code": "N2"}).status_code == 409
    bad_zone = client.post("/api/v1/sites", headers=admin, json={"name": "South", "code": "S", "timezone": "Nowhere/X"})
    assert bad_zone.status_code == 422 and bad_zone.json()["error"]["field"] == "timezone"
    assert client.post("/api/v1/sites", headers=headers["physician"], json={"name": "S", "code": "S"}).status_code == 403

    assert client.patch(f"/api/v1/sites/{north}", headers=admin, json={"address": "1 High St"}).status_code == 428
    changed = client.patch(f"/api/v1/sites/{north}", headers={**admin, "If-Match": '"1"'}, json={"address": "1 High St"})
    assert changed.status_code == 200 and changed.headers["ETag"] == '"2"'
    stale = client.patch(f"/api/v1/sites/{north}", headers={**admin, "If-Match": '"1"'}, json={"address": "2 Low St"})
    assert stale.status_code == 409
    assert client.get(f"/api/v1/sites/{north}", headers=admin).json()["address"] == "1 High St"
    assert client.get("/api/v1/sites/999", headers=admin).status_code == 404

    nurse_id = clinic.actors["nurse"].user_id
    put = client.put(f"/api/v1/sites/{north}/members/{nurse_id}", headers=admin, json={"role": "nurse"})
    assert put.status_code == 200 and [m["username"] for m in put.json()["members"]] == ["nurse"]
    assert client.put(f"/api/v1/sites/{north}/members/{nurse_id}", headers=admin,
                      json={"role": "patient"}).status_code == 422
    assert client.put(f"/api/v1/sites/{north}/members/999", headers=admin, json={"role": "nurse"}).status_code == 404
    gone = client.delete(f"/api/v1/sites/1/members/{nurse_id}", headers=admin)
    assert gone.status_code == 200 and "nurse" not in [m["username"] for m in gone.json()["members"]]
    last = client.delete(f"/api/v1/sites/1/members/{clinic.actors['admin'].user_id}", headers=admin)
    assert last.status_code == 409 and last.json()["error"]["code"] == "last_site_admin"

    # the nurse now works at North only: the main-site patients are out of reach, the token's next call knows it
    assert client.get("/api/v1/patients", headers=headers["nurse"]).json()["items"] == []
    assert client.get(f"/api/v1/patients/{clinic.own_patient_id}", headers=headers["nurse"]).status_code == 404
    assert client.get("/api/v1/patients?site_id=1", headers=headers["nurse"]).status_code == 403
    coordinator = headers["coordinator"]
    assert len(client.get("/api/v1/patients?site_id=1", headers=coordinator).json()["items"]) == 2
    refused = client.post("/api/v1/patients", headers=coordinator, json={
        "given_name": "Synthetic", "family_name": "North", "birth_date": "1975-05-06", "sex": "female", "site_id": north})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "site_not_yours"
    created = client.post("/api/v1/patients", headers=coordinator, json={
        "given_name": "Synthetic", "family_name": "Main", "birth_date": "1975-05-06", "sex": "female"})
    assert created.status_code == 201 and created.json()["site_id"] == 1
    assert client.get(f"/api/v1/patients?site_id={north}", headers=headers["nurse"]).json()["items"] == []
