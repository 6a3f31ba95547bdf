"""``/api/v1/register``: the controlled-substance register (issue 14, design.md 4.8).

Physicians, nurses and admins read it (each at their own sites); nurses and physicians dispense,
record administrations, waste (with a witness: ``witness: {username, password}`` in the body), return,
transfer and count (two people); physicians and admins record receipts, resolve discrepancies, adjust
and report losses; admins add products and locations. Coordinators and patients get 403.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from ketaclinic.api.auth import allow, db_of, settings_of
from ketaclinic.http import MAX_ID, Cursor, Limit, PathId
from ketaclinic.services import register as service
from ketaclinic.services import register_reports as reports
from ketaclinic.services.common import Page
from ketaclinic.services.context import Actor
from ketaclinic.services.types import MOMENT_WORDS, QueryMoment, bound

router = APIRouter(prefix="/register", tags=["register"])
Reader = Annotated[Actor, Depends(allow(*service.READ_ROLES))]
Bedside = Annotated[Actor, Depends(allow(*service.BEDSIDE_ROLES))]
Office = Annotated[Actor, Depends(allow(*service.OFFICE_ROLES))]
Staff = Annotated[Actor, Depends(allow("admin", "physician", "nurse"))]
Admin = Annotated[Actor, Depends(allow(*service.ADMIN_ROLES))]
SiteQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description="One of your sites (default: all of them)")]
DrugQuery = Annotated[str | None, Query(max_length=40, description="ketamine, midazolam ...")]


class WasteBody(service.WasteIn):
    witness: service.Credentials | None = None


class CountBody(service.CountIn):
    witness: service.Credentials | None = None


class CorrectionBody(service.CorrectionIn):
    witness: service.Credentials | None = None


@router.get("/balances", response_model=service.Balances,
            summary="Every lot's balance at every location of your sites (design 4.8)")
def balances(request: Request, actor: Reader, site_id: SiteQuery = None, drug: DrugQuery = None) -> service.Balances:
    return service.balances(db_of(request), actor, site_id=site_id, drug=drug)


@router.get("/entries", response_model=Page[service.EntryView], summary="The register's lines, newest first")
def entries(request: Request, actor: Reader, site_id: SiteQuery = None, drug: DrugQuery = None,
            lot_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
            kind: Annotated[Literal["receipt", "dispense", "administer", "waste", "return", "transfer", "count",
                                    "adjustment", "loss"] | None, Query()] = None,
            since: Annotated[QueryMoment | None, Query(description=f"From (inclusive): {MOMENT_WORDS}")] = None,
            until: Annotated[QueryMoment | None, Query(description=f"Until (exclusive): {MOMENT_WORDS}")] = None,
            limit: Limit = None, cursor: Cursor = None) -> Page[service.EntryView]:
    tz = settings_of(request).timezone
    return service.list_entries(db_of(request), actor, site_id=site_id, drug=drug, lot_id=lot_id, kind=kind,
                                since=bound(since, tz), until=bound(until, tz, upper=True), limit=limit, cursor=cursor)


@router.get("/products", response_model=list[service.ProductView], summary="Controlled drug products")
def products(request: Request, actor: Reader) -> list[service.ProductView]:
    return service.list_products(db_of(request), actor)


@router.post("/products", response_model=service.ProductView, status_code=201, summary="Add a product (admin)")
def add_product(request: Request, actor: Admin, body: Annotated[service.ProductIn, Body()]) -> service.ProductView:
    return service.add_product(db_of(request), actor, body)


@router.get("/locations", response_model=list[service.LocationView], summary="Storage locations of your sites")
def locations(request: Request, actor: Reader, site_id: SiteQuery = None) -> list[service.LocationView]:
    return service.list_locations(db_of(request), actor, site_id)


@router.post("/locations", response_model=service.LocationView, status_code=201,
             summary="Add a storage location: safe, cabinet or a nurse's working stock (admin)")
def add_location(request: Request, actor: Admin, body: Annotated[service.LocationIn, Body()]) -> service.LocationView:
    return service.add_location(db_of(request), actor, body)


@router.get("/lots", response_model=list[service.LotView], summary="Lots at your sites, soonest expiry first")
def lots(request: Request, actor: Reader, site_id: SiteQuery = None) -> list[service.LotView]:
    return service.list_lots(db_of(request), actor, site_id)


@router.post("/receipts", response_model=service.EntryView, status_code=201,
             summary="Record a receipt from a supplier (physician, admin)")
def receipt(request: Request, actor: Office, body: Annotated[service.ReceiptIn, Body()]) -> service.EntryView:
    return service.record_receipt(db_of(request), actor, body)


@router.post("/dispenses", response_model=service.EntryView, status_code=201,
             summary="Draw stock for one session (vials and mg)")
def dispense(request: Request, actor: Bedside, body: Annotated[service.DispenseIn, Body()]) -> service.EntryView:
    return service.dispense(db_of(request), actor, body)


@router.post("/administrations", response_model=list[service.EntryView], status_code=201,
             summary="Record what the session gave, derived from its record (after the stop)")
def administration(request: Request, actor: Bedside,
                   body: Annotated[service.SessionDrugIn, Body()]) -> list[service.EntryView]:
    return service.record_administration(db_of(request), actor, body)


@router.post("/wastes", response_model=list[service.EntryView], status_code=201,
             summary="Waste the undelivered remainder, with a witness who enters their password")
def waste(request: Request, actor: Bedside, body: Annotated[WasteBody, Body()]) -> list[service.EntryView]:
    db = db_of(request)
    witness = service.witness_for(db, settings_of(request), actor, body.witness)
    return service.waste(db, actor, service.WasteIn(**body.model_dump(exclude={"witness"})), witness=witness)


@router.post("/returns", response_model=service.EntryView, status_code=201,
             summary="Return a session's unused draw to stock (nurse), or stock to the supplier (physician, admin)")
def return_stock(request: Request, actor: Staff, body: Annotated[service.ReturnIn, Body()]) -> service.EntryView:
    return service.return_stock(db_of(request), actor, body)


@router.post("/transfers", response_model=service.EntryView, status_code=201, summary="Move stock between locations")
def transfer(request: Request, actor: Bedside, body: Annotated[service.TransferIn, Body()]) -> service.EntryView:
    return service.transfer(db_of(request), actor, body)


@router.post("/counts", response_model=list[service.EntryView], status_code=201,
             summary="A two-person count of a location (a mismatch opens a discrepancy)")
def count(request: Request, actor: Bedside, body: Annotated[CountBody, Body()]) -> list[service.EntryView]:
    db = db_of(request)
    witness = service.witness_for(db, settings_of(request), actor, body.witness, service.COUNT_WITNESS_ROLES, "count")
    return service.record_count(db, actor, service.CountIn(**body.model_dump(exclude={"witness"})), witness=witness)


@router.get("/discrepancies", response_model=list[service.DiscrepancyView], summary="Open count discrepancies")
def discrepancies(request: Request, actor: Reader, site_id: SiteQuery = None) -> list[service.DiscrepancyView]:
    return service.open_discrepancies(db_of(request), actor, site_id=site_id)


@router.post("/counts/{count_id}/resolve", response_model=service.EntryView, status_code=201,
             summary="Resolve a count's discrepancy with a reason (physician, admin)")
def resolve(request: Request, count_id: PathId, actor: Office,
            body: Annotated[service.ResolveIn, Body()]) -> service.EntryView:
    return service.resolve_discrepancy(db_of(request), actor, count_id, body)


@router.post("/adjustments", response_model=service.EntryView, status_code=201,
             summary="Adjust a balance with a reason (physician, admin)")
def adjustment(request: Request, actor: Office, body: Annotated[service.AdjustmentIn, Body()]) -> service.EntryView:
    return service.record_adjustment(db_of(request), actor, body)


@router.post("/losses", response_model=service.EntryView, status_code=201,
             summary="Report a theft or loss with DEA Form 106's fields (physician, admin)")
def loss(request: Request, actor: Office, body: Annotated[service.LossIn, Body()]) -> service.EntryView:
    return service.record_loss(db_of(request), actor, body)


@router.post("/entries/{entry_id}/correct", response_model=service.EntryView, status_code=201,
             summary="Correct an entry: a new entry naming it (the original stays)")
def correct(request: Request, entry_id: PathId, actor: Staff,
            body: Annotated[CorrectionBody, Body()]) -> service.EntryView:
    db = db_of(request)
    witness = service.witness_for(db, settings_of(request), actor, body.witness) if body.witness else None
    return service.correct_entry(db, actor, entry_id, service.CorrectionIn(**body.model_dump(exclude={"witness"})),
                                 witness=witness)


@router.get("/sessions/{session_id}", response_model=service.SessionRegister,
            summary="A session's register lines and whether each drug is reconciled")
def session_register(request: Request, session_id: PathId, actor: Bedside) -> service.SessionRegister:
    return service.session_register(db_of(request), actor, session_id)


@router.get("/locations/{location_id}/count-sheet", response_model=service.CountSheet,
            summary="The end-of-day count sheet of a location")
def count_sheet(request: Request, location_id: PathId, actor: Reader,
                day: Annotated[date | None, Query(description="The day (default: today)")] = None) -> service.CountSheet:
    return service.count_sheet(db_of(request), actor, location_id, day=day)


@router.get("/expiring", response_model=list[service.BalanceItem], summary="Lots with stock expiring within 90 days")
def expiring(request: Request, actor: Reader) -> list[service.BalanceItem]:
    return service.expiring_lots(db_of(request), actor)


@router.get("/verify", response_model=service.VerifyResult,
            summary="Replay the register: balances, witnesses and the audit trail (admin)")
def verify(request: Request, actor: Admin) -> service.VerifyResult:
    return service.verify_register(db_of(request), actor)


@router.get("/reports/{report}", summary="A register report as PDF or CSV, signed and dated",
            responses={200: {"content": {"application/pdf": {}, "text/csv": {}}}})
def report(request: Request, report: reports.ReportName, actor: Reader,
           format: Annotated[Literal["pdf", "csv"], Query()] = "pdf",
           site_id: SiteQuery = None, drug: DrugQuery = None,
           lot_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
           location_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
           since: Annotated[QueryMoment | None, Query(description=f"From: {MOMENT_WORDS}")] = None,
           until: Annotated[QueryMoment | None, Query(description=f"Until: {MOMENT_WORDS}")] = None,
           as_of: Annotated[QueryMoment | None, Query(description="Biennial inventory: the moment it is taken")] = None,
           business: Annotated[Literal["opening", "close"], Query()] = "close") -> Response:
    tz = settings_of(request).timezone
    params: dict[str, Any] = {"site_id": site_id, "drug": drug, "lot_id": lot_id, "location_id": location_id,
                              "since": bound(since, tz), "until": bound(until, tz, upper=True),
                              "as_of": bound(as_of, tz), "business": business}
    document = reports.build(db_of(request), settings_of(request), actor, report, format, **params)
    return Response(document.content, media_type=document.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{document.filename}"'})
