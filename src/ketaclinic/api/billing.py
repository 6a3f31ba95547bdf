"""Self-pay billing (issue 15): price lists, E/M levels, invoices, payments, refunds, superbills, the CSV.

- ``GET/PUT /sites/{site_id}/price-list`` (coordinator reads, admin saves a new version with If-Match, 0 = defaults);
- ``POST /evaluations/{evaluation_id}/em-code`` (physician: the E/M level of a signed evaluation);
- ``GET/POST /invoices``, ``GET /invoices/{number}``, ``POST /invoices/{number}/void|payments|refunds``,
  ``POST /payments/{payment_id}/reverse``, ``GET /invoices/{number}/superbill.pdf|receipt.pdf``,
  ``GET /patients/{patient_id}/billing``, ``GET /billing/export.csv`` (coordinator).

Codes are computed from the session record, never sent by the client.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from ketaclinic.api.auth import allow, db_of, settings_of
from ketaclinic.clock import utcnow
from ketaclinic.http import MAX_ID, Cursor, Limit, PathId, if_match, pdf_response, set_etag
from ketaclinic.services import billing as service
from ketaclinic.services.common import Page
from ketaclinic.services.context import Actor

router = APIRouter(tags=["billing"])
Coordinator = Annotated[Actor, Depends(allow(*service.BILLING_ROLES))]
Number = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,32}$", description="Invoice number (e.g. MAIN-000012)")]
PDF = {200: {"content": {"application/pdf": {}}, "description": "The document as PDF"}}


@router.get("/sites/{site_id}/price-list", response_model=service.PriceListView,
            summary="A site's current price list (version 0: the defaults)")
def get_price_list(request: Request, response: Response, site_id: PathId,
                   actor: Annotated[Actor, Depends(allow(*service.PRICE_READ_ROLES))]) -> service.PriceListView:
    view = service.get_price_list(db_of(request), actor, site_id)
    set_etag(response, view.version)
    return view


@router.put("/sites/{site_id}/price-list", response_model=service.PriceListView,
            summary="Save a new version of a site's price list (If-Match: the version read; 0 for the defaults)")
def save_price_list(request: Request, response: Response, site_id: PathId,
                    actor: Annotated[Actor, Depends(allow(*service.PRICE_WRITE_ROLES))],
                    body: Annotated[service.PriceListIn, Body()],
                    expected: Annotated[int | None, Depends(if_match)]) -> service.PriceListView:
    view = service.save_price_list(db_of(request), actor, site_id, expected, body)
    set_etag(response, view.version)
    return view


@router.post("/evaluations/{evaluation_id}/em-code", status_code=201,
             summary="The physician's E/M level for a signed evaluation (the newest is billed)")
def record_em_code(request: Request, evaluation_id: PathId,
                   actor: Annotated[Actor, Depends(allow(*service.EM_ROLES))],
                   body: Annotated[service.EmCodeIn, Body()]) -> dict[str, Any]:
    return service.record_em_code(db_of(request), actor, evaluation_id, body)


@router.get("/invoices", response_model=Page[service.InvoiceSummary], summary="Invoices at the caller's sites")
def list_invoices(request: Request, actor: Coordinator, limit: Limit = None, cursor: Cursor = None,
                  site_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                  open_only: Annotated[bool, Query(description="only invoices with a balance due")] = False,
                  ) -> Page[service.InvoiceSummary]:
    return service.list_invoices(db_of(request), actor, limit=limit, cursor=cursor, site_id=site_id,
                                 open_only=open_only)


@router.post("/invoices", response_model=service.InvoiceView, status_code=201,
             summary="Issue an invoice for a session, a course (plan), an evaluation or a no-show")
def create_invoice(request: Request, actor: Coordinator,
                   body: Annotated[service.InvoiceIn, Body()]) -> service.InvoiceView:
    return service.create_invoice(db_of(request), actor, body, tz=settings_of(request).timezone)


@router.get("/invoices/{number}", response_model=service.InvoiceView, summary="One invoice with its payments")
def get_invoice(request: Request, number: Number, actor: Coordinator) -> service.InvoiceView:
    return service.get_invoice(db_of(request), actor, number)


@router.post("/invoices/{number}/void", response_model=service.InvoiceView, status_code=201,
             summary="Void an invoice (a new revision, with the reason; refund first)")
def void_invoice(request: Request, number: Number, actor: Coordinator,
                 body: Annotated[service.ReasonIn, Body()]) -> service.InvoiceView:
    return service.void_invoice(db_of(request), actor, number, body)


@router.post("/invoices/{number}/payments", response_model=service.InvoiceView, status_code=201,
             summary="Record a payment received (cash, card, cheque: by hand; nothing is processed)")
def record_payment(request: Request, number: Number, actor: Coordinator,
                   body: Annotated[service.PaymentIn, Body()]) -> service.InvoiceView:
    return service.record_payment(db_of(request), actor, number, body)


@router.post("/invoices/{number}/refunds", response_model=service.InvoiceView, status_code=201,
             summary="Record a refund, with its reason")
def record_refund(request: Request, number: Number, actor: Coordinator,
                  body: Annotated[service.RefundIn, Body()]) -> service.InvoiceView:
    return service.record_refund(db_of(request), actor, number, body)


@router.post("/payments/{payment_id}/reverse", response_model=service.InvoiceView, status_code=201,
             summary="Withdraw a payment or refund recorded in error (a reversal row)")
def reverse_payment(request: Request, payment_id: PathId, actor: Coordinator,
                    body: Annotated[service.ReasonIn, Body()]) -> service.InvoiceView:
    return service.reverse_payment(db_of(request), actor, payment_id, body)


@router.get("/invoices/{number}/superbill.pdf", response_class=Response, responses=PDF,
            summary="The superbill of an invoice (CPT/HCPCS, ICD-10-CM, place of service, NPIs)")
def superbill(request: Request, number: Number, actor: Coordinator) -> Response:
    name, data = service.billing_document(db_of(request), actor, number, "superbill", now=utcnow(),
                                          tz=settings_of(request).timezone)
    return pdf_response(data, name)


@router.get("/invoices/{number}/receipt.pdf", response_class=Response, responses=PDF,
            summary="The receipt of an invoice's payments")
def receipt(request: Request, number: Number, actor: Coordinator) -> Response:
    name, data = service.billing_document(db_of(request), actor, number, "receipt", now=utcnow(),
                                          tz=settings_of(request).timezone)
    return pdf_response(data, name)


@router.get("/patients/{patient_id}/billing", response_model=service.PatientBilling,
            summary="What of a patient can be billed, and their invoices")
def patient_billing(request: Request, patient_id: PathId, actor: Coordinator) -> service.PatientBilling:
    return service.patient_billing(db_of(request), actor, patient_id, tz=settings_of(request).timezone)


@router.get("/billing/export.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}, "description": "The bookkeeper's CSV"}},
            summary="Invoices and payments between two dates (clinic days) as CSV for the bookkeeper")
def export_csv(request: Request, actor: Coordinator,
               start: Annotated[date, Query(description="first day (YYYY-MM-DD)")],
               end: Annotated[date, Query(description="last day (YYYY-MM-DD)")],
               site_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> Response:
    data = service.bookkeeper_csv(db_of(request), actor, start, end, tz=settings_of(request).timezone,
                                  site_id=site_id)
    return Response(content=data, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="billing-{start.isoformat()}-to-{end.isoformat()}.csv"',
        "Cache-Control": "no-store"})
