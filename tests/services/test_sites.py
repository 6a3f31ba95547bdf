"""Sites (issue 17): staff reach the patients of the sites they work at; admins keep the sites and who works where."""

import json
from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from ketaclinic.records.audit import AuditEntry
from ketaclinic.records.sessions import InfusionSession
from ketaclinic.records.users import User
from ketaclinic.services import patients as pt
from ketaclinic.services import sessions as ss
from ketaclinic.services import sites as st
from ketaclinic.services.auth import actor_for
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Conflict, Forbidden, NotFound, PreconditionRequired, ValidationFailed
from ketaclinic.services.users import UserCreate, create_user
from tests.conftest import PASSWORD
from tests.interop.flows import T0, signed_plan


def _main(db) -> int:
    with db.reading() as session:
        return st.default_site_id(session)


def _actor(db, user_id: int) -> Actor:
    with db.reading() as session:
        return actor_for(session.get(User, user_id), "127.0.0.1")


def _staff(db, clinic, username: str, role: str) -> int:
    return create_user(db, clinic.actors["admin"], UserCreate(username=username, role=role, password=PASSWORD)).id


def _north(db, clinic) -> st.SiteView:
    return st.create_site(db, clinic.actors["admin"], st.SiteIn(name="North clinic", code="north",
                                                                 timezone="Europe/Madrid", address="1 High St"))


def _audit(db, action: str) -> list[AuditEntry]:
    with db.reading() as session:
        return list(session.execute(select(AuditEntry).where(AuditEntry.action == action)
                                    .order_by(AuditEntry.seq)).scalars())


def test_actors_carry_their_sites_and_new_staff_start_at_the_default_site(db, clinic):
    main = _main(db)
    for role in ("admin", "physician", "nurse", "coordinator"):
        assert clinic.actors[role].site_ids == (main,)
    assert clinic.actors["patient"].site_ids == ()
    north = _north(db, clinic)
    nurse = _staff(db, clinic, "nurse2", "nurse")
    assert _actor(db, nurse).site_ids == (main,)
    st.set_member(db, clinic.actors["admin"], north.id, nurse, st.MemberIn(role="nurse"))
    assert _actor(db, nurse).site_ids == (main, north.id)
    assert [s.code for s in st.list_sites(db, clinic.actors["nurse"])] == ["MAIN", "NORTH"]
    assert north.timezone == "Europe/Madrid" and north.address == "1 High St"


def test_a_nurse_of_another_site_neither_reads_nor_lists_the_patient_until_made_a_member(db, clinic):
    admin, main = clinic.actors["admin"], _main(db)
    north = _north(db, clinic)
    user_id = _staff(db, clinic, "northnurse", "nurse")
    st.set_member(db, admin, north.id, user_id, st.MemberIn(role="nurse"))
    st.remove_member(db, admin, main, user_id)
    nurse = _actor(db, user_id)
    assert nurse.site_ids == (north.id,)
    with pytest.raises(NotFound) as hidden:  # the same answer as a chart that does not exist
        pt.get_patient(db, nurse, clinic.own_patient_id)
    assert hidden.value.message == "patient not found"
    with pytest.raises(NotFound):  # every service that loads the chart keeps to the rule
        pt.list_weights(db, nurse, clinic.own_patient_id)
    assert pt.list_patients(db, nurse).items == []
    with pytest.raises(Forbidden) as other_site:
        pt.list_patients(db, nurse, site_id=main)
    assert other_site.value.code == "site_not_yours"

    st.set_member(db, admin, main, user_id, st.MemberIn(role="nurse"))
    nurse = _actor(db, user_id)
    assert pt.get_patient(db, nurse, clinic.own_patient_id).site_id == main
    assert {p.id for p in pt.list_patients(db, nurse).items} == {clinic.own_patient_id, clinic.other_patient_id}
    assert pt.list_patients(db, nurse, site_id=north.id).items == []


