"""``/api/v1/research/exports``: the de-identified research export as a ZIP (admin only; audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ketaclinic.api.auth import allow, db_of, settings_of
from ketaclinic.services.context import Actor
from ketaclinic.services.research_export import MEDIA_TYPE, ResearchExportIn, research_export

router = APIRouter(prefix="/research", tags=["research"])


@router.post(
    "/exports",
    summary="De-identified research export: CSV or Parquet tables, data dictionary, README and manifest in one ZIP",
    description="Sessions, doses, events, diary and outcomes of the cohort with direct identifiers and free text "
                "removed, dates shifted per patient by a secret whole number of weeks (from a key the clinic keeps: "
                "the same shift in every export), research ids new in every export, nothing from the last 14 days "
                "or still under way, and quasi-identifiers suppressed in cells of fewer than k patients (patients "
                "left in a smaller cell are removed). Dates are the clinic's days. Written to the audit log "
                "(`research.export`; a refusal as `research.export.refused`). An empty cohort is 422 "
                "`cohort_empty`; one of fewer than k patients 422 `cohort_too_small`.",
    response_class=Response,
    responses={200: {"description": "The ZIP (attachment)",
                     "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}},
)
def create_export(request: Request, body: ResearchExportIn,
                  actor: Annotated[Actor, Depends(allow("admin"))]) -> Response:
    data, manifest = research_export(db_of(request), actor, format=body.format, k=body.k, condition=body.condition,
                                     start=body.start, end=body.end, tz=settings_of(request).timezone)
    return Response(content=data, media_type=MEDIA_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{manifest["filename"]}"', "Cache-Control": "no-store",
        "X-Content-SHA256": manifest["sha256"]})
