"""Billing pages (issue 15) for the coordinator: the billing desk, a patient's billing, an invoice with its payment,
refund and void forms, the superbill and receipt PDFs and the bookkeeper's CSV; the physician's E/M level page.

Codes and amounts only: no page here shows the chart beyond the codes."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from ketaclinic.clinical.billing_codes import DESCRIPTIONS, EM_CODES, BillingInputError
from ketaclinic.clinical.billing_prices import parse_money
from ketaclinic.clock import utcnow
from ketaclinic.http import pdf_response
from ketaclinic.services import billing as service
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ServiceError
from ketaclinic.web.deps import check_csrf, db_of, errors_of, need, redirect, render, settings_of

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
Coordinator = Annotated[Actor, Depends(need(*service.BILLING_ROLES))]
METHODS = list(service.METHOD_WORDS.items())
DESK_PAGE = 50  # invoices on one page of the billing desk


@router.get("/billing")
def billing_desk(request: Request, actor: Coordinator, show: str = "open", cursor: str = "") -> Response:
    db, tz = db_of(request), settings_of(request).timezone
    try:  # a page of DESK_PAGE invoices, newest first; "Older invoices" goes on by keyset (issue 17)
        page = service.list_invoices(db, actor, open_only=show != "all", limit=DESK_PAGE, cursor=cursor or None)
    except ServiceError:
        return redirect(request, "/billing", "That page of invoices does not exist: here is the first.")
    today = utcnow().astimezone(tz).date()
    return render(request, "billing/desk.html", {
        "invoices": page.items, "show": "all" if show == "all" else "open", "next_cursor": page.next_cursor,
        "first_page": not cursor,
        "unbilled": service.unbilled_sessions(db, actor, tz=tz),
        "export_start": today.replace(day=1).isoformat(), "export_end": today.isoformat()})


@router.get("/billing/patients/{patient_id}")
def patient_billing(request: Request, patient_id: int, actor: Coordinator) -> Response:
    view = service.patient_billing(db_of(request), actor, patient_id, tz=settings_of(request).timezone)
    return render(request, "billing/patient.html", {"billing": view})


@router.post("/billing/invoices")
async def issue_invoice(request: Request, actor: Coordinator) -> Response:
    form = await request.form()
    kind = str(form.get("kind") or "")
    target = str(form.get("target_id") or "")
    patient_id = str(form.get("patient_id") or "")
    back = f"/billing/patients/{patient_id}" if patient_id.isdigit() else "/billing"
    field = {"session": "session_id", "no_show": "session_id", "course": "plan_id", "evaluation": "evaluation_id"}
    try:
        data = service.InvoiceIn.model_validate({"kind": kind, field.get(kind, "session_id"): int(target)})
        view = service.create_invoice(db_of(request), actor, data, tz=settings_of(request).timezone)
    except (ValueError, ValidationError, ServiceError) as exc:
        message = exc.message if isinstance(exc, ServiceError) else "choose something to bill"
        return redirect(request, back, f"Not invoiced: {message}")
    return redirect(request, f"/billing/invoices/{view.number}", f"Invoice {view.number} issued: {view.total}.")


def _invoice_page(request: Request, actor: Actor, number: str, errors: dict | None = None,
                  values: dict | None = None, status: int = 200) -> Response:
    view = service.get_invoice(db_of(request), actor, number)
    return render(request, "billing/invoice.html", {
        "invoice": view, "methods": METHODS, "errors": errors or {}, "values": values or {"method": "card"},
        "today": utcnow().date()}, status=status)


@router.get("/billing/invoices/{number}")
def invoice(request: Request, number: str, actor: Coordinator) -> Response:
    return _invoice_page(request, actor, number)


async def _money_form(request: Request) -> tuple[dict[str, str], int | None, dict[str, str]]:
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in ("amount", "method", "reference", "reason", "form")}
    try:
        return values, parse_money(values["amount"]), {}
    except BillingInputError as error:
        return values, None, {"amount": str(error)}


@router.post("/billing/invoices/{number}/payments")
async def record_payment(request: Request, number: str, actor: Coordinator) -> Response:
    values, cents, errors = await _money_form(request)
    if not errors:
        try:
            view = service.record_payment(db_of(request), actor, number, service.PaymentIn(
                amount_cents=cents, method=values["method"], reference=values["reference"] or None))
        except (ValidationError, ServiceError) as exc:
            errors = {("amount" if k == "amount_cents" else k): v for k, v in errors_of(exc).items()}
        else:
            return redirect(request, f"/billing/invoices/{number}",
                            f"Payment recorded: {values['amount']} ({view.balance} left to pay).")
    return _invoice_page(request, actor, number, errors, {**values, "form": "payment"}, 422)


@router.post("/billing/invoices/{number}/refunds")
async def record_refund(request: Request, number: str, actor: Coordinator) -> Response:
    values, cents, errors = await _money_form(request)
    if not errors:
        try:
            service.record_refund(db_of(request), actor, number, service.RefundIn(
                amount_cents=cents, method=values["method"], reason=values["reason"],
                reference=values["reference"] or None))
        except (ValidationError, ServiceError) as exc:
            errors = {("amount" if k == "amount_cents" else k): v for k, v in errors_of(exc).items()}
        else:
            return redirect(request, f"/billing/invoices/{number}", f"Refund recorded: {values['amount']}.")
    return _invoice_page(request, actor, number, {f"refund_{k}": v for k, v in errors.items()},
                         {**values, "form": "refund"}, 422)


@router.post("/billing/invoices/{number}/void")
async def void_invoice(request: Request, number: str, actor: Coordinator) -> Response:
    form = await request.form()
    reason = str(form.get("reason") or "").strip()
    try:
        service.void_invoice(db_of(request), actor, number, service.ReasonIn(reason=reason))
    except (ValidationError, ServiceError) as exc:
        message = exc.message if isinstance(exc, ServiceError) else "say why the invoice is voided"
        return _invoice_page(request, actor, number, {"void_reason": message}, {"reason": reason}, 422)
    return redirect(request, f"/billing/invoices/{number}", f"Invoice {number} voided.")


@router.post("/billing/payments/{payment_id}/reverse")
async def reverse_payment(request: Request, payment_id: int, actor: Coordinator) -> Response:
    form = await request.form()
    reason = str(form.get("reason") or "").strip() or "recorded in error"
    try:
        view = service.reverse_payment(db_of(request), actor, payment_id, service.ReasonIn(reason=reason))
    except (ValidationError, ServiceError) as exc:
        message = exc.message if isinstance(exc, ServiceError) else "say why"
        return redirect(request, "/billing", f"Not reversed: {message}")
    return redirect(request, f"/billing/invoices/{view.number}", f"Entry no. {payment_id} reversed.")


@router.get("/billing/invoices/{number}/superbill.pdf")
def superbill(request: Request, number: str, actor: Coordinator) -> Response:
    name, data = service.billing_document(db_of(request), actor, number, "superbill", now=utcnow(),
                                          tz=settings_of(request).timezone)
    return pdf_response(data, name)


@router.get("/billing/invoices/{number}/receipt.pdf")
def receipt(request: Request, number: str, actor: Coordinator) -> Response:
    name, data = service.billing_document(db_of(request), actor, number, "receipt", now=utcnow(),
                                          tz=settings_of(request).timezone)
    return pdf_response(data, name)


PatientActor = Annotated[Actor, Depends(need(*service.PORTAL_ROLES))]


@router.get("/me/billing")
def my_bills(request: Request, actor: PatientActor) -> Response:
    """The patient's own bills with their receipts and superbills (the portal)."""
    return render(request, "billing/portal.html", {"invoices": service.my_invoices(db_of(request), actor)})


