"""Letters to the referring physician and the session record, as PDF.

- ``GET /api/v1/evaluations/{evaluation_id}/letter.pdf`` — the letter after an evaluation (a draft
  evaluation gives a letter marked "DRAFT — NOT SIGNED"; a patient gets their own once signed);
- ``GET /api/v1/patients/{patient_id}/course-letter.pdf`` — the letter after a course (409
  ``no_course`` before the first discharged session);
- ``GET /api/v1/sessions/{session_id}/record.pdf`` — the monitored-session record (physicians, nurses).

Someone else's chart answers 404, like every chart read. Each document is audited and never cached.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from ketaclinic.api.auth import allow, db_of, settings_of
from ketaclinic.clock import utcnow
from ketaclinic.http import PathId, pdf_response
from ketaclinic.services import documents
from ketaclinic.services.context import Actor

router = APIRouter(tags=["reports"])
PDF = {200: {"content": {"application/pdf": {}}, "description": "The document as PDF"}}


@router.get("/evaluations/{evaluation_id}/letter.pdf", response_class=Response, responses=PDF,
            summary="Letter to the referring physician after an evaluation (PDF; drafts are marked; a patient: their own, signed)")
def evaluation_letter(request: Request, evaluation_id: PathId,
                      actor: Annotated[Actor, Depends(allow(*documents.LETTER_ROLES))]) -> Response:
    now = utcnow()
    data = documents.evaluation_letter(db_of(request), actor, evaluation_id, now, tz=settings_of(request).timezone)
    return pdf_response(data, documents.evaluation_letter_filename(evaluation_id, now))


@router.get("/patients/{patient_id}/course-letter.pdf", response_class=Response, responses=PDF,
            summary="Letter to the referring physician after a course (PDF; a patient: their own)")
def course_letter(request: Request, patient_id: PathId,
                  actor: Annotated[Actor, Depends(allow(*documents.LETTER_ROLES))]) -> Response:
    now = utcnow()
    data = documents.course_letter(db_of(request), actor, patient_id, now, tz=settings_of(request).timezone)
    return pdf_response(data, documents.course_letter_filename(patient_id, now))


@router.get("/sessions/{session_id}/record.pdf", response_class=Response, responses=PDF,
            summary="The printable monitored-session record (PDF)")
def record(request: Request, session_id: PathId,
           actor: Annotated[Actor, Depends(allow(*documents.RECORD_ROLES))]) -> Response:
    now = utcnow()
    data = documents.session_record(db_of(request), actor, session_id, now, tz=settings_of(request).timezone)
    return pdf_response(data, documents.session_record_filename(session_id, now))
