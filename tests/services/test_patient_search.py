"""The patient search of the list and of every patient picker (issue 17): name starts (case folded, one or
two names), the patient number, the birth date; the caller's sites only; a picker shows at most its limit
and says more match; nothing typed shows nobody."""

from __future__ import annotations

from datetime import date

from ketaclinic.services import audit_log as al
from ketaclinic.services import invitations as inv
from ketaclinic.services import sites as st
from ketaclinic.services.context import Actor
from ketaclinic.services.patients import PatientIn, create_patient, list_patients


def _patient(db, given: str, family: str, born: date, site_id: int = 1) -> int:
    seed = Actor(user_id=None, username="seed", role="coordinator", ip="127.0.0.1", site_ids=(site_id,))
    return create_patient(db, seed, PatientIn(given_name=given, family_name=family, birth_date=born, sex="female")).id


def test_the_search_reads_names_numbers_and_birth_dates(db, clinic):
    coordinator = clinic.actors["coordinator"]
    smith = _patient(db, "Joanna", "Smith", date(1975, 3, 14))
    van = _patient(db, "Pieter", "van der Berg", date(1980, 11, 2))
    odd = _patient(db, "Ann", "100%_Sure", date(1990, 1, 1))

    def found(q: str) -> set[int]:
        return {p.id for p in inv.find_invitable(db, coordinator, q=q).items}

    assert smith in found("smi") and smith in found("SMITH") and smith in found("jo")
    assert found("smi jo") == {smith} and found("smith, joanna") == {smith} and found("jo smi") == {smith}
    assert found("van der") == {van} and found("der") == set()  # the start of a name, not any part of it
    assert found(f"#{smith}") == {smith} and found(str(van)) == {van}
    assert smith in found("1975-03-14") and smith in found("1975-03") and smith in found("1975")
    assert van not in found("1975") and found("1975-02-30") == set()
    assert found("100%") == {odd} and found("1_0") == set() and found("%") == set()  # no wildcards
    assert {p.id for p in list_patients(db, coordinator, q="smi jo").items} == {smith}  # the list's search too


def test_a_picker_shows_its_limit_the_callers_sites_and_nobody_untyped(db, clinic):
    admin, coordinator = clinic.actors["admin"], clinic.actors["coordinator"]
    namesakes = [_patient(db, f"Given{i:02d}", "Picker", date(1960, 1, 1 + i)) for i in range(5)]
    north = st.create_site(db, admin, st.SiteIn(name="North", code="NORTH"))
    elsewhere = _patient(db, "Far", "Picker", date(1961, 1, 1), site_id=north.id)

    page = inv.find_invitable(db, coordinator, q="picker", limit=3)
    assert len(page.items) == 3 and page.more  # three shown, and it says more match
    assert [p.name for p in page.items] == sorted(p.name for p in page.items)
    every = inv.find_invitable(db, coordinator, q="picker", limit=20)
    assert {p.id for p in every.items} == set(namesakes) and not every.more  # not the patient of another site
    assert inv.find_invitable(db, coordinator, patient_id=elsewhere).items == []
    assert inv.find_invitable(db, coordinator).items == [] and inv.find_invitable(db, coordinator, q="  ").items == []
    # the patient with a portal account (the patient user's own) is no invitation's choice; the audit log finds them
    assert inv.find_invitable(db, coordinator, patient_id=clinic.own_patient_id).items == []
    assert [p.id for p in al.find_patients(db, admin, patient_id=clinic.own_patient_id)[0]] == [clinic.own_patient_id]
    found, more = al.find_patients(db, admin, q="picker", limit=2)
    assert len(found) == 2 and more
    assert al.find_patients(db, admin) == ([], False)


def test_a_search_is_audited_and_the_count_without_an_account_reads_no_patient_list(db, clinic):
    from sqlalchemy import select

    from ketaclinic.records.audit import AuditEntry

    coordinator = clinic.actors["coordinator"]
    pid = _patient(db, "Audited", "Searchee", date(1970, 5, 5))
    inv.find_invitable(db, coordinator, q="searchee")
    inv.find_invitable(db, coordinator, patient_id=pid)  # showing the choice made is no search
    with db.reading() as uow:
        entries = uow.execute(select(AuditEntry).where(AuditEntry.action == "patient.search")).scalars().all()
    assert len(entries) == 1 and f'"ids":[{pid}]' in entries[0].detail and '"q":"searchee"' in entries[0].detail
    # the own patient has a portal account: the other and the new one have none
    assert inv.without_portal_account(db, coordinator) == (2, False)
    assert inv.without_portal_account(db, coordinator, cap=1) == (1, True)  # counted up to the cap only
