"""The frame of a document (header, footer, PDF metadata) from the snapshot's :class:`Issue`: the
clinic's name (clinic settings), who asked, when, and whether the data are the synthetic demo clinic
(the service decides that: a patient's document when that patient is a demo patient, a clinic
report when any patient is)."""

from __future__ import annotations

from datetime import datetime

from ketaclinic.reports.pdf import Frame
from ketaclinic.reports.snapshots import Issue


def frame_for(issue: Issue, *, title: str, generated_at: datetime | None = None, patient_id: int | None = None) -> Frame:
    """The frame of one document; ``generated_at`` defaults to the issue's moment in the clinic's zone
    (every printed time reads in the clinic's zone, the header's included)."""
    return Frame(title=title, clinic_name=issue.clinic_name,
                 generated_at=issue.now.astimezone(issue.tz) if generated_at is None else generated_at,
                 generated_by=issue.generated_by, demo=issue.demo,
                 subject=f"Patient #{patient_id}" if patient_id is not None else "")