def test_patients_are_created_at_the_actors_site_and_never_at_another(db, clinic):
    admin, main, coordinator = clinic.actors["admin"], _main(db), clinic.actors["coordinator"]
    north = _north(db, clinic)
    person = dict(given_name="Synthetic", family_name="North", birth_date="1975-05-06", sex="female")
    with pytest.raises(Forbidden) as refused:
        pt.create_patient(db, coordinator, pt.PatientIn(**person, site_id=north.id))
    assert refused.value.code == "site_not_yours" and "North clinic" in refused.value.message
    with pytest.raises(ValidationFailed):
        pt.create_patient(db, coordinator, pt.PatientIn(**person, site_id=north.id + 100))
    assert pt.create_patient(db, coordinator, pt.PatientIn(**person)).site_id == main  # the only site

    user_id = _staff(db, clinic, "twosites", "coordinator")
    st.set_member(db, admin, north.id, user_id, st.MemberIn(role="coordinator"))
    both = _actor(db, user_id)
    assert pt.create_patient(db, both, pt.PatientIn(**person)).site_id == min(main, north.id)  # several: lowest id
    at_north = pt.create_patient(db, both, pt.PatientIn(**person, site_id=north.id))
    assert at_north.site_id == north.id
    assert json.loads(_audit(db, "patient.create")[-1].detail) == {"site_id": north.id}
    with pytest.raises(NotFound):  # the main-site nurse does not see the north patient
        pt.get_patient(db, clinic.actors["nurse"], at_north.id)
    assert at_north.id not in {p.id for p in pt.list_patients(db, clinic.actors["nurse"]).items}

    st.update_site(db, admin, north.id, north.version, st.SitePatch(active=False))
    with pytest.raises(ValidationFailed):  # a closed site takes no new patient
        pt.create_patient(db, both, pt.PatientIn(**person, site_id=north.id))

    st.remove_member(db, admin, main, user_id)
    st.remove_member(db, admin, north.id, user_id)
    with pytest.raises(Forbidden) as nowhere:
        pt.create_patient(db, _actor(db, user_id), pt.PatientIn(**person))
    assert nowhere.value.code == "no_site"
    system = pt.create_patient(db, Actor.system("tests"), pt.PatientIn(**person))  # the terminal: default site
    assert system.site_id == main


def test_a_session_happens_at_the_patients_site(db, clinic):
    admin = clinic.actors["admin"]
    north = _north(db, clinic)
    for role in ("physician", "nurse", "coordinator"):
        st.set_member(db, admin, north.id, clinic.actors[role].user_id, st.MemberIn(role=role))
        clinic.actors[role] = _actor(db, clinic.actors[role].user_id)
    coordinator = clinic.actors["coordinator"]
    patient = pt.create_patient(db, coordinator, pt.PatientIn(given_name="Synthetic", family_name="North",
                                                              birth_date="1975-05-06", sex="female", weight_kg=70,
                                                              site_id=north.id))
    signed_plan(db, clinic, patient.id)
    visit = ss.schedule_session(db, coordinator, ss.SessionIn(patient_id=patient.id, scheduled_at=T0 + timedelta(days=7)))
    with db.reading() as session:
        assert session.get(InfusionSession, visit.id).site_id == north.id
    main_only = _actor(db, _staff(db, clinic, "mainnurse", "nurse"))
    with pytest.raises(NotFound):  # a nurse of the main site only does not reach it
        ss.get_session(db, main_only, visit.id)


def test_the_last_admin_membership_stays(db, clinic):
    admin, main = clinic.actors["admin"], _main(db)
    north = _north(db, clinic)
    with pytest.raises(Conflict) as last:
        st.remove_member(db, admin, main, admin.user_id)
    assert last.value.code == "last_site_admin"
    with pytest.raises(Conflict) as demoted:
        st.set_member(db, admin, main, admin.user_id, st.MemberIn(role="coordinator"))
    assert demoted.value.code == "last_site_admin"
    st.set_member(db, admin, north.id, admin.user_id, st.MemberIn(role="admin"))
    st.remove_member(db, admin, main, admin.user_id)  # another admin membership remains
    with pytest.raises(Conflict):
        st.remove_member(db, admin, north.id, admin.user_id)
    with pytest.raises(NotFound):
        st.remove_member(db, admin, main, admin.user_id)
    with pytest.raises(ValidationFailed) as patient:
        st.set_member(db, admin, north.id, clinic.actors["patient"].user_id, st.MemberIn(role="nurse"))
    assert patient.value.code == "patient_not_staff"
    with pytest.raises(ValidationError):
        st.MemberIn(role="patient")
    with pytest.raises(Forbidden):
        st.set_member(db, clinic.actors["physician"], north.id, clinic.actors["nurse"].user_id, st.MemberIn(role="nurse"))
    with pytest.raises(Forbidden):
        st.remove_member(db, clinic.actors["nurse"], main, clinic.actors["nurse"].user_id)


