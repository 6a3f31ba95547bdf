"""Issue 17, sites everywhere: the site a request works at and the role there, lists kept to it, inquiries and
audit entries with their site, and the site in the audit chain's hash."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from ketaclinic.records.audit import AuditEntry, entry_hash, verify_chain
from ketaclinic.records.users import User
from ketaclinic.services import audit as audit_service
from ketaclinic.services import audit_log
from ketaclinic.services import follow_up as fu
from ketaclinic.services import inquiries as iq
from ketaclinic.services import patients as pt
from ketaclinic.services import sessions as ss
from ketaclinic.services import sites as st
from ketaclinic.services.auth import actor_for
from ketaclinic.services.context import SiteChoice
from ketaclinic.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ketaclinic.services.users import UserCreate, UserUpdate, create_user, update_user
from tests.conftest import PASSWORD
from tests.sites_clinic import add_patients, utc_now

MAIN, NORTH = SiteChoice(1, "Main site", "MAIN", "physician"), SiteChoice(2, "North", "NORTH", "nurse")


# --- the rule, pure ---------------------------------------------------------------------------


def test_the_role_is_the_role_at_the_picked_site():
    assert st.scope_of("physician", (MAIN, NORTH), 2) == ("nurse", (2,), 2)
    assert st.scope_of("physician", (MAIN, NORTH), 1) == ("physician", (1,), 1)


def test_all_sites_is_the_account_role_over_the_sites_where_it_holds_that_role():
    assert st.scope_of("physician", (MAIN, NORTH), None) == ("physician", (1,), None)
    both = (MAIN, SiteChoice(2, "North", "NORTH", "physician"))
    assert st.scope_of("physician", both, None) == ("physician", (1, 2), None)


def test_one_site_is_always_that_site_with_its_role():
    assert st.scope_of("physician", (NORTH,), None) == ("nurse", (2,), 2)


def test_a_site_the_user_does_not_work_at_is_refused():
    with pytest.raises(Forbidden) as refused:
        st.scope_of("physician", (MAIN, NORTH), 3)
    assert refused.value.code == "site_not_yours" and refused.value.status == 403
    with pytest.raises(Forbidden):
        st.scope_of("nurse", (), 1)


# --- with the database ------------------------------------------------------------------------


def _actor(db, user_id: int, site_id: int | None = None):
    with db.reading() as uow:
        return actor_for(uow.get(User, user_id), "127.0.0.1", site_id)


def _two_sites(db, clinic):
    """North with its own patients; the physician also works at North, as a nurse there."""
    admin, now = clinic.actors["admin"], utc_now()
    north = st.create_site(db, admin, st.SiteIn(name="North", code="NORTH"))
    physician = clinic.actors["physician"].user_id
    st.set_member(db, admin, north.id, physician, st.MemberIn(role="nurse"))
    main_records = add_patients(db, 1, 2, now=now, signer_id=physician, tag="Mainly")
    north_records = add_patients(db, north.id, 2, now=now, signer_id=physician, tag="Northern")
    return north, main_records, north_records


def test_a_two_site_user_works_at_the_picked_site_with_the_role_there(db, clinic):
    north, main_records, north_records = _two_sites(db, clinic)
    user_id = clinic.actors["physician"].user_id
    everywhere = _actor(db, user_id)
    assert everywhere.role == "physician" and everywhere.site_ids == (1,) and everywhere.site_id is None
    assert [s.role for s in everywhere.sites] == ["physician", "nurse"]
    at_north = _actor(db, user_id, north.id)
    assert at_north.role == "nurse" and at_north.site_ids == (north.id,)

    listed = {p.id for p in pt.list_patients(db, at_north).items}
    assert listed == set(north_records.patient_ids)
    with pytest.raises(NotFound):  # the main site's chart is out of reach while working at North
        pt.get_patient(db, at_north, main_records.patient_ids[0])
    sessions = {s.id for s in ss.list_sessions(db, at_north, limit=200).items}
    assert set(north_records.session_today_ids) <= sessions and not sessions & set(main_records.session_today_ids)
    alerts = {a["event_id"] for a in ss.list_open_alerts(db, at_north)}
    assert alerts == set(north_records.alert_ids)
    # the role at North is nurse: a physician-only act is refused there, though the account is a physician's
    with pytest.raises(Forbidden):
        iq.list_inquiries(db, at_north)
    due = fu.follow_up_due(db, at_north)
    assert {b["patient_id"] for b in due["boosters_due"]} | {c["patient_id"] for c in due["overdue_risk_checks"]} \
        <= set(north_records.patient_ids)


def test_a_site_taken_away_is_refused_at_once(db, clinic):
    north, _, _ = _two_sites(db, clinic)
    user_id = clinic.actors["physician"].user_id
    st.remove_member(db, clinic.actors["admin"], north.id, user_id)
    with pytest.raises(Forbidden) as refused:
        _actor(db, user_id, north.id)
    assert refused.value.code == "site_not_yours"


def test_a_role_change_moves_the_memberships_that_held_the_old_role(db, clinic):
    north, _, _ = _two_sites(db, clinic)
    admin, user_id = clinic.actors["admin"], clinic.actors["physician"].user_id
    with db.reading() as uow:
        version = uow.get(User, user_id).version
    update_user(db, admin, user_id, version, UserUpdate(role="coordinator"))
    actor = _actor(db, user_id)
    assert {s.id: s.role for s in actor.sites} == {1: "coordinator", north.id: "nurse"}  # North keeps its own role
    assert actor.role == "coordinator" and actor.site_ids == (1,)


def test_the_last_admin_membership_survives_a_role_change(db, clinic):
    admin = clinic.actors["admin"]
    second = create_user(db, admin, UserCreate(username="admin2", role="admin", password=PASSWORD)).id
    st.set_member(db, admin, 1, second, st.MemberIn(role="physician"))  # admin2 is no admin at any site
    with db.reading() as uow:
        version = uow.get(User, admin.user_id).version
    with pytest.raises(Conflict) as refused:  # another active admin account exists, but no other admin membership
        update_user(db, admin, admin.user_id, version, UserUpdate(role="physician"))
    assert refused.value.code == "last_site_admin"
    assert {s.role for s in _actor(db, admin.user_id).sites} == {"admin"}


def test_inquiries_carry_their_site_and_stay_there(db, clinic, settings):
    admin = clinic.actors["admin"]
    north = st.create_site(db, admin, st.SiteIn(name="North", code="NORTH"))
    closed = st.create_site(db, admin, st.SiteIn(name="Closed", code="SHUT"))
    st.update_site(db, admin, closed.id, closed.version, st.SitePatch(active=False))
    public = iq.InquiryIn(name="Ana", phone="+34 600 000 000", preferred_contact="phone", consent_to_contact=True)
    iq.submit_inquiry(db, settings, admin.public("1.2.3.4"), public)
    iq.submit_inquiry(db, settings, admin.public("1.2.3.4"), public.model_copy(update={"site_id": north.id}))
    with pytest.raises(ValidationFailed) as refused:
        iq.submit_inquiry(db, settings, admin.public("1.2.3.4"), public.model_copy(update={"site_id": closed.id}))
    assert refused.value.field == "site_id"
    assert [s.name for s in iq.public_sites(db)] == ["Main site", "North"]
    coordinator = clinic.actors["coordinator"]  # works at the main site only
    mine = iq.list_inquiries(db, coordinator).items
    assert [i.site_id for i in mine] == [1]
    waiting = iq.waiting_inquiries(db, coordinator)
    assert waiting.total == 1 and waiting.items[0].id == mine[0].id
    with db.reading() as uow:
        north_id = uow.execute(text("SELECT id FROM inquiries WHERE site_id = :s"), {"s": north.id}).scalar_one()
    with pytest.raises(NotFound):
        iq.get_inquiry(db, coordinator, north_id)
    st.set_member(db, admin, north.id, coordinator.user_id, st.MemberIn(role="coordinator"))
    converted = iq.convert_inquiry(db, _actor(db, coordinator.user_id, north.id), north_id,
                                   iq.get_inquiry(db, _actor(db, coordinator.user_id, north.id), north_id).version,
                                   iq.ConvertIn(patient=pt.PatientIn(given_name="Ana", family_name="North",
                                                                     birth_date=datetime(1980, 1, 1).date(), sex="female")))
    assert converted.patient.site_id == north.id  # the chart opens where the patient asked to be seen


# --- the audit log --------------------------------------------------------------------------------


def test_audit_entries_name_the_site_of_the_chart_or_of_the_request(db, clinic):
    north, main_records, north_records = _two_sites(db, clinic)
    user_id = clinic.actors["physician"].user_id
    everywhere = _actor(db, user_id)
    pt.get_patient(db, everywhere, main_records.patient_ids[0])
    pt.get_patient(db, _actor(db, user_id, north.id), north_records.patient_ids[0])
    pt.list_patients(db, _actor(db, user_id, north.id))
    with db.reading() as uow:
        entries = list(uow.execute(select(AuditEntry.action, AuditEntry.site_id)
                                   .where(AuditEntry.action.in_(("patient.read", "patient.list")))
                                   .order_by(AuditEntry.seq)).all())
    assert entries[-3:] == [("patient.read", 1), ("patient.read", north.id), ("patient.list", north.id)]
    page = audit_log.read_audit_log(db, clinic.actors["admin"], audit_log.AuditQuery(site_id=north.id))
    assert page.items and all(e.site == "North" for e in page.items)
    assert {e.site_id for e in audit_service.list_audit(db, clinic.actors["admin"],
                                                        audit_service.AuditFilter(site_id=north.id)).items} == {north.id}
    with db.reading() as uow:
        assert verify_chain(uow).intact


def test_an_entry_without_a_site_hashes_as_before_migration_0012():
    fields = {"seq": 1, "at": datetime(2026, 1, 1, tzinfo=UTC), "user_id": None, "username": "system:cli",
              "role": "system", "action": "user.create", "record_type": "user", "record_id": "1", "ip": "local",
              "detail": "{}", "prev_hash": "0" * 64}
    import hashlib

    from ketaclinic.records.audit import _timestamp, canonical_json
    old = hashlib.sha256(canonical_json({**fields, "at": _timestamp(fields["at"])}).encode()).hexdigest()
    assert entry_hash(**fields) == old == entry_hash(**fields, site_id=None)
    assert entry_hash(**fields, site_id=1) != old


def test_audit_verify_names_an_entry_whose_site_was_changed(db, clinic, settings, tmp_path, engine):
    north, main_records, _ = _two_sites(db, clinic)
    pt.get_patient(db, _actor(db, clinic.actors["physician"].user_id), main_records.patient_ids[0])
    with db.reading() as uow:
        seq = uow.execute(select(AuditEntry.seq).where(AuditEntry.action == "patient.read")
                          .order_by(AuditEntry.seq.desc())).scalars().first()
    drop = {"sqlite": ["DROP TRIGGER audit_log_no_update"],
            "postgresql": ["DROP TRIGGER audit_log_append_only ON audit_log"]}[engine]
    with db.engine.begin() as connection:
        for sql in drop:
            connection.execute(text(sql))
        connection.execute(text("UPDATE audit_log SET site_id = :site WHERE seq = :seq"), {"site": north.id, "seq": seq})
    ketaclinic = str(Path(sys.executable).parent / "ketaclinic")
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": settings.database_url, "HOME": str(tmp_path)}
    result = subprocess.run([ketaclinic, "audit", "verify"], env=env, capture_output=True, text=True)
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["first_broken"]["seq"] == seq and report["first_broken"]["kind"] == "changed"
