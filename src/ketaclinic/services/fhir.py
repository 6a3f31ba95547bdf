"""Exporting a patient's record as a FHIR R4 Bundle: the service around the pure builder.

:func:`export_patient` checks who may export (the same access rule as every chart read: a
physician, or the patient their own chart; a stranger's id is 404), loads the chart into a plain
:class:`~ketaclinic.interop.fhir.Chart` in one transaction (with the clock reading, the
installation's UUID and the staff's names), lets :func:`ketaclinic.interop.fhir.bundle` build the
Bundle, and writes the audit entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.clinical.record import EventRow
from ketaclinic.clock import utcnow
from ketaclinic.interop import fhir
from ketaclinic.records.db import Database
from ketaclinic.records.diary import DiaryEntry
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.installation import installation_uuid
from ketaclinic.records.patients import Patient, PatientWeight
from ketaclinic.records.plans import Plan
from ketaclinic.records.referrals import ReferralImport
from ketaclinic.records.sessions import InfusionSession, SessionEvent
from ketaclinic.records.sites import Site
from ketaclinic.records.users import User
from ketaclinic.services.clinic_settings import current as current_settings
from ketaclinic.services.common import audit, require_role, unit_of_work
from ketaclinic.services.consent import fhir_rows as consent_fhir_rows
from ketaclinic.services.context import Actor
from ketaclinic.services.patients import load_patient
from ketaclinic.services.questionnaires import fhir_rows as questionnaire_fhir_rows
from ketaclinic.services.staff import staff_names

EXPORT_ROLES = ("physician", "patient")


def export_patient(db: Database, actor: Actor, patient_id: int, *, now: datetime | None = None,
                   clinic_timezone: str = "UTC") -> dict[str, Any]:
    """The patient's record as a FHIR ``collection`` Bundle (JSON data); audited as ``patient.fhir_export``.
    ``clinic_timezone`` is the zone the signed consents' PDFs show their times in (a site's own zone wins)."""
    require_role(actor, *EXPORT_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, patient_id)
        document = fhir.bundle(load_chart(uow, patient, now, clinic_timezone=clinic_timezone,
                                          generated_by=actor.username or "ketaclinic"))
        audit(uow, actor, "patient.fhir_export", "patient", patient.id, {"entries": len(document.get("entry", []))})
        return document


def load_chart(uow: Session, patient: Patient, now: datetime, *, clinic_timezone: str = "UTC",
               generated_by: str = "ketaclinic") -> fhir.Chart:
    """Everything the builder reads, for one patient, copied out of the database."""

    def rows(query: Any) -> list[Any]:
        return list(uow.execute(query).scalars())

    sessions = rows(select(InfusionSession).where(InfusionSession.patient_id == patient.id).order_by(InfusionSession.id))
    events: dict[int, list[EventRow]] = {}
    for event in rows(select(SessionEvent).where(SessionEvent.session_id.in_([v.id for v in sessions]))
                      .order_by(SessionEvent.id)):
        events.setdefault(event.session_id, []).append(EventRow(
            id=event.id, kind=event.kind, payload=event.payload or {}, session_id=event.session_id,
            minute=event.minute, recorded_at=event.recorded_at, recorded_by=event.recorded_by,
            amends_event_id=event.amends_event_id))
    evaluations = rows(select(Evaluation).where(Evaluation.patient_id == patient.id).order_by(Evaluation.id))
    plans = rows(select(Plan).where(Plan.patient_id == patient.id).order_by(Plan.id))
    diary = rows(select(DiaryEntry).where(DiaryEntry.patient_id == patient.id).order_by(DiaryEntry.id))
    weights = rows(select(PatientWeight).where(PatientWeight.patient_id == patient.id).order_by(PatientWeight.id))
    referrals = rows(select(ReferralImport).where(ReferralImport.patient_id == patient.id).order_by(ReferralImport.id))
    user_ids = {e.signed_by for e in evaluations} | {p.signed_by for p in plans} | {d.created_by for d in diary}
    user_ids |= {e.recorded_by for es in events.values() for e in es} | {r.received_by for r in referrals}
    patient_users = frozenset(uow.execute(select(User.id).where(User.patient_id == patient.id)).scalars())
    site_ids = {patient.site_id} | {v.site_id for v in sessions}  # issue 17: the sites the record names
    sites = {s.id: fhir.SiteRow(id=s.id, name=s.name, code=s.code, address=s.address, active=s.active)
             for s in rows(select(Site).where(Site.id.in_(site_ids)))}
    home = uow.get(Site, patient.site_id)
    zone = ZoneInfo(home.timezone if home is not None and home.timezone else clinic_timezone)
    return fhir.Chart(
        patient=fhir.PatientRow(
            id=patient.id, given_name=patient.given_name, family_name=patient.family_name,
            birth_date=patient.birth_date, sex=patient.sex, phone=patient.phone, email=patient.email,
            referring_physician=patient.referring_physician,
            referring_physician_contact=patient.referring_physician_contact, site_id=patient.site_id),
        installation=installation_uuid(uow),
        generated_at=now,
        weights=tuple(fhir.WeightRow(id=w.id, weight_kg=w.weight_kg, measured_at=w.measured_at) for w in weights),
        evaluations=tuple(fhir.EvaluationRow(
            id=e.id, status=e.status, screening_input=e.screening_input or {}, created_at=e.created_at,
            signed_at=e.signed_at, signed_by=e.signed_by, amends_id=e.amends_id, notes=e.notes) for e in evaluations),
        plans=tuple(fhir.PlanRow(
            id=p.id, status=p.status, protocol_id=p.protocol_id, weight_kg=p.weight_kg,
            concentration_mg_per_ml=p.concentration_mg_per_ml, pump_program=p.pump_program or {},
            created_at=p.created_at, series_rule=p.series_rule or {}, evaluation_id=p.evaluation_id,
            signed_at=p.signed_at, signed_by=p.signed_by, supersedes_id=p.supersedes_id) for p in plans),
        sessions=tuple(fhir.SessionRow(
            id=v.id, state=v.state, scheduled_at=v.scheduled_at, pump_program=v.pump_program,
            started_at=v.started_at, ended_at=v.ended_at, discharged_at=v.discharged_at, site_id=v.site_id)
            for v in sessions),
        events={session_id: tuple(rows_) for session_id, rows_ in events.items()},
        diary=tuple(fhir.DiaryRow(
            id=d.id, recorded_at=d.recorded_at, created_at=d.created_at, pain_nrs=d.pain_nrs, mood=d.mood,
            sleep=d.sleep, function=d.function, urinary_symptoms=d.urinary_symptoms or {},
            opioid_doses=tuple(d.opioid_doses or ()), note=d.note, amends_id=d.amends_id,
            created_by=d.created_by) for d in diary),
        referrals=tuple(fhir.ReferralRow(
            id=r.id, received_at=r.received_at, bundle=r.bundle or {}, resources=tuple(r.resources or ()),
            bundle_identifier=r.bundle_identifier, received_by=r.received_by) for r in referrals),
        staff=staff_names(uow, user_ids),
        patient_users=patient_users,
        sites=sites,
        clinic_name=current_settings(uow)[1].clinic_name,
        questionnaires=questionnaire_fhir_rows(uow, patient.id),
        consents=consent_fhir_rows(uow, patient, zone),  # issue 13: each signed consent, its PDF
    )
