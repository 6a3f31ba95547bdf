"""``/api/v1/clinic-settings``: ETag and If-Match, the library only tightens, one error shape."""

import pytest

pytestmark = pytest.mark.parametrize("engine", ["sqlite"])


def test_read_change_and_refuse_loosening(client, headers):
    admin, nurse = headers["admin"], headers["nurse"]
    first = client.get("/api/v1/clinic-settings", headers=nurse)
    assert first.status_code == 200 and first.headers["ETag"] == '"0"' and first.json()["version"] == 0
    body = {"drug_library": {"limits": {"bolus_dose_mg_per_kg": {"soft_max": 0.25}}}, "note": "fewer dissociations"}
    assert client.patch("/api/v1/clinic-settings", json=body, headers=admin).status_code == 428
    saved = client.patch("/api/v1/clinic-settings", json=body, headers={**admin, "If-Match": '"0"'})
    assert saved.status_code == 200 and saved.headers["ETag"] == '"1"'
    bolus = next(lim for lim in saved.json()["library"]["limits"] if lim["quantity"] == "bolus_dose_mg_per_kg")
    assert bolus["soft_max"]["value"] == 0.25 and bolus["hard_max"]["value"] == 0.5
    stale = client.patch("/api/v1/clinic-settings", json=body, headers={**admin, "If-Match": "0"})
    assert stale.status_code == 409
    loose = client.patch("/api/v1/clinic-settings", headers={**admin, "If-Match": "1"},
                         json={"drug_library": {"limits": {"bolus_dose_mg_per_kg": {"hard_max": 2}}}})
    assert loose.status_code == 422
    assert loose.json()["error"]["code"] == "library_loosened"
    assert loose.json()["error"]["field"] == "drug_library.limits.bolus_dose_mg_per_kg"
    typo = client.patch("/api/v1/clinic-settings", headers={**admin, "If-Match": "1"}, json={"fasting_hour": {}})
    assert typo.status_code == 422
