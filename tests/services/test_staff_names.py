"""Staff full names and credentials (issue 12): set by the admin with checks; ``staff_names`` reads "Full Name, MD"
(the username while no full name is recorded)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from ketaclinic.records.audit import AuditEntry
from ketaclinic.records.users import User
from ketaclinic.services.errors import Forbidden, ValidationFailed
from ketaclinic.services.staff import NOBODY, display_name, staff_names
from ketaclinic.services.users import UserCreate, UserUpdate, create_user, list_users, update_user
from tests.conftest import PASSWORD


def name_of(db, user_id):
    with db.reading() as uow:
        return staff_names(uow, [user_id])[user_id]


def _version(db, user_id):
    with db.reading() as session:
        return session.get(User, user_id).version


def test_staff_names_reads_full_name_and_credentials(db, clinic):
    physician = clinic.actors["physician"]
    nurse = clinic.actors["nurse"]
    update_user(db, clinic.actors["admin"], physician.user_id, _version(db, physician.user_id),
                UserUpdate(full_name="  Ana   Ruiz ", credentials="md"))
    update_user(db, clinic.actors["admin"], nurse.user_id, _version(db, nurse.user_id), UserUpdate(full_name="Tom Lee"))
    with db.reading() as session:
        names = staff_names(session, [physician.user_id, nurse.user_id, clinic.actors["admin"].user_id, None])
    assert names[physician.user_id] == "Ana Ruiz, MD" and names[nurse.user_id] == "Tom Lee"
    assert names[clinic.actors["admin"].user_id] == "admin" and names[None] == NOBODY
    assert name_of(db, physician.user_id) == "Ana Ruiz, MD"
    view = next(u for u in list_users(db, clinic.actors["admin"]).items if u.id == physician.user_id)
    assert view.full_name == "Ana Ruiz" and view.credentials == "MD" and view.display_name == "Ana Ruiz, MD"
    with db.reading() as session:
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "user.update")
                                .order_by(AuditEntry.seq)).scalars().first()
    assert "full_name" in entry.detail and "credentials" in entry.detail
    # a blank clears it: the username again
    update_user(db, clinic.actors["admin"], nurse.user_id, _version(db, nurse.user_id), UserUpdate(full_name=""))
    assert name_of(db, nurse.user_id) == "nurse"


def test_credentials_and_names_are_checked_with_clear_words():
    assert display_name("x", "Ana Ruiz", "MD, PhD") == "Ana Ruiz, MD, PhD"
    assert UserUpdate(credentials="rn; bsn").credentials == "RN, BSN"
    assert UserUpdate(credentials="PharmD").credentials == "PharmD"
    for bad in ("M D", "<b>", "MD!!", "1MD"):
        with pytest.raises(ValidationError, match="is not a credential"):
            UserUpdate(credentials=bad)
    for bad in ("R2D2", "Ana <script>", "123"):
        with pytest.raises(ValidationError):
            UserUpdate(full_name=bad)
    with pytest.raises(ValidationError):
        UserUpdate(full_name="A" * 121)


def test_a_patient_account_has_no_credentials_and_only_the_admin_names_staff(db, clinic):
    with pytest.raises(ValidationFailed) as refused:
        update_user(db, clinic.actors["admin"], clinic.actors["patient"].user_id,
                    _version(db, clinic.actors["patient"].user_id), UserUpdate(credentials="MD"))
    assert refused.value.field == "credentials"
    with pytest.raises(Forbidden):
        update_user(db, clinic.actors["physician"], clinic.actors["physician"].user_id,
                    _version(db, clinic.actors["physician"].user_id), UserUpdate(full_name="Self Named"))
    made = create_user(db, clinic.actors["admin"], UserCreate(username="np1", role="nurse", password=PASSWORD,
                                                              full_name="Jo Park", credentials="np"))
    assert made.display_name == "Jo Park, NP"
