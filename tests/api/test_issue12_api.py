"""Issue 12 over HTTP: allergies on the chart, staff names and credentials, invitations and password resets."""

from __future__ import annotations

from datetime import date

from ketaclinic.services.patients import PatientIn, create_patient


def test_allergies_over_the_api(client, headers, clinic):
    pid = clinic.own_patient_id
    nurse = headers["nurse"]
    assert client.get(f"/api/v1/patients/{pid}/allergies", headers=nurse).json()["state"] == "not_recorded"
    made = client.post(f"/api/v1/patients/{pid}/allergies", headers=nurse,
                       json={"substance": "Ketalar", "reaction": "anaphylaxis", "severity": "severe"})
    assert made.status_code == 201 and made.json()["substance_code"] == "ketamine"
    refused = client.post(f"/api/v1/patients/{pid}/allergies", headers=nurse, json={"kind": "no_known_allergies"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "allergies_recorded"
    typo = client.post(f"/api/v1/patients/{pid}/allergies", headers=nurse, json={"substance": "x", "severity": "bad"})
    assert typo.status_code == 422
    amended = client.post(f"/api/v1/allergies/{made.json()['id']}/amend", headers=headers["physician"],
                          json={"action": "correct", "severity": "moderate", "note": "reaction re-assessed"})
    assert amended.status_code == 201 and amended.json()["replaces_id"] == made.json()["id"]
    listed = client.get(f"/api/v1/patients/{pid}/allergies", headers=nurse).json()
    assert listed["ketamine_allergy"] and [v["severity"] for v in listed["current"]] == ["moderate"]
    assert len(listed["history"]) == 2
    assert client.get(f"/api/v1/patients/{pid}/allergies", headers=headers["coordinator"]).status_code == 403


def test_names_and_credentials_over_the_users_endpoints(client, headers, clinic):
    admin = headers["admin"]
    uid = clinic.actors["physician"].user_id
    etag = client.get("/api/v1/users", headers=admin).json()["items"]
    version = next(u["version"] for u in etag if u["id"] == uid)
    bad = client.patch(f"/api/v1/users/{uid}", headers={**admin, "If-Match": f'"{version}"'},
                       json={"credentials": "M.D.!"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "credentials"
    assert "MD, RN, NP or DO" in bad.json()["error"]["message"]
    good = client.patch(f"/api/v1/users/{uid}", headers={**admin, "If-Match": f'"{version}"'},
                        json={"full_name": "Ana Ruiz", "credentials": "md"})
    assert good.status_code == 200 and good.json()["display_name"] == "Ana Ruiz, MD"
    made = client.post("/api/v1/users", headers=admin, json={"username": "np2", "role": "nurse",
                                                            "password": "long-enough-pw", "full_name": "Jo Park",
                                                            "credentials": "NP"})
    assert made.status_code == 201 and made.json()["display_name"] == "Jo Park, NP"


def test_an_invitation_and_a_reset_over_the_api(client, headers, db, clinic):
    patient = create_patient(db, clinic.actors["coordinator"], PatientIn(
        given_name="Synthetic", family_name="Api", birth_date=date(1980, 1, 1), sex="male"))
    issued = client.post("/api/v1/users/invitations", headers=headers["coordinator"], json={"patient_id": patient.id})
    assert issued.status_code == 201
    token = issued.json()["token"]
    accepted = client.post("/api/v1/account/invitation", json={"token": token, "password": "long-enough-pw"})
    assert accepted.status_code == 201 and accepted.json()["username"] == "synthetic.api"
    again = client.post("/api/v1/account/invitation", json={"token": token, "password": "long-enough-pw"})
    assert again.status_code == 404 and again.json()["error"]["code"] == "link_invalid"
    short = client.post("/api/v1/account/invitation", json={"token": token, "password": "short"})
    assert short.status_code == 422
    login = client.post("/api/v1/auth/token", data={"username": "synthetic.api", "password": "long-enough-pw"})
    assert login.status_code == 200 and login.json()["patient_id"] == patient.id
    reset = client.post(f"/api/v1/users/{clinic.actors['nurse'].user_id}/password-reset", headers=headers["admin"])
    assert reset.status_code == 201 and reset.json()["path"].startswith("/account/reset/")
    used = client.post("/api/v1/account/password-reset", json={"token": reset.json()["token"],
                                                               "password": "another-long-pw"})
    assert used.status_code == 200
    assert client.get("/api/v1/auth/me", headers=headers["nurse"]).status_code == 401  # its token has ended


def test_a_patient_id_past_32_bits_is_a_422_not_a_500(client, headers):
    """Found by the OpenAPI fuzzing on PostgreSQL: 2**31 in the new account's patient_id overflowed INTEGER (500)."""
    for too_big in (2**31, 2**63):
        made = client.post("/api/v1/users", headers=headers["admin"],
                           json={"username": "portal9", "role": "patient", "password": "long-enough-pw",
                                 "patient_id": too_big})
        assert made.status_code == 422, made.text
        assert made.json()["error"]["field"] == "patient_id"
