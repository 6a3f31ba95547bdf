"""Referrals in and records out as FHIR: import a referral Bundle, read its report, export a chart."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ketaclinic.services import referrals as referral_service
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ServiceError
from ketaclinic.services.fhir import export_patient
from ketaclinic.web.deps import check_csrf, db_of, need, redirect, render, settings_of

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
MAX_UPLOAD_BYTES = referral_service.MAX_BUNDLE_BYTES


@router.get("/referrals/new")
def new_referral(request: Request, actor: Annotated[Actor, Depends(need(*referral_service.IMPORT_ROLES))]) -> Response:
    return render(request, "referrals/new.html", {"values": {}, "errors": {}})


async def _bundle_from_form(request: Request) -> tuple[Any, dict[str, str], dict[str, str]]:
    form = await request.form()
    upload = form.get("file")
    text = (form.get("bundle") or "").strip() if isinstance(form.get("bundle"), str) else ""
    values = {"bundle": text, "confirm_new_chart": form.get("confirm_new_chart") or ""}
    if upload is not None and not isinstance(upload, str) and upload.filename:
        raw = await upload.read(MAX_UPLOAD_BYTES + 1)
        if len(raw) > MAX_UPLOAD_BYTES:
            return None, values, {"file": f"the file is larger than {MAX_UPLOAD_BYTES // 1_000_000} MB"}
        text = raw.decode("utf-8", errors="replace")
    if not text:
        return None, values, {"bundle": "Choose a FHIR Bundle file (JSON) or paste the Bundle."}
    try:
        return json.loads(text), values, {}
    except json.JSONDecodeError as exc:
        return None, values, {"bundle": f"This is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."}


@router.post("/referrals/new")
async def import_referral(request: Request,
                          actor: Annotated[Actor, Depends(need(*referral_service.IMPORT_ROLES))]) -> Response:
    document, values, errors = await _bundle_from_form(request)
    if not errors:
        try:
            view = referral_service.import_referral(db_of(request), actor, document,
                                                    confirm_new_chart=values.get("confirm_new_chart") == "yes")
        except ServiceError as exc:
            errors = {"bundle": exc.message}
            if exc.code == "duplicate_referral":
                errors["duplicate"] = "yes"
        else:
            return redirect(request, f"/referrals/{view.id}", "Referral imported: a new chart and a draft evaluation.")
    return render(request, "referrals/new.html", {"values": values, "errors": errors}, status=422)


@router.get("/patients/{patient_id}/referrals/new")
def new_attached_referral(request: Request, patient_id: int,
                          actor: Annotated[Actor, Depends(need(*referral_service.ATTACH_ROLES))]) -> Response:
    return render(request, "referrals/new.html", {"values": {}, "errors": {}, "patient_id": patient_id})


@router.post("/patients/{patient_id}/referrals/new")
async def attach_referral(request: Request, patient_id: int,
                          actor: Annotated[Actor, Depends(need(*referral_service.ATTACH_ROLES))]) -> Response:
    document, values, errors = await _bundle_from_form(request)
    if not errors:
        try:
            view = referral_service.attach_referral(db_of(request), actor, patient_id, document)
        except ServiceError as exc:
            errors = {"bundle": exc.message}
        else:
            return redirect(request, f"/referrals/{view.id}", "Referral added to the chart.")
    return render(request, "referrals/new.html", {"values": values, "errors": errors, "patient_id": patient_id},
                  status=422)


@router.get("/referrals/{import_id}")
def show_referral(request: Request, import_id: int,
                  actor: Annotated[Actor, Depends(need(*referral_service.READ_ROLES))]) -> Response:
    view = referral_service.get_referral_import(db_of(request), actor, import_id)
    return render(request, "referrals/show.html", {"referral": view, "report": view.report})


@router.get("/patients/{patient_id}/fhir.json")
def export_fhir(request: Request, patient_id: int, actor: Annotated[Actor, Depends(need("physician"))]) -> Response:
    bundle = export_patient(db_of(request), actor, patient_id, clinic_timezone=settings_of(request).clinic_timezone)
    return Response(json.dumps(bundle, ensure_ascii=False, indent=1), media_type="application/fhir+json", headers={
        "Content-Disposition": f'attachment; filename="patient-{patient_id}-fhir.json"', "Cache-Control": "no-store"})
