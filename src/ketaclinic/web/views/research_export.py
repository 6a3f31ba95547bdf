"""Admin: the de-identified research export (issue 7). The page says what is removed, shifted and
suppressed (:func:`ketaclinic.services.research_export.form_facts`: the definitions the export uses);
the form's POST downloads the ZIP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ServiceError
from ketaclinic.services.research_export import MEDIA_TYPE, ResearchExportIn, form_facts, research_export
from ketaclinic.web.deps import check_csrf, db_of, errors_of, need, render, settings_of

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
FIELDS = ("format", "k", "condition", "start", "end")
FORMATS = [("csv", "CSV (one file per table)"), ("parquet", "Parquet (typed columns)")]


def _page(request: Request, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
          status: int = 200) -> Response:
    facts = form_facts()
    conditions = [("", "All conditions")] + [(c, c.replace("_", " ")) for c in facts["conditions"]]
    return render(request, "admin/research_export.html", {
        **facts, "values": values or {"format": "csv", "k": str(facts["default_k"])}, "errors": errors or {},
        "formats": FORMATS, "conditions": conditions}, status=status)


@router.get("/admin/research-export")
def research_export_page(request: Request, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    return _page(request)


@router.post("/admin/research-export")
async def download_research_export(request: Request, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    form = await request.form()
    values = {name: str(form.get(name) or "").strip() for name in FIELDS}
    document: dict[str, Any] = {"format": values["format"] or "csv", "k": values["k"] or form_facts()["default_k"],
                                "condition": values["condition"] or None, "start": values["start"] or None,
                                "end": values["end"] or None}
    try:
        params = ResearchExportIn.model_validate(document)
        # seconds of work on a large clinic: in a worker thread, so the event loop keeps serving everyone else
        data, manifest = await run_in_threadpool(
            research_export, db_of(request), actor, format=params.format, k=params.k, condition=params.condition,
            start=params.start, end=params.end, tz=settings_of(request).timezone)
    except (ValidationError, ServiceError) as exc:
        return _page(request, values, errors_of(exc), 422)
    return Response(content=data, media_type=MEDIA_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{manifest["filename"]}"', "Cache-Control": "no-store"})
