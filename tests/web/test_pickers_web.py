"""Issue 17: the pages that used to hold the whole clinic cost what one screen shows. The invitation form and
the audit log find a patient by a search (at most ``SEARCH_LIMIT`` matches, saying more match), never a
<select> of every patient; the users page is paged by keyset with a search."""

from __future__ import annotations

import re
from datetime import date

import pytest

from ketaclinic.records.users import User
from ketaclinic.services.context import Actor
from ketaclinic.services.patients import SEARCH_LIMIT, PatientIn, create_patient
from ketaclinic.web.views.admin import USERS_PAGE


@pytest.fixture
def namesakes(db, clinic) -> list[int]:
    """More patients named alike than a picker shows."""
    seed = Actor(user_id=None, username="seed", role="coordinator", ip="127.0.0.1", site_ids=(1,))
    return [create_patient(db, seed, PatientIn(given_name=f"Given{i:02d}", family_name="Namesake",
                                               birth_date=date(1960, 1, 1 + i), sex="female")).id
            for i in range(SEARCH_LIMIT + 2)]


def _picked(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-patient-id="(\d+)"', html)]


def test_the_invitation_form_finds_the_patient_by_a_search_never_a_list_of_every_patient(signed_in, namesakes):
    coordinator = signed_in("coordinator")
    empty = coordinator.get("/invitations/new").text
    assert "Namesake" not in empty and "<option" not in empty and _picked(empty) == []
    assert 'id="f-patient_q"' in empty and 'id="invitation-form"' not in empty  # first find the patient
    many = coordinator.get("/invitations/new?q=namesake").text
    assert len(_picked(many)) == SEARCH_LIMIT and set(_picked(many)) <= set(namesakes)
    assert 'id="more-patients"' in many  # the rest: type more
    one = coordinator.get(f"/invitations/new?q=namesake+given{SEARCH_LIMIT + 1}").text
    assert _picked(one) == [namesakes[-1]] and 'id="more-patients"' not in one
    chosen = coordinator.get(f"/invitations/new?patient_id={namesakes[-1]}").text
    assert f'name="patient_id" value="{namesakes[-1]}"' in chosen and f"Given{SEARCH_LIMIT + 1}" in chosen
    assert 'id="f-patient_q"' in chosen and "Or choose another patient" in chosen  # still changeable
    assert chosen.index('id="invitation-form"') < chosen.index('id="find-patient"')
    taken = coordinator.get("/invitations/new?patient_id=999999").text
    assert "cannot be invited here" in taken and 'id="invitation-form"' not in taken


def test_the_audit_log_filters_by_a_found_patient_never_a_list_of_every_patient(signed_in, namesakes, clinic):
    signed_in("nurse").get(f"/patients/{namesakes[0]}")
    admin = signed_in("admin")
    page = admin.get("/admin/audit").text
    form = page[page.index('id="audit-filters"'):page.index("</form>", page.index('id="audit-filters"'))]
    assert "Namesake" not in form and 'id="f-patient_q"' in form and 'id="f-patient_id"' not in form
    many = admin.get("/admin/audit?patient_q=namesake&action=patient.read").text
    assert len(_picked(many)) == SEARCH_LIMIT and 'id="more-patients"' in many and 'id="choose-patient"' in many
    assert f'href="/admin/audit?action=patient.read&amp;patient_id={_picked(many)[0]}"' in many  # keeps the filters
    assert re.findall(r'<tr data-action="', many) == []  # the log is read once the patient is chosen
    one = admin.get("/admin/audit?patient_q=namesake+given00&action=patient.read").text
    assert 'id="chosen-patient"' in one and f'name="patient_id" value="{namesakes[0]}"' in one
    assert re.findall(r'<tr data-action="([^"]+)"', one) == ["patient.read"]
    chosen = admin.get(f"/admin/audit?patient_id={namesakes[1]}").text
    assert 'id="chosen-patient"' in chosen and "Given01" in chosen and 'id="f-patient_q"' in chosen
    none = admin.get("/admin/audit?patient_q=nobody-like-this").text
    assert "No patient matches" in none and 'id="e-patient_id"' in none


def test_the_users_page_is_a_page_of_accounts_with_a_next_page_and_a_search(signed_in, db, clinic):
    with db.transaction() as uow:
        hashed = uow.get(User, clinic.actors["nurse"].user_id).password_hash
        uow.add_all([User(username=f"extra.{i:03d}", role="nurse", password_hash=hashed) for i in range(USERS_PAGE)])
    admin = signed_in("admin")
    first = admin.get("/admin/users").text
    rows = re.findall(r'<tr id="user-(\d+)"', first)
    assert len(rows) == USERS_PAGE and "1 patient without a portal account" in first
    more = re.search(r'id="more-users" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    rest = re.findall(r'<tr id="user-(\d+)"', admin.get(more).text)
    assert rest and not set(rest) & set(rows) and len(rows) + len(rest) == USERS_PAGE + 5
    found = admin.get("/admin/users?q=extra.04").text
    assert len(re.findall(r'<tr id="user-', found)) == 10 and 'id="more-users"' not in found
    portal = admin.get("/admin/users?kind=patient").text
    assert re.findall(r'<tr id="user-(\d+)"', portal) == [str(clinic.actors["patient"].user_id)]
    name = admin.get(f"/admin/users/{rows[-1]}/name")
    assert name.status_code == 200 and admin.get("/admin/users/999999/name").status_code == 404
