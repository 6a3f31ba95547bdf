"""Letters to the referring physician and the session record, from the web UI (PDF, opened in the browser).

- ``/evaluations/{id}/letter.pdf`` — "Letter to the referring physician" on the evaluation page;
- ``/patients/{id}/course-letter.pdf`` — "Course letter" on the chart (a patient may open their own);
- ``/sessions/{id}/record.pdf`` — "Session record (PDF)" on the session console.

The documents and their rules are :mod:`ketaclinic.services.documents` (drawn by
:mod:`ketaclinic.reports.letters` and :mod:`ketaclinic.reports.session_record`); a refusal (no course
yet, a draft for a patient, someone else's chart) is the ordinary error page with the service's reason.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ketaclinic.clock import utcnow
from ketaclinic.http import pdf_response
from ketaclinic.services import documents
from ketaclinic.services.context import Actor
from ketaclinic.web.deps import check_csrf, db_of, need, settings_of

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)


@router.get("/evaluations/{evaluation_id}/letter.pdf")
def evaluation_letter(request: Request, evaluation_id: int,
                      actor: Annotated[Actor, Depends(need(*documents.LETTER_ROLES))]) -> Response:
    now = utcnow()
    data = documents.evaluation_letter(db_of(request), actor, evaluation_id, now, tz=settings_of(request).timezone)
    return pdf_response(data, documents.evaluation_letter_filename(evaluation_id, now))


@router.get("/patients/{patient_id}/course-letter.pdf")
def course_letter(request: Request, patient_id: int,
                  actor: Annotated[Actor, Depends(need(*documents.LETTER_ROLES))]) -> Response:
    now = utcnow()
    data = documents.course_letter(db_of(request), actor, patient_id, now, tz=settings_of(request).timezone)
    return pdf_response(data, documents.course_letter_filename(patient_id, now))


@router.get("/sessions/{session_id}/record.pdf")
def record(request: Request, session_id: int,
           actor: Annotated[Actor, Depends(need(*documents.RECORD_ROLES))]) -> Response:
    now = utcnow()
    data = documents.session_record(db_of(request), actor, session_id, now, tz=settings_of(request).timezone)
    return pdf_response(data, documents.session_record_filename(session_id, now))
