"""Printable summaries as PDF: a patient's own treatment summary and the clinic's outcome report.

- ``GET /api/v1/patients/{patient_id}/summary.pdf`` — the plain-language summary (physicians, nurses,
  and the patient for their own chart; anyone else's answers 404 like every chart read).
- ``GET /api/v1/outcomes/report.pdf?start=YYYY-MM-DD&end=YYYY-MM-DD`` — courses that ended in the
  range (both days included). Both dates are optional: ``end`` defaults to today and ``start`` to
  12 months before it. A malformed date or a start after the end answers 422 with the JSON error
  shape naming the field.

Both are audited (``report.patient_summary``, ``report.outcomes``) and never cached.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from ketaclinic.api.auth import allow, db_of, settings_of
from ketaclinic.clock import utcnow
from ketaclinic.http import PathId, pdf_response
from ketaclinic.services import documents
from ketaclinic.services.context import Actor

router = APIRouter(tags=["reports"])
PDF = {200: {"content": {"application/pdf": {}}, "description": "The document as PDF"}}
DateText = Annotated[str | None, Query(max_length=40, description="A day, YYYY-MM-DD")]


@router.get("/patients/{patient_id}/summary.pdf", response_class=Response, responses=PDF,
            summary="The patient's treatment summary in plain language (PDF; a patient: their own only)")
def summary_pdf(request: Request, patient_id: PathId,
                actor: Annotated[Actor, Depends(allow(*documents.SUMMARY_ROLES))]) -> Response:
    now = utcnow()
    data = documents.patient_summary(db_of(request), actor, patient_id, now=now, tz=settings_of(request).timezone)
    return pdf_response(data, documents.patient_summary_filename(patient_id, now))


@router.get("/outcomes/report.pdf", response_class=Response, responses=PDF,
            summary="The clinic's outcome report for courses that ended in a date range (PDF)")
def outcomes_pdf(request: Request, actor: Annotated[Actor, Depends(allow(*documents.OUTCOME_REPORT_ROLES))],
                 start: DateText = None, end: DateText = None) -> Response:
    now = utcnow()
    data = documents.outcome_report(db_of(request), actor, start=start, end=end, now=now)
    return pdf_response(data, documents.outcome_report_filename(start, end, now.date()))
