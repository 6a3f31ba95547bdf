"""Printable summaries from the web UI: the patient's own summary (portal and chart) and the outcome report.

- ``/me/summary.pdf`` — the signed-in patient's own summary ("Download my summary (PDF)" on the portal);
- ``/patients/{id}/summary.pdf`` — the same document from the chart (physicians, nurses; a patient
  may open it for their own id only: anyone else's answers 404, like every chart read);
- ``/outcomes/report.pdf?start=&end=`` — the clinic's outcome report for courses that ended in the
  range (empty dates: the last 12 months). A bad range goes back to the outcomes page with the reason.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ketaclinic.clock import utcnow
from ketaclinic.http import PathId, pdf_response
from ketaclinic.services import documents
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import NotFound, ValidationFailed
from ketaclinic.web.deps import check_csrf, db_of, need, redirect, settings_of

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)


def _summary(request: Request, actor: Actor, patient_id: int) -> Response:
    now = utcnow()
    data = documents.patient_summary(db_of(request), actor, patient_id, now=now, tz=settings_of(request).timezone)
    return pdf_response(data, documents.patient_summary_filename(patient_id, now))


@router.get("/me/summary.pdf")
def my_summary(request: Request, actor: Annotated[Actor, Depends(need("patient"))]) -> Response:
    if actor.patient_id is None:  # a patient account not (or no longer) linked to a chart
        raise NotFound("no chart is linked to this account")
    return _summary(request, actor, actor.patient_id)


@router.get("/patients/{patient_id}/summary.pdf")
def chart_summary(request: Request, patient_id: PathId,
                  actor: Annotated[Actor, Depends(need(*documents.SUMMARY_ROLES))]) -> Response:
    return _summary(request, actor, patient_id)


@router.get("/outcomes/report.pdf")
def outcomes_report(request: Request, actor: Annotated[Actor, Depends(need(*documents.OUTCOME_REPORT_ROLES))],
                    start: str | None = None, end: str | None = None) -> Response:
    now = utcnow()
    try:
        data = documents.outcome_report(db_of(request), actor, start=start, end=end, now=now)
    except ValidationFailed as exc:
        back = urlencode({k: v for k, v in (("start", start), ("end", end)) if v})
        return redirect(request, "/outcomes" + (f"?{back}" if back else ""), f"The report was not made: {exc.message}")
    return pdf_response(data, documents.outcome_report_filename(start, end, now.date()))