@router.get("/me/billing/{number}/superbill.pdf")
def my_superbill(request: Request, number: str, actor: PatientActor) -> Response:
    name, data = service.billing_document(db_of(request), actor, number, "superbill", now=utcnow(),
                                          tz=settings_of(request).timezone)
    return pdf_response(data, name)


@router.get("/me/billing/{number}/receipt.pdf")
def my_receipt(request: Request, number: str, actor: PatientActor) -> Response:
    name, data = service.billing_document(db_of(request), actor, number, "receipt", now=utcnow(),
                                          tz=settings_of(request).timezone)
    return pdf_response(data, name)


@router.get("/billing/export.csv")
def export_csv(request: Request, actor: Coordinator, start: str = "", end: str = "") -> Response:
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
        data = service.bookkeeper_csv(db_of(request), actor, first, last, tz=settings_of(request).timezone)
    except ValueError:
        return redirect(request, "/billing", "Choose the first and last day of the export.")
    except ServiceError as exc:
        return redirect(request, "/billing", f"Not exported: {exc.message}")
    return Response(content=data, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="billing-{first}-to-{last}.csv"', "Cache-Control": "no-store"})


# --- the physician's E/M level ------------------------------------------------------------------------


@router.get("/evaluations/{evaluation_id}/em-code")
def em_code_form(request: Request, evaluation_id: int,
                 actor: Annotated[Actor, Depends(need(*service.EM_ROLES))]) -> Response:
    return render(request, "billing/em_code.html", {"evaluation_id": evaluation_id, "errors": {}, "values": {},
                                                    "codes": [(c, DESCRIPTIONS[c]) for c in EM_CODES]})


@router.post("/evaluations/{evaluation_id}/em-code")
async def save_em_code(request: Request, evaluation_id: int,
                       actor: Annotated[Actor, Depends(need(*service.EM_ROLES))]) -> Response:
    form = await request.form()
    values = {"em_code": str(form.get("em_code") or ""), "note": str(form.get("note") or "").strip()}
    try:
        saved = service.record_em_code(db_of(request), actor, evaluation_id, service.EmCodeIn(
            em_code=values["em_code"], note=values["note"] or None))
    except (ValidationError, ServiceError) as exc:
        return render(request, "billing/em_code.html", {
            "evaluation_id": evaluation_id, "errors": errors_of(exc), "values": values,
            "codes": [(c, DESCRIPTIONS[c]) for c in EM_CODES]}, status=422)
    return redirect(request, f"/evaluations/{evaluation_id}", f"E/M level {saved['em_code']} recorded for billing.")



# --- the admin's price list ---------------------------------------------------------------------------

MONEY_FIELDS = (("evaluation_cents", "Evaluation (any E/M level without its own price)"),
                ("infusion_first_hour_cents", "Infusion, first hour (96365)"),
                ("infusion_additional_hour_cents", "Infusion, each additional hour (96366)"),
                ("push_initial_cents", "IV push, initial (96374)"),
                ("push_additional_cents", "IV push, each additional substance (96375)"),
                ("drug_per_mg_cents", "Ketamine per mg (when priced per mg)"),
                ("vial_cents", "Ketamine per vial (when priced per vial)"),
                ("no_show_fee_cents", "No-show fee"))


def _price_values(prices) -> dict[str, str]:
    values = {name: f"{getattr(prices, name) / 100:.2f}" for name, _ in MONEY_FIELDS}
    values.update(place_of_service=prices.place_of_service, billing_npi=prices.billing_npi or "",
                  tax_id=prices.tax_id or "", ketamine_ndc=prices.ketamine_ndc, drug_pricing=prices.drug_pricing,
                  vial_mg=f"{prices.vial_mg:g}",
                  adjuncts="\n".join(f"{name} = {cents / 100:.2f}" for name, cents in prices.adjunct_cents.items()))
    return values


def _price_page(request: Request, actor: Actor, site_id: int | None, values: dict | None = None,
                errors: dict | None = None, status: int = 200) -> Response:
    from ketaclinic.clinical.billing_codes import PLACES_OF_SERVICE
    from ketaclinic.services.sites import list_sites

    db = db_of(request)
    sites = [s for s in list_sites(db, actor) if s.id in actor.site_ids]
    if not sites:
        return render(request, "billing/prices.html", {"sites": [], "view": None, "values": {}, "errors": {}})
    chosen = site_id if site_id in {s.id for s in sites} else sites[0].id
    view = service.get_price_list(db, actor, chosen)
    return render(request, "billing/prices.html", {
        "sites": sites, "view": view, "values": values or _price_values(view.prices), "errors": errors or {},
        "money_fields": MONEY_FIELDS, "places": list(PLACES_OF_SERVICE.items()),
        "pricings": [("per_mg", "Per mg given"), ("per_vial", "Per vial opened")]}, status=status)


@router.get("/admin/price-list")
def price_list(request: Request, actor: Annotated[Actor, Depends(need(*service.PRICE_WRITE_ROLES))],
               site_id: int | None = None) -> Response:
    return _price_page(request, actor, site_id)


@router.post("/admin/price-list")
async def save_price_list(request: Request, actor: Annotated[Actor, Depends(need(*service.PRICE_WRITE_ROLES))]
                          ) -> Response:
    form = await request.form()
    names = [n for n, _ in MONEY_FIELDS] + ["place_of_service", "billing_npi", "tax_id", "ketamine_ndc",
                                            "drug_pricing", "vial_mg", "adjuncts", "site_id", "version", "note"]
    values = {n: str(form.get(n) or "").strip() for n in names}
    site_id = int(values["site_id"]) if values["site_id"].isdigit() else 0
    errors: dict[str, str] = {}
    data: dict[str, object] = {k: values[k] or None for k in ("billing_npi", "tax_id")}
    data.update(place_of_service=values["place_of_service"], ketamine_ndc=values["ketamine_ndc"],
                drug_pricing=values["drug_pricing"])
    for name, _ in MONEY_FIELDS:
        try:
            data[name] = parse_money(values[name])
        except BillingInputError as error:
            errors[name] = str(error)
    try:
        data["vial_mg"] = float(values["vial_mg"])
    except ValueError:
        errors["vial_mg"] = "the vial's content in mg, e.g. 500"
    adjuncts: dict[str, int] = {}
    for number, line in enumerate(values["adjuncts"].splitlines(), start=1):
        if not line.strip():
            continue
        name, _, price = line.partition("=")
        try:
            adjuncts[name.strip()] = parse_money(price)
        except BillingInputError:
            errors["adjuncts"] = f"line {number}: write 'drug = price', e.g. 'ondansetron = 15.00'"
    data["adjunct_cents"] = adjuncts
    if not errors:
        try:
            service.save_price_list(db_of(request), actor, site_id, int(values["version"] or 0), service.PriceListIn(
                prices=data, note=values["note"] or None))
        except (ValidationError, ServiceError) as exc:
            errors = {k.removeprefix("prices."): v for k, v in errors_of(exc).items()}
            if "If-Match" in errors:
                errors = {"__all__": "Someone else saved this price list meanwhile: reload the page and save again."}
        else:
            return redirect(request, f"/admin/price-list?site_id={site_id}", "Price list saved (a new version).")
    return _price_page(request, actor, site_id, values, errors, 422)
