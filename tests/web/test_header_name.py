"""The page header and the dashboard heading name the signed-in person as everywhere else ("Ana Ruiz, MD")."""

import re

from ketaclinic.records.users import User
from ketaclinic.services.users import UserUpdate, update_user


def test_the_header_names_the_person_with_credentials(signed_in, db, clinic):
    physician = clinic.actors["physician"]
    with db.reading() as uow:
        version = uow.get(User, physician.user_id).version
    update_user(db, clinic.actors["admin"], physician.user_id, version,
                UserUpdate(full_name="Ana Ruiz", credentials="MD"))
    page = signed_in("physician").get("/dashboard").text
    header = page.split("<main", 1)[0]
    assert "Ana Ruiz, MD" in header
    assert '<span id="dashboard-name">Ana Ruiz, MD</span>' in page


def test_the_admin_dashboard_lists_recent_actions_in_words(signed_in, clinic):
    signed_in("nurse").get(f"/patients/{clinic.own_patient_id}")
    page = signed_in("admin").get("/dashboard").text
    recent = page.split("Open the audit log")[0].rsplit("<ul>", 1)[-1]
    entries = re.findall(r"<li>(.*?)</li>", recent)
    assert len(entries) == 10 and any(" — nurse: " in e for e in entries)
    assert not [e for e in entries if re.search(r"\b[a-z_]+\.[a-z_.]+\b", e)], entries  # no raw action keys
