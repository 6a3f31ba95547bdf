"""Consent and contact pages (issue 13), and the admin's messages pages.

- ``/me/consent``: the patient reads the current consent document, signs it (a drawn mark on the signature
  pad and the typed name), opens the PDF of what they signed, withdraws it, and says whether the clinic may
  contact them and send reminders.
- ``/patients/{id}/consent``: the same for staff, with the clinic's tablet: the patient signs while a
  physician, nurse or coordinator is signed in (the staff member is the witness).
- ``/consent/{signature_id}/signed.pdf``: the PDF of a signed consent.
- ``/admin/consent`` (document versions, a new version), ``/admin/outbox`` (what was sent, what failed,
  send again) and ``/admin/messages`` (the wording of each message).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from ketaclinic.clinical.consent import document_blocks, sources_cited
from ketaclinic.http import pdf_response
from ketaclinic.services import consent as service
from ketaclinic.services import reminders
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ServiceError
from ketaclinic.web.deps import check_csrf, db_of, errors_of, need, redirect, render, settings_of

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
STAFF = ("physician", "nurse", "coordinator")
STATE_WORDS = {"valid": "Signed (current version)", "outdated": "Signed an earlier version: sign again before the "
               "next course", "withdrawn": "Withdrawn", "none": "Not signed"}


def _consent_page(request: Request, actor: Actor, patient_id: int, *, errors: dict[str, str] | None = None,
                  values: dict[str, Any] | None = None, status: int = 200) -> Response:
    db = db_of(request)
    state = service.consent_status(db, actor, patient_id)
    contact = service.contact_preferences(db, actor, patient_id)
    patient = None
    if not actor.is_patient:
        from ketaclinic.services.patients import get_patient

        patient = get_patient(db, actor, patient_id)
    base = "/me" if actor.is_patient else f"/patients/{patient_id}"
    return render(request, "consent/page.html", {
        "state": state, "state_words": STATE_WORDS[state.state], "contact": contact, "patient": patient,
        "blocks": document_blocks(state.current.body), "sources": sources_cited(state.current.body),
        "base": base, "errors": errors or {}, "values": values or {},
        "can_withdraw": actor.role in service.WITHDRAW_ROLES,
        "tablet": not actor.is_patient, "title": "My consent" if actor.is_patient else "Consent"}, status=status)


async def _sign(request: Request, actor: Actor, patient_id: int) -> Response:
    form = await request.form()
    values = {k: str(form.get(k) or "") for k in ("typed_name", "signature_svg", "document_version", "document_sha256")}
    base = "/me" if actor.is_patient else f"/patients/{patient_id}"
    errors: dict[str, str] = {}
    if not values["signature_svg"]:
        errors["signature_svg"] = "Draw your signature in the box."
    if len(values["typed_name"].strip()) < 2:
        errors["typed_name"] = "Type your full name."
    if not errors:
        try:
            service.sign(db_of(request), actor, patient_id, service.SignIn(
                document_version=int(values["document_version"] or 0), document_sha256=values["document_sha256"],
                typed_name=values["typed_name"], signature_svg=values["signature_svg"]))
        except (ValidationError, ServiceError, ValueError) as exc:
            errors = errors_of(exc) or {"__all__": str(getattr(exc, "message", exc))}
            if isinstance(exc, ServiceError) and exc.field not in ("typed_name", "signature_svg"):
                errors = {"__all__": exc.message}
    if errors:
        return _consent_page(request, actor, patient_id, errors=errors, values={"typed_name": values["typed_name"]},
                             status=422)
    return redirect(request, f"{base}/consent", "Consent signed. You can open the signed document below.")


async def _withdraw(request: Request, actor: Actor, signature_id: int, back: str) -> Response:
    form = await request.form()
    reason = str(form.get("reason") or "").strip() or None
    service.withdraw(db_of(request), actor, signature_id, service.WithdrawIn(reason=reason))
    return redirect(request, back, "Consent withdrawn: no infusion starts until a new consent is signed.")


async def _contact(request: Request, actor: Actor, patient_id: int, back: str) -> Response:
    form = await request.form()
    data = service.ContactIn(contact_consent=form.get("contact_consent") == "yes",
                             reminders_opt_out=form.get("reminders") != "yes")
    service.set_contact_preferences(db_of(request), actor, patient_id, data)
    return redirect(request, back, "Contact preferences saved.")


# --- the patient ------------------------------------------------------------------------------------------


@router.get("/me/consent")
def my_consent(request: Request, actor: Annotated[Actor, Depends(need("patient"))]) -> Response:
    assert actor.patient_id is not None
    return _consent_page(request, actor, actor.patient_id)


@router.post("/me/consent")
async def my_sign(request: Request, actor: Annotated[Actor, Depends(need("patient"))]) -> Response:
    assert actor.patient_id is not None
    return await _sign(request, actor, actor.patient_id)


@router.post("/me/consent/{signature_id}/withdraw")
async def my_withdraw(request: Request, signature_id: int, actor: Annotated[Actor, Depends(need("patient"))]) -> Response:
    return await _withdraw(request, actor, signature_id, "/me/consent")


@router.post("/me/contact")
async def my_contact(request: Request, actor: Annotated[Actor, Depends(need("patient"))]) -> Response:
    assert actor.patient_id is not None
    return await _contact(request, actor, actor.patient_id, "/me/consent")


# --- staff, with the clinic's tablet --------------------------------------------------------------------------


@router.get("/patients/{patient_id}/consent")
def patient_consent(request: Request, patient_id: int, actor: Annotated[Actor, Depends(need(*STAFF))]) -> Response:
    return _consent_page(request, actor, patient_id)


@router.post("/patients/{patient_id}/consent")
async def tablet_sign(request: Request, patient_id: int, actor: Annotated[Actor, Depends(need(*STAFF))]) -> Response:
    return await _sign(request, actor, patient_id)


@router.post("/patients/{patient_id}/consent/{signature_id}/withdraw")
async def staff_withdraw(request: Request, patient_id: int, signature_id: int,
                         actor: Annotated[Actor, Depends(need("physician", "nurse"))]) -> Response:
    return await _withdraw(request, actor, signature_id, f"/patients/{patient_id}/consent")


@router.post("/patients/{patient_id}/contact")
async def staff_contact(request: Request, patient_id: int, actor: Annotated[Actor, Depends(need(*STAFF))]) -> Response:
    return await _contact(request, actor, patient_id, f"/patients/{patient_id}/consent")


@router.get("/consent/{signature_id}/signed.pdf")
def signed_pdf(request: Request, signature_id: int,
               actor: Annotated[Actor, Depends(need("patient", *STAFF))]) -> Response:
    data = service.signed_pdf(db_of(request), actor, signature_id, clinic_timezone=settings_of(request).clinic_timezone)
    return pdf_response(data, f"consent-{signature_id}.pdf")


# --- the admin --------------------------------------------------------------------------------------------


@router.get("/admin/consent")
def admin_consent(request: Request, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    documents = service.list_documents(db_of(request), actor)
    return render(request, "consent/admin_documents.html", {
        "documents": documents, "current": documents[0], "values": {"title": documents[0].title,
                                                                    "body": documents[0].body}})


@router.post("/admin/consent")
async def admin_publish(request: Request, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    form = await request.form()
    values = {k: str(form.get(k) or "") for k in ("title", "body", "reviewed_by", "note", "version")}
    try:
        data = service.DocumentIn(title=values["title"], body=values["body"], reviewed_by=values["reviewed_by"] or None,
                                  note=values["note"] or None)
        saved = service.publish_document(db_of(request), actor, int(values["version"] or 0), data)
    except (ValidationError, ServiceError) as exc:
        documents = service.list_documents(db_of(request), actor)
        errors = errors_of(exc) or {"__all__": getattr(exc, "message", str(exc))}
        return render(request, "consent/admin_documents.html", {
            "documents": documents, "current": documents[0], "values": values, "errors": errors}, status=422)
    return redirect(request, "/admin/consent", f"Version {saved.version} of the consent document is now in force.")


@router.get("/admin/outbox")
def admin_outbox(request: Request, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    summary = reminders.outbox_summary(db_of(request), actor, settings_of(request))
    return render(request, "consent/admin_outbox.html", {"summary": summary})


@router.post("/admin/outbox/{message_id}/retry")
def admin_retry(request: Request, message_id: int, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    reminders.retry_message(db_of(request), actor, message_id)
    return redirect(request, "/admin/outbox", "The message will be sent again at the worker's next pass.")


@router.get("/admin/messages")
def admin_messages(request: Request, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    return render(request, "consent/admin_messages.html", {
        "templates": reminders.list_templates(db_of(request), actor), "names": sorted(reminders.SAMPLE_CONTEXT), "questionnaire_names": sorted(reminders.QUESTIONNAIRE_SAMPLE_CONTEXT)})


@router.post("/admin/messages/{kind}")
async def admin_save_message(request: Request, kind: str, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    form = await request.form()
    try:
        reminders.save_template(db_of(request), actor, kind, int(str(form.get("version") or "0")), reminders.TemplateIn(
            subject=str(form.get("subject") or ""), body=str(form.get("body") or ""), note=str(form.get("note") or "") or None))
    except (ValidationError, ServiceError) as exc:
        return render(request, "consent/admin_messages.html", {
            "templates": reminders.list_templates(db_of(request), actor), "names": sorted(reminders.SAMPLE_CONTEXT), "questionnaire_names": sorted(reminders.QUESTIONNAIRE_SAMPLE_CONTEXT),
            "failed": kind, "error": getattr(exc, "message", None) or "; ".join(errors_of(exc).values())}, status=422)
    return redirect(request, "/admin/messages", f"The {reminders.KIND_WORDS.get(kind, kind).lower()} wording is saved.")
