"""The controlled-substance register pages (issue 14): stock at a glance, a session's draw and witnessed waste,
the end-of-day count with its discrepancies, the running log and the reports (PDF, CSV).

Physicians, nurses and admins see the register of their sites; coordinators and patients get the 403 page.
Every write goes through services/register.py (roles, witnesses, locks, audit)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from ketaclinic.services import register as rg
from ketaclinic.services import register_reports as reports
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ServiceError, ValidationFailed
from ketaclinic.web.deps import check_csrf, db_of, errors_of, need, redirect, render, settings_of

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
Reader = Annotated[Actor, Depends(need(*rg.READ_ROLES))]
Bedside = Annotated[Actor, Depends(need(*rg.BEDSIDE_ROLES))]
Office = Annotated[Actor, Depends(need(*rg.OFFICE_ROLES))]
Admin = Annotated[Actor, Depends(need(*rg.ADMIN_ROLES))]


def _float(value: Any) -> float | None:
    text = str(value or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValidationFailed(f"{text!r} is not a number", field="amount_mg") from None


def _witness(request: Request, actor: Actor, form: Any, roles: tuple[str, ...], what: str) -> Actor:
    username = str(form.get("witness_username") or "").strip()
    password = str(form.get("witness_password") or "")
    credentials = rg.Credentials(username=username, password=password) if username and password else None
    return rg.witness_for(db_of(request), settings_of(request), actor, credentials, roles, what)


def _sessions_to_reconcile(request: Request, actor: Actor) -> list[dict[str, Any]]:
    """Today's sessions at the actor's sites that are under way or have drugs still to account for."""
    from ketaclinic.services import sessions as session_service

    db = db_of(request)
    if actor.role not in rg.BEDSIDE_ROLES:
        return []
    return [{"id": s.id, "state": s.state, "patient_id": s.patient_id, "scheduled_at": s.scheduled_at}
            for s in session_service.sessions_under_way(db, actor, limit=150)]


@router.get("/register")
def overview(request: Request, actor: Reader) -> Response:
    return _overview(request, actor)


def _overview(request: Request, actor: Actor, values: dict | None = None, errors: dict | None = None,
              status: int = 200) -> Response:
    db = db_of(request)
    from ketaclinic.services import sites as site_service

    balances = rg.balances(db, actor).items
    locations = rg.list_locations(db, actor)
    sites = {s.id: s for s in site_service.list_sites(db, actor)}
    return render(request, "register/overview.html", {
        "balances": balances, "locations": locations, "sites": sites, "products": rg.list_products(db, actor),
        "expiring": sorted((b for b in balances if b.expiry_date <= date.today() + timedelta(days=rg.EXPIRY_WARNING_DAYS)),
                           key=lambda b: (b.expiry_date, b.lot)),
        "discrepancies": rg.open_discrepancies(db, actor),
        "sessions": _sessions_to_reconcile(request, actor), "values": values or {}, "errors": errors or {},
        "may_receive": actor.role in rg.OFFICE_ROLES, "may_add_location": actor.role in rg.ADMIN_ROLES,
        "today": datetime.now(UTC).date()}, status=status)


@router.post("/register/receipts")
async def receive(request: Request, actor: Office) -> Response:
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in ("location_id", "product_id", "lot_number", "expiry_date", "vials",
                                                          "amount_mg", "supplier", "supplier_dea_number", "invoice")}
    try:
        data = rg.ReceiptIn(location_id=int(values["location_id"] or 0), product_id=int(values["product_id"] or 0),
                            lot_number=values["lot_number"], expiry_date=values["expiry_date"] or None,
                            vials=int(values["vials"] or 0), amount_mg=_float(values["amount_mg"]),
                            supplier=values["supplier"], supplier_dea_number=values["supplier_dea_number"],
                            invoice=values["invoice"])
        entry = rg.record_receipt(db_of(request), actor, data)
    except (ValidationError, ServiceError, ValueError) as exc:
        return _overview(request, actor, values, _errors(exc, RECEIPT_FIELDS), 422)
    return redirect(request, "/register", f"Received lot {entry.lot}: {entry.amount_mg:g} mg into {entry.location}.")


@router.post("/register/locations")
async def add_location(request: Request, actor: Admin) -> Response:
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in ("site_id", "name", "kind", "holder_user_id")}
    try:
        rg.add_location(db_of(request), actor, rg.LocationIn(
            site_id=int(values["site_id"] or 0), name=values["name"], kind=values["kind"] or "safe",
            holder_user_id=int(values["holder_user_id"]) if values["holder_user_id"] else None))
    except (ValidationError, ServiceError, ValueError) as exc:
        return _overview(request, actor, values, _errors(exc), 422)
    return redirect(request, "/register", f"Location {values['name']} added.")


def _errors(exc: Exception, shown: tuple[str, ...] = ()) -> dict[str, str]:
    """Field → message; a message about a field the form does not show goes to the top of the form."""
    if isinstance(exc, ValidationError | ServiceError):
        found = errors_of(exc)
        if isinstance(exc, ServiceError) and not found:
            found = {"__all__": exc.message}
    else:
        found = {"__all__": "Check the numbers: whole vials, mg as a number."}
    out: dict[str, str] = {}
    for key, message in (found or {"__all__": str(exc)}).items():
        if key in shown or key == "__all__":
            out[key] = message
        else:
            out["__all__"] = f"{out['__all__']} {message}" if "__all__" in out else message
    return out


RECEIPT_FIELDS = ("lot_number", "expiry_date", "vials", "amount_mg", "supplier", "supplier_dea_number", "invoice")


# --- one session ------------------------------------------------------------------------------


def _session_page(request: Request, actor: Actor, session_id: int, values: dict | None = None,
                  errors: dict | None = None, status: int = 200) -> Response:
    db = db_of(request)
    state = rg.session_register(db, actor, session_id)
    balances = [b for b in rg.balances(db, actor, site_id=state.site_id).items if b.expiry_date >= date.today()]
    return render(request, "register/session.html", {
        "state": state, "balances": balances, "locations": rg.list_locations(db, actor, state.site_id),
        "drugs": sorted({d.drug for d in state.drugs}) or ["ketamine"],
        "values": values or {}, "errors": errors or {}}, status=status)


@router.get("/register/sessions/{session_id}")
def session_page(request: Request, session_id: int, actor: Bedside) -> Response:
    return _session_page(request, actor, session_id)


@router.post("/register/sessions/{session_id}")
async def session_action(request: Request, session_id: int, actor: Bedside) -> Response:
    form = await request.form()
    action = str(form.get("action") or "")
    values = {k: str(form.get(k) or "").strip() for k in ("stock", "amount_mg", "vials", "drug", "location_id")}
    db = db_of(request)
    try:
        if action == "dispense":
            lot_id, _, location_id = values["stock"].partition(":")
            entry = rg.dispense(db, actor, rg.DispenseIn(session_id=session_id, lot_id=int(lot_id or 0),
                                                         location_id=int(location_id or 0),
                                                         amount_mg=_float(values["amount_mg"]) or 0,
                                                         vials=int(values["vials"] or 1)))
            message = f"Drawn {entry.amount_mg:g} mg from lot {entry.lot} ({entry.location})."
        elif action == "administer":
            written = rg.record_administration(db, actor, rg.SessionDrugIn(session_id=session_id,
                                                                           drug=values["drug"] or "ketamine"))
            message = (f"Administration recorded from the session record: {sum(e.amount_mg for e in written):g} mg."
                       if written else "The administration already matches the session record.")
        elif action == "waste":
            witness = _witness(request, actor, form, rg.WASTE_WITNESS_ROLES, "waste")
            written = rg.waste(db, actor, rg.WasteIn(session_id=session_id, drug=values["drug"] or "ketamine",
                                                     amount_mg=_float(values["amount_mg"])), witness=witness)
            wasted = sum(e.amount_mg for e in written if e.kind == "waste")
            message = f"Wasted {wasted:g} mg, witnessed by {witness.name or witness.username}."
        elif action == "return":
            lot_id, _, _ = values["stock"].partition(":")
            entry = rg.return_stock(db, actor, rg.ReturnIn(session_id=session_id, lot_id=int(lot_id or 0),
                                                           location_id=int(values["location_id"] or 0),
                                                           amount_mg=_float(values["amount_mg"]) or 0,
                                                           reason="unused draw returned to stock"))
            message = f"Returned {entry.amount_mg:g} mg of lot {entry.lot} to {entry.location}."
        else:
            raise ValidationFailed("unknown action", field="action")
    except (ValidationError, ServiceError, ValueError) as exc:
        return _session_page(request, actor, session_id, {**values, "action": action}, _errors(exc, ("amount_mg",)), 422)
    return redirect(request, f"/register/sessions/{session_id}", message)


# --- counts -----------------------------------------------------------------------------------


def _count_page(request: Request, actor: Actor, location_id: int, values: dict | None = None,
                errors: dict | None = None, status: int = 200) -> Response:
    sheet = rg.count_sheet(db_of(request), actor, location_id)
    return render(request, "register/count.html", {
        "sheet": sheet, "values": values or {}, "errors": errors or {},
        "may_count": actor.role in rg.BEDSIDE_ROLES, "may_resolve": actor.role in rg.OFFICE_ROLES}, status=status)


@router.get("/register/locations/{location_id}/count")
def count_page(request: Request, location_id: int, actor: Reader) -> Response:
    return _count_page(request, actor, location_id)


@router.post("/register/locations/{location_id}/count")
async def count(request: Request, location_id: int, actor: Bedside) -> Response:
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if k.startswith("counted-")}
    try:
        lines = [{"lot_id": int(k.removeprefix("counted-")), "counted_mg": _float(v)} for k, v in values.items()
                 if str(v).strip()]
        if not lines:
            raise ValidationFailed("enter what you counted for each lot", field="lines")
        witness = _witness(request, actor, form, rg.COUNT_WITNESS_ROLES, "count")
        written = rg.record_count(db_of(request), actor, rg.CountIn(location_id=location_id, lines=lines),
                                  witness=witness)
    except (ValidationError, ServiceError, ValueError) as exc:
        return _count_page(request, actor, location_id, values, _errors(exc), 422)
    off = [e for e in written if e.details.get("discrepancy_mg")]
    message = (f"Count recorded: {len(off)} lot(s) differ from the book — a physician or administrator resolves it."
               if off else "Count recorded: every lot matches the book.")
    return redirect(request, f"/register/locations/{location_id}/count", message)


@router.post("/register/counts/{count_id}/resolve")
async def resolve(request: Request, count_id: int, actor: Office) -> Response:
    form = await request.form()
    location_id = int(str(form.get("location_id") or 0) or 0)
    try:
        rg.resolve_discrepancy(db_of(request), actor, count_id, rg.ResolveIn(
            reason=str(form.get("reason") or "").strip(), amount_mg=_float(form.get("amount_mg"))))
    except (ValidationError, ServiceError, ValueError) as exc:
        return _count_page(request, actor, location_id, {"reason": str(form.get("reason") or "")}, _errors(exc), 422)
    return redirect(request, f"/register/locations/{location_id}/count", "Discrepancy resolved with an adjustment.")


# --- the log and the reports -------------------------------------------------------------------


@router.get("/register/log")
def log(request: Request, actor: Reader, drug: str | None = None, cursor: str | None = None) -> Response:
    page = rg.list_entries(db_of(request), actor, drug=drug or None, limit=50, cursor=cursor or None)
    return render(request, "register/log.html", {"entries": page.items, "next_cursor": page.next_cursor,
                                                 "drug": drug or ""})


@router.get("/register/reports")
def reports_page(request: Request, actor: Reader) -> Response:
    db = db_of(request)
    return render(request, "register/reports.html", {"reports": reports.REPORTS, "locations": rg.list_locations(db, actor),
                                                     "today": date.today()})


def _moment(day: str | None, clock: str | None, request: Request) -> datetime | None:
    if not day:
        return None
    try:
        when = datetime.combine(date.fromisoformat(day), time.fromisoformat(clock) if clock else time(0, 0))
    except ValueError:
        raise ValidationFailed("give the date as YYYY-MM-DD and the time as HH:MM", field="as_of") from None
    return when.replace(tzinfo=settings_of(request).timezone).astimezone(UTC)


@router.get("/register/reports/{name}.{fmt}")
def report(request: Request, name: str, fmt: str, actor: Reader, drug: str | None = None,
           location_id: int | None = None, since: str | None = None, until: str | None = None,
           as_of_day: str | None = None, as_of_time: str | None = None, business: str = "close") -> Response:
    if name not in reports.REPORTS or fmt not in ("pdf", "csv"):
        raise ValidationFailed("no such report", field="report")
    start = _moment(since, None, request)
    end = _moment(until, None, request)
    document = reports.build(db_of(request), settings_of(request), actor, name, fmt, drug=drug or None,
                             location_id=location_id, since=start, until=end + timedelta(days=1) if end else None,
                             as_of=_moment(as_of_day, as_of_time, request),
                             business="opening" if business == "opening" else "close")
    return Response(document.content, media_type=document.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{document.filename}"'})
