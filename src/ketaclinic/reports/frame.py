"""The frame of a document from the records: the clinic's name (clinic settings), who asked, and
whether the data are the synthetic demo clinic (demo patients carry the demo mark in their name)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.records.patients import DEMO_MARK, Patient
from ketaclinic.reports.pdf import Frame
from ketaclinic.services.clinic_settings import current
from ketaclinic.services.context import Actor


def is_demo_patient(patient: Any) -> bool:
    return str(patient.family_name).endswith(DEMO_MARK)


def frame_for(session: Session, actor: Actor, *, title: str, now: datetime, patient: Any | None = None) -> Frame:
    """A patient's document is marked synthetic when that patient is; a clinic report when any patient is."""
    if patient is not None:
        demo = is_demo_patient(patient)
        subject = f"Patient #{patient.id}"
    else:
        demo = session.execute(select(Patient.id).where(Patient.family_name.like(f"%{DEMO_MARK}"))).first() is not None
        subject = ""
    return Frame(title=title, clinic_name=current(session)[1].clinic_name, generated_at=now,
                 generated_by=actor.username or "ketaclinic", demo=demo, subject=subject)
