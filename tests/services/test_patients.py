"""Patients through the services: versions (If-Match), history, weights, isolation, audit."""

from datetime import date

import pytest
from sqlalchemy import select

from ketaclinic.records.audit import AuditEntry
from ketaclinic.services.errors import Conflict, Forbidden, NotFound, PreconditionRequired, ValidationFailed
from ketaclinic.services.patients import (
    PatientPatch,
    get_patient,
    list_patient_versions,
    list_patients,
    list_weights,
    record_weight,
    update_patient,
)


def test_update_needs_the_current_version(db, clinic):
    nurse = clinic.actors["nurse"]
    pid = clinic.own_patient_id
    with pytest.raises(PreconditionRequired):
        update_patient(db, nurse, pid, None, PatientPatch(phone="1"))
    updated = update_patient(db, nurse, pid, 1, PatientPatch(phone="+1 555 0101", weight_kg=70.0))
    assert updated.version == 2 and updated.phone == "+1 555 0101" and updated.weight_kg == 70.0
    with pytest.raises(Conflict) as stale:
        update_patient(db, nurse, pid, 1, PatientPatch(phone="2"))
    assert stale.value.code == "stale_version"


def test_history_keeps_every_version(db, clinic):
    physician = clinic.actors["physician"]
    pid = clinic.own_patient_id
    update_patient(db, physician, pid, 1, PatientPatch(family_name="Renamed"))
    update_patient(db, physician, pid, 2, PatientPatch(email=None))
    versions = list_patient_versions(db, physician, pid)
    assert [v.version for v in versions] == [1, 2, 3]
    assert versions[0].data["family_name"] == "Own" and versions[1].data["family_name"] == "Renamed"
    assert versions[1].data["email"] == "own@example.org" and versions[2].data["email"] is None


def test_required_fields_cannot_be_cleared(db, clinic):
    with pytest.raises(ValidationFailed):
        update_patient(db, clinic.actors["physician"], clinic.own_patient_id, 1, PatientPatch(given_name=None))


def test_weights_are_appended_and_big_changes_flagged(db, clinic):
    nurse = clinic.actors["nurse"]
    small = record_weight(db, nurse, clinic.own_patient_id, 70.0)
    big = record_weight(db, nurse, clinic.own_patient_id, 90.0)
    assert not small.flagged and big.flagged
    assert [w.weight_kg for w in list_weights(db, nurse, clinic.own_patient_id)] == [68.0, 70.0, 90.0]


def test_patient_sees_only_themself(db, clinic):
    me = clinic.actors["patient"]
    assert get_patient(db, me, clinic.own_patient_id).id == clinic.own_patient_id
    with pytest.raises(NotFound) as other:
        get_patient(db, me, clinic.other_patient_id)
    with pytest.raises(NotFound) as missing:
        get_patient(db, me, 999_999)
    assert other.value.message == missing.value.message  # no hint that the other chart exists
    assert [p.id for p in list_patients(db, me).items] == [clinic.own_patient_id]
    with pytest.raises(Forbidden):
        update_patient(db, me, clinic.own_patient_id, 1, PatientPatch(phone="1"))


def test_reads_and_writes_are_audited_with_who_and_where(db, clinic):
    nurse = clinic.actors["nurse"]
    get_patient(db, nurse, clinic.own_patient_id)
    with db.reading() as s:
        entry = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    assert (entry.action, entry.username, entry.role, entry.record_type, entry.record_id, entry.ip) == (
        "patient.read", "nurse", "nurse", "patient", str(clinic.own_patient_id), "127.0.0.1")


def test_paging_walks_every_patient_once(db, clinic):
    from ketaclinic.services.patients import PatientIn, create_patient

    coordinator = clinic.actors["coordinator"]
    for i in range(5):
        create_patient(db, coordinator, PatientIn(given_name=f"Synthetic{i}", family_name="Paged",
                                                  birth_date=date(1970, 1, 1), sex="unknown"))
    seen, cursor = [], None
    while True:
        page = list_patients(db, coordinator, limit=2, cursor=cursor)
        seen += [p.id for p in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 7 == len(set(seen))
    with pytest.raises(ValidationFailed):
        list_patients(db, coordinator, cursor="not-a-cursor")
