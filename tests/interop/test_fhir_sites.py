"""Issue 17: the FHIR export names the site: the clinic group as an Organization, each site as a Location it
manages, referenced from the Patient (managingOrganization), each Encounter (serviceProvider, location) and
Procedure (location). The demo export test (test_fhir_demo.py) runs the independent validator over these too."""

from __future__ import annotations

from fhir.resources.R4B.bundle import Bundle

from ketaclinic.interop import fhir
from ketaclinic.records.sessions import InfusionSession
from ketaclinic.records.users import User
from ketaclinic.services import sites as st
from ketaclinic.services.auth import actor_for
from ketaclinic.services.fhir import export_patient
from tests.sites_clinic import add_patients, utc_now


def _of(bundle: dict, kind: str) -> list[dict]:
    return [e for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_the_export_names_the_group_and_the_site_of_every_visit(db, clinic):
    admin = clinic.actors["admin"]
    north = st.create_site(db, admin, st.SiteIn(name="North clinic", code="NORTH", address="1 High St"))
    st.set_member(db, admin, north.id, clinic.actors["physician"].user_id, st.MemberIn(role="physician"))
    records = add_patients(db, north.id, 1, now=utc_now(), signer_id=clinic.actors["physician"].user_id, tag="Exported")
    with db.reading() as uow:  # works at both sites now: "all sites" reaches North's patients
        physician = actor_for(uow.get(User, clinic.actors["physician"].user_id), "test")
        sessions = uow.query(InfusionSession).filter_by(patient_id=records.patient_ids[0]).count()
    bundle = export_patient(db, physician, records.patient_ids[0])
    Bundle.model_validate(bundle)

    [organization] = _of(bundle, "Organization")
    [location] = _of(bundle, "Location")
    assert location["resource"]["name"] == "North clinic" and location["resource"]["address"] == {"text": "1 High St"}
    assert location["resource"]["identifier"][0]["value"] == "NORTH"
    assert location["resource"]["managingOrganization"]["reference"] == organization["fullUrl"]
    [patient] = _of(bundle, "Patient")
    assert patient["resource"]["managingOrganization"]["reference"] == organization["fullUrl"]
    encounters = _of(bundle, "Encounter")
    assert len(encounters) == sessions == 4
    for encounter in encounters:
        assert encounter["resource"]["location"] == [{"location": {"reference": location["fullUrl"],
                                                                   "display": "North clinic"}}]
        assert encounter["resource"]["serviceProvider"]["reference"] == organization["fullUrl"]
    procedures = _of(bundle, "Procedure")
    assert procedures and all(p["resource"]["location"]["reference"] == location["fullUrl"] for p in procedures)
    every_url = {e["fullUrl"] for e in bundle["entry"]}
    assert len(every_url) == len(bundle["entry"])  # each site and the group once


def test_a_chart_without_sites_exports_as_before():
    """The pure builder: no site in the snapshot, no Organization or Location (older snapshots, tests)."""
    from datetime import UTC, date, datetime

    chart = fhir.Chart(patient=fhir.PatientRow(id=1, given_name="Ana", family_name="Example", birth_date=date(1970, 1, 1),
                                               sex="female"),
                       installation="00000000-0000-0000-0000-000000000001", generated_at=datetime(2026, 1, 1, tzinfo=UTC),
                       sessions=(fhir.SessionRow(id=1, state="scheduled", scheduled_at=datetime(2026, 1, 2, tzinfo=UTC),
                                                 site_id=7),))
    bundle = fhir.bundle(chart)
    assert not _of(bundle, "Organization") and not _of(bundle, "Location")
    assert "location" not in _of(bundle, "Encounter")[0]["resource"]