def test_sites_are_kept_by_admins_with_if_match(db, clinic):
    admin = clinic.actors["admin"]
    with pytest.raises(Forbidden):
        st.create_site(db, clinic.actors["physician"], st.SiteIn(name="South", code="SOUTH"))
    with pytest.raises(Forbidden):
        st.list_sites(db, clinic.actors["patient"])
    with pytest.raises(Forbidden):
        st.list_sites(db, clinic.actors["nurse"], members=True)
    with pytest.raises(ValidationError):
        st.SiteIn(name="South", code="SOUTH", timezone="Mars/Olympus")
    with pytest.raises(ValidationError):
        st.SiteIn(name="South", code="no spaces")
    north = _north(db, clinic)
    assert north.code == "NORTH" and north.version == 1
    for clash in (st.SiteIn(name="north CLINIC", code="N2"), st.SiteIn(name="Other", code="north")):
        with pytest.raises(Conflict):
            st.create_site(db, admin, clash)
    with pytest.raises(PreconditionRequired):
        st.update_site(db, admin, north.id, None, st.SitePatch(name="North"))
    renamed = st.update_site(db, admin, north.id, north.version, st.SitePatch(name="North", timezone=None))
    assert (renamed.name, renamed.timezone, renamed.version) == ("North", None, 2)
    with pytest.raises(Conflict) as stale:
        st.update_site(db, admin, north.id, north.version, st.SitePatch(address="2 Low St"))
    assert stale.value.code == "stale_version"
    with pytest.raises(Conflict):
        st.update_site(db, admin, north.id, renamed.version, st.SitePatch(code="MAIN"))
    with pytest.raises(ValidationFailed):
        st.update_site(db, admin, north.id, renamed.version, st.SitePatch(name=None))
    with pytest.raises(NotFound):
        st.update_site(db, admin, north.id + 100, 1, st.SitePatch(name="Nowhere"))
    with pytest.raises(Forbidden):
        st.update_site(db, clinic.actors["coordinator"], north.id, renamed.version, st.SitePatch(name="X"))
    listed = st.list_sites(db, admin, members=True)
    assert [m.username for m in listed[0].members] == ["admin", "coordinator", "nurse", "physician"]


def test_every_site_change_is_audited(db, clinic):
    admin = clinic.actors["admin"]
    north = _north(db, clinic)
    st.update_site(db, admin, north.id, north.version, st.SitePatch(address="2 Low St"))
    nurse = clinic.actors["nurse"].user_id
    st.set_member(db, admin, north.id, nurse, st.MemberIn(role="nurse"))
    st.set_member(db, admin, north.id, nurse, st.MemberIn(role="coordinator"))
    st.remove_member(db, admin, north.id, nurse)
    created = _audit(db, "site.create")[-1]
    assert (created.record_type, created.record_id, created.username) == ("site", str(north.id), "admin")
    assert json.loads(created.detail)["code"] == "NORTH"
    assert json.loads(_audit(db, "site.update")[-1].detail) == {"address": {"from": "1 High St", "to": "2 Low St"}}
    assert json.loads(_audit(db, "site.member.add")[-1].detail) == {"user_id": nurse, "role": "nurse"}
    assert json.loads(_audit(db, "site.member.role")[-1].detail) == {"user_id": nurse, "from": "nurse",
                                                                      "to": "coordinator"}
    assert json.loads(_audit(db, "site.member.remove")[-1].detail) == {"user_id": nurse, "role": "coordinator"}
