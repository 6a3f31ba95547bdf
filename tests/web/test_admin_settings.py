"""Admin pages: the drug library (default beside the clinic's value, loosening refused next to the field)
and the clinic settings (versioned, If-Match, typed values kept on every refusal)."""

from __future__ import annotations

import re

from tests.web.conftest import csrf_of

PER_KG = "infusion_rate_mg_per_kg_per_h"


def _form(client, path):
    page = client.get(path)
    assert page.status_code == 200, page.text[:300]
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    return page, {"csrf_token": csrf_of(page.text), "version": version, "conc-1": "yes", "conc-2": "yes", "conc-10": "yes"}


def test_loosening_the_library_is_refused_next_to_the_field_and_nothing_typed_is_lost(signed_in):
    client = signed_in("admin")
    page, form = _form(client, "/admin/drug-library")
    assert "default: 1.00" in page.text and "[pa_lowdose_ketamine2020]" in page.text  # the low-dose hard maximum, sourced
    response = client.post("/admin/drug-library", data={**form, f"lim-{PER_KG}-hard_max": "2.5",
                                                        f"lim-{PER_KG}-soft_max": "0.8", "note": "typed note"})
    assert response.status_code == 422
    assert f'id="e-{PER_KG}"' in response.text and "may only tighten" in response.text
    assert "hard_max 2.5 would loosen 1.0" in response.text
    assert 'value="2.5"' in response.text and 'value="0.8"' in response.text and "typed note" in response.text
    assert re.search(rf'id="f-lim-{PER_KG}-hard_max"[^>]*aria-invalid="true"', response.text)


def test_tightening_saves_a_version_that_the_plan_builder_uses(signed_in, clinic):
    client = signed_in("admin")
    _, form = _form(client, "/admin/drug-library")
    saved = client.post("/admin/drug-library", data={**form, f"lim-{PER_KG}-hard_max": "0.8", f"lim-{PER_KG}-soft_max": "0.6", "conc-10": ""},
                        follow_redirects=False)
    assert saved.status_code == 303
    page = client.get("/admin/drug-library")
    assert "clinic settings version 1" in page.text and f'name="lim-{PER_KG}-hard_max" type="text" inputmode="decimal" size="7" value="0.8"' in page.text
    assert not re.search(r'name="conc-10" value="yes" checked', page.text)
    physician = signed_in("physician")
    view = physician.get("/admin/drug-library")
    assert view.status_code == 200 and "clinic: <strong>0.80</strong>" in view.text and "<input id=\"f-lim" not in view.text
    builder = physician.get(f"/patients/{clinic.own_patient_id}/plans/new?protocol=custom_iv")
    assert "10 mg/mL" not in builder.text  # the removed concentration is no longer offered
    token = csrf_of(builder.text)
    preview = physician.post("/plans/preview", headers={"X-CSRF-Token": token}, data={
        "protocol": "custom_iv", "weight_kg": "70", "concentration_mg_per_ml": "1",
        "steps-0-kind": "infusion", "steps-0-rate_mg_per_kg_per_h": "0.9", "steps-0-duration_min": "60"})
    assert "hard" in preview.text.lower() and "0.8" in preview.text
    assert signed_in("nurse").post("/admin/drug-library", data=form).status_code == 403


def test_a_stale_version_says_someone_else_changed_it_and_keeps_the_values(signed_in):
    client = signed_in("admin")
    _, form = _form(client, "/admin/drug-library")
    assert client.post("/admin/drug-library", data={**form, f"lim-{PER_KG}-soft_max": "0.9"}).status_code == 200
    late = client.post("/admin/drug-library", data={**form, f"lim-{PER_KG}-soft_max": "0.7"})
    assert late.status_code == 409
    assert "Someone else changed the clinic settings" in late.text and 'value="0.7"' in late.text


def test_clinic_settings_page_versions_and_refuses_fasting_shorter_than_the_asa(signed_in):
    client = signed_in("admin")
    page, form = _form(client, "/admin/settings")
    assert "The defaults (never changed)" in page.text
    values = {"csrf_token": form["csrf_token"], "version": form["version"], "clinic_name": "Synthetic Pain Clinic",
              "fasting_clear_liquid": "1", "fasting_light_meal": "6", "fasting_fatty_meal": "8",
              "fasting_non_human_milk": "6", "minimum_observation_min": "90", "booster_min_interval_days": "21",
              "note": "policy review"}
    refused = client.post("/admin/settings", data=values)
    assert refused.status_code == 422
    assert 'id="e-fasting_clear_liquid"' in refused.text and "ASA minimum of 2 h" in refused.text
    assert 'value="Synthetic Pain Clinic"' in refused.text and 'value="90"' in refused.text
    saved = client.post("/admin/settings", data={**values, "fasting_clear_liquid": "3"}, follow_redirects=False)
    assert saved.status_code == 303
    page = client.get("/admin/settings")
    assert "Version 1" in page.text and "policy review" in page.text and "minimum observation min: 60.0 → 90.0" in page.text
    assert signed_in("physician").get("/admin/settings").status_code == 403
