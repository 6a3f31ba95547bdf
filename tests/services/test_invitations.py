"""Portal accounts by invitation and password resets by one-time link (issue 12): only the hash is stored, a
link works once and not after it expires or is replaced, a reset ends the user's sign-ins, and issuing,
use and refusals are in the audit log."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from ketaclinic.clock import utcnow
from ketaclinic.records.audit import AuditEntry
from ketaclinic.records.users import AccountLink, User
from ketaclinic.services import invitations as inv
from ketaclinic.services.auth import actor_from_token, issue_token, sign_in
from ketaclinic.services.errors import Conflict, Forbidden, NotFound, Unauthenticated
from ketaclinic.services.patients import PatientIn, create_patient
from ketaclinic.services.users import UserUpdate, update_user

NEW_PASSWORD = "a-new-long-password"


def _new_patient(db, clinic, given="Synthetic", family="Invitee"):
    from datetime import date

    return create_patient(db, clinic.actors["coordinator"], PatientIn(given_name=given, family_name=family,
                                                                      birth_date=date(1975, 5, 6), sex="female"))


def _actions(db, prefix):
    with db.reading() as session:
        rows = session.execute(select(AuditEntry).where(AuditEntry.action.like(prefix + "%"))
                               .order_by(AuditEntry.seq)).scalars().all()
        return [(r.action, r.detail) for r in rows]


def test_an_invitation_makes_the_portal_account_once(db, clinic, settings):
    patient = _new_patient(db, clinic)
    issued = inv.issue_invitation(db, clinic.actors["coordinator"], inv.InvitationIn(patient_id=patient.id))
    assert issued.username == "synthetic.invitee" and issued.path == "/account/invitation/" + issued.token
    assert issued.expires_at - utcnow() > timedelta(hours=71)
    with db.reading() as session:
        stored = session.execute(select(AccountLink)).scalars().all()
    assert [s.id for s in stored] == [hashlib.sha256(issued.token.encode()).hexdigest()]  # only the hash
    info = inv.link_info(db, "invitation", issued.token, ip="127.0.0.1")
    assert info.for_name == "Synthetic Invitee" and info.username == "synthetic.invitee"
    inv.accept_invitation(db, inv.SetPassword(token=issued.token, password=NEW_PASSWORD), ip="127.0.0.1")
    signed = sign_in(db, settings, username="synthetic.invitee", password=NEW_PASSWORD, ip=None)
    assert signed.actor.role == "patient" and signed.actor.patient_id == patient.id
    with pytest.raises(NotFound) as twice:
        inv.accept_invitation(db, inv.SetPassword(token=issued.token, password=NEW_PASSWORD), ip="127.0.0.1")
    assert twice.value.code == "link_invalid"
    actions = _actions(db, "invitation.")
    assert [a for a, _ in actions] == ["invitation.issue", "invitation.accept", "invitation.refused"]
    assert '"reason":"used"' in actions[-1][1]
    with pytest.raises(Conflict) as exists:  # one portal account per patient
        inv.issue_invitation(db, clinic.actors["admin"], inv.InvitationIn(patient_id=patient.id))
    assert exists.value.code == "portal_account_exists"


def test_an_expired_invitation_is_refused_and_logged(db, clinic):
    patient = _new_patient(db, clinic)
    issued = inv.issue_invitation(db, clinic.actors["admin"], inv.InvitationIn(patient_id=patient.id),
                                  now=utcnow() - timedelta(hours=73))
    with pytest.raises(NotFound):
        inv.link_info(db, "invitation", issued.token, ip=None)
    with pytest.raises(NotFound):
        inv.accept_invitation(db, inv.SetPassword(token=issued.token, password=NEW_PASSWORD), ip=None)
    with db.reading() as session:
        assert session.execute(select(User).where(User.patient_id == patient.id)).first() is None
    reasons = [d for a, d in _actions(db, "invitation.refused")]
    assert len(reasons) == 2 and all('"reason":"expired"' in d for d in reasons)


def test_a_new_invitation_replaces_the_earlier_one_and_unknown_tokens_are_refused(db, clinic):
    patient = _new_patient(db, clinic)
    first = inv.issue_invitation(db, clinic.actors["admin"], inv.InvitationIn(patient_id=patient.id))
    second = inv.issue_invitation(db, clinic.actors["admin"], inv.InvitationIn(patient_id=patient.id,
                                                                               username="my.portal"))
    with pytest.raises(NotFound):
        inv.accept_invitation(db, inv.SetPassword(token=first.token, password=NEW_PASSWORD), ip=None)
    with pytest.raises(NotFound):
        inv.link_info(db, "invitation", "x" * 43, ip=None)
    with pytest.raises(NotFound):  # a reset link is no invitation
        inv.link_info(db, "password_reset", second.token, ip=None)
    assert inv.accept_invitation(db, inv.SetPassword(token=second.token, password=NEW_PASSWORD),
                                 ip=None).username == "my.portal"
    reasons = " ".join(d for _, d in _actions(db, "invitation.refused"))
    assert '"reason":"revoked"' in reasons and '"reason":"unknown"' in reasons


def test_invitation_roles_and_usernames(db, clinic):
    patient = _new_patient(db, clinic)
    for role in ("physician", "nurse", "patient"):
        with pytest.raises(Forbidden):
            inv.issue_invitation(db, clinic.actors[role], inv.InvitationIn(patient_id=patient.id))
    with pytest.raises(Conflict) as taken:
        inv.issue_invitation(db, clinic.actors["admin"], inv.InvitationIn(patient_id=patient.id, username="nurse"))
    assert taken.value.code == "username_taken"
    with pytest.raises(NotFound):
        inv.issue_invitation(db, clinic.actors["admin"], inv.InvitationIn(patient_id=999_999))
    other = _new_patient(db, clinic, "Synthetic", "Invitee")  # same name: the suggestion gets a number
    inv.issue_invitation(db, clinic.actors["admin"], inv.InvitationIn(patient_id=patient.id))
    assert inv.issue_invitation(db, clinic.actors["admin"],
                                inv.InvitationIn(patient_id=other.id)).username == "synthetic.invitee2"


def test_a_password_reset_sets_the_password_once_and_ends_every_sign_in(db, clinic, settings):
    nurse = clinic.actors["nurse"]
    token, _ = issue_token(db, nurse)
    issued = inv.issue_password_reset(db, clinic.actors["admin"], nurse.user_id)
    assert actor_from_token(db, token, ip=None).user_id == nurse.user_id  # issuing alone ends nothing
    inv.reset_password(db, inv.SetPassword(token=issued.token, password=NEW_PASSWORD), ip="127.0.0.1")
    with pytest.raises(Unauthenticated):
        actor_from_token(db, token, ip=None)  # the old token is revoked (token_version)
    assert sign_in(db, settings, username="nurse", password=NEW_PASSWORD, ip=None).actor.user_id == nurse.user_id
    with pytest.raises(NotFound):
        inv.reset_password(db, inv.SetPassword(token=issued.token, password="another-long-one"), ip=None)
    assert [a for a, _ in _actions(db, "password_reset.")] == [
        "password_reset.issue", "password_reset.use", "password_reset.refused"]
    for role in ("coordinator", "physician", "nurse", "patient"):
        with pytest.raises(Forbidden):
            inv.issue_password_reset(db, clinic.actors[role], nurse.user_id)


def test_an_expired_reset_or_a_deactivated_user_is_refused(db, clinic):
    admin = clinic.actors["admin"]
    old = inv.issue_password_reset(db, admin, clinic.actors["physician"].user_id, now=utcnow() - timedelta(hours=25))
    with pytest.raises(NotFound):
        inv.reset_password(db, inv.SetPassword(token=old.token, password=NEW_PASSWORD), ip=None)
    link = inv.issue_password_reset(db, admin, clinic.actors["physician"].user_id)
    with db.reading() as session:
        version = session.get(User, clinic.actors["physician"].user_id).version
    update_user(db, admin, clinic.actors["physician"].user_id, version, UserUpdate(active=False))
    with pytest.raises(NotFound):
        inv.reset_password(db, inv.SetPassword(token=link.token, password=NEW_PASSWORD), ip=None)
    with pytest.raises(Conflict):
        inv.issue_password_reset(db, admin, clinic.actors["physician"].user_id)
    reasons = " ".join(d for _, d in _actions(db, "password_reset.refused"))
    assert '"reason":"expired"' in reasons and '"reason":"user_inactive"' in reasons


def test_an_invitation_refuses_when_the_account_or_the_username_appeared_meanwhile(db, clinic):
    from ketaclinic.services.users import UserCreate, create_user

    patient = _new_patient(db, clinic)
    issued = inv.issue_invitation(db, clinic.actors["admin"], inv.InvitationIn(patient_id=patient.id))
    create_user(db, clinic.actors["admin"], UserCreate(username="synthetic.invitee", role="nurse",
                                                       password="long-enough-pw"))
    with pytest.raises(Conflict) as taken:
        inv.accept_invitation(db, inv.SetPassword(token=issued.token, password=NEW_PASSWORD), ip=None)
    assert taken.value.code == "username_taken"
    other = _new_patient(db, clinic, "Synthetic", "Second")
    second = inv.issue_invitation(db, clinic.actors["admin"], inv.InvitationIn(patient_id=other.id))
    create_user(db, clinic.actors["admin"], UserCreate(username="made.by.hand", role="patient",
                                                       password="long-enough-pw", patient_id=other.id))
    with pytest.raises(Conflict) as exists:
        inv.accept_invitation(db, inv.SetPassword(token=second.token, password=NEW_PASSWORD), ip=None)
    assert exists.value.code == "portal_account_exists"
    assert inv.link_info(db, "invitation", second.token, ip=None).username  # the refusal did not spend the link
