"""Consent, contact preferences and the message outbox (issue 13, design.md 4.9).

- ``GET /consent-documents/current``, ``GET /consent-documents/{version}`` (anyone signed in: a patient reads
  what they sign), ``GET /consent-documents`` (staff), ``POST /consent-documents`` (admin, If-Match: a new version);
- ``GET /patients/{id}/consent`` (the state and every signature), ``POST /patients/{id}/consent`` (sign: the
  patient in the portal, or staff holding the clinic's tablet), ``POST /consent-signatures/{id}/withdraw``,
  ``GET /consent-signatures/{id}/signed.pdf`` and ``/fhir`` (a FHIR ``Consent`` with the PDF attached);
- ``GET`` / ``PUT /patients/{id}/contact-preferences`` (consent to contact, reminder opt-out);
- ``GET /outbox``, ``POST /outbox/{id}/retry``, ``GET /message-templates``, ``PUT /message-templates/{kind}``
  (admin, If-Match).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response

from ketaclinic.api.auth import allow, db_of, settings_of
from ketaclinic.clock import utcnow
from ketaclinic.http import PathId, if_match, pdf_response, set_etag
from ketaclinic.services import consent as service
from ketaclinic.services import reminders
from ketaclinic.services.context import Actor

router = APIRouter(tags=["consent"])
Expected = Annotated[int | None, Depends(if_match)]
Reader = Annotated[Actor, Depends(allow(*service.READ_ROLES))]
Staff = Annotated[Actor, Depends(allow("admin", "physician", "nurse", "coordinator"))]
Admin = Annotated[Actor, Depends(allow("admin"))]
PDF = {200: {"content": {"application/pdf": {}}, "description": "The signed document as PDF"}}


@router.get("/consent-documents/current", response_model=service.DocumentView,
            summary="The consent document in force (the version a patient signs now)")
def current_document(request: Request, actor: Reader, response: Response) -> service.DocumentView:
    view = service.current_document(db_of(request), actor)
    set_etag(response, view.version)
    return view


@router.get("/consent-documents", response_model=list[service.DocumentView],
            summary="Every version of the consent document, newest first")
def list_documents(request: Request, actor: Staff) -> list[service.DocumentView]:
    return service.list_documents(db_of(request), actor)


@router.get("/consent-documents/{version}", response_model=service.DocumentView,
            summary="One version of the consent document (old versions stay readable)")
def get_document(request: Request, version: PathId, actor: Reader) -> service.DocumentView:
    return service.get_document(db_of(request), actor, version)


@router.post("/consent-documents", response_model=service.DocumentView, status_code=201,
             summary="Save a new version of the consent document (If-Match: the current version)")
def publish_document(request: Request, actor: Admin, expected: Expected,
                     body: Annotated[service.DocumentIn, Body()]) -> service.DocumentView:
    return service.publish_document(db_of(request), actor, expected, body)


@router.get("/patients/{patient_id}/consent", response_model=service.ConsentStatus,
            summary="The patient's consent: valid, outdated (an earlier version), withdrawn or none; every signature")
def consent_status(request: Request, patient_id: PathId, actor: Reader) -> service.ConsentStatus:
    return service.consent_status(db_of(request), actor, patient_id)


@router.post("/patients/{patient_id}/consent", response_model=service.SignatureView, status_code=201,
             summary="Sign the current version: typed name, drawn mark (SVG), the version and its SHA-256")
def sign(request: Request, patient_id: PathId, actor: Annotated[Actor, Depends(allow(*service.SIGN_ROLES))],
         body: Annotated[service.SignIn, Body()]) -> service.SignatureView:
    return service.sign(db_of(request), actor, patient_id, body)


@router.post("/consent-signatures/{signature_id}/withdraw", response_model=service.SignatureView, status_code=201,
             summary="Withdraw a consent (the patient, or a clinician on the patient's word)")
def withdraw(request: Request, signature_id: PathId, actor: Annotated[Actor, Depends(allow(*service.WITHDRAW_ROLES))],
             body: Annotated[service.WithdrawIn, Body()]) -> service.SignatureView:
    return service.withdraw(db_of(request), actor, signature_id, body)


@router.get("/consent-signatures/{signature_id}/signed.pdf", response_class=Response, responses=PDF,
            summary="The signed consent as PDF (the text as signed, the mark, the version and its hash)")
def signed_pdf(request: Request, signature_id: PathId, actor: Reader) -> Response:
    now = utcnow()
    data = service.signed_pdf(db_of(request), actor, signature_id,
                              clinic_timezone=settings_of(request).clinic_timezone, now=now)
    return pdf_response(data, f"consent-{signature_id}.pdf")


@router.get("/consent-signatures/{signature_id}/fhir", summary="The signed consent as a FHIR R4 Consent resource")
def signed_fhir(request: Request, signature_id: PathId, actor: Reader) -> dict[str, Any]:
    return service.signed_fhir(db_of(request), actor, signature_id, clinic_timezone=settings_of(request).clinic_timezone)


@router.get("/patients/{patient_id}/contact-preferences", response_model=service.ContactView,
            summary="Whether the patient agreed to be contacted, and opted out of reminders")
def contact_preferences(request: Request, patient_id: PathId,
                        actor: Annotated[Actor, Depends(allow(*service.CONTACT_ROLES))]) -> service.ContactView:
    return service.contact_preferences(db_of(request), actor, patient_id)


@router.put("/patients/{patient_id}/contact-preferences", response_model=service.ContactView,
            summary="Record the patient's consent to contact and reminder opt-out (cancels what is pending when "
                    "withdrawn)")
def set_contact_preferences(request: Request, patient_id: PathId,
                            actor: Annotated[Actor, Depends(allow(*service.CONTACT_ROLES))],
                            body: Annotated[service.ContactIn, Body()]) -> service.ContactView:
    return service.set_contact_preferences(db_of(request), actor, patient_id, body)


@router.get("/outbox", response_model=reminders.OutboxSummary,
            summary="The message outbox at your sites: counts by status, failures, the latest messages")
def outbox(request: Request, actor: Admin) -> reminders.OutboxSummary:
    return reminders.outbox_summary(db_of(request), actor, settings_of(request))


@router.post("/outbox/{message_id}/retry", response_model=reminders.MessageView,
             summary="Send a failed message again")
def retry(request: Request, message_id: PathId, actor: Admin) -> reminders.MessageView:
    return reminders.retry_message(db_of(request), actor, message_id)


@router.get("/message-templates", response_model=list[reminders.TemplateView],
            summary="The wording of each kind of message (version 0: the built-in default)")
def templates(request: Request, actor: Admin) -> list[reminders.TemplateView]:
    return reminders.list_templates(db_of(request), actor)


@router.put("/message-templates/{kind}", response_model=reminders.TemplateView,
            summary="Save a new version of one kind's wording (If-Match: the version read, 0 for the default)")
def save_template(request: Request, kind: str, actor: Admin, expected: Expected,
                  body: Annotated[reminders.TemplateIn, Body()]) -> reminders.TemplateView:
    return reminders.save_template(db_of(request), actor, kind, expected, body)
