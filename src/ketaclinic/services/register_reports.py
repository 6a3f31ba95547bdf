"""Register reports (issue 14): the service gathers the lines, reports/register.py draws them (PDF, CSV).

- ``dispensing-log``: every entry per drug / lot / date range, oldest first (21 CFR 1304.22(c));
- ``count-sheet``: one location's lots, the book's balance and today's count (``location_id``);
- ``biennial-inventory``: every lot at every location as of a date and time, taken at the opening or
  the close of business (21 CFR 1304.11);
- ``loss-report``: thefts and losses with DEA Form 106's fields (21 CFR 1301.76(b));
- ``expiring-lots``: lots with stock expiring within 90 days (clinic policy).

Reading a report is audited (``register.report``), like any other read of the register.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Database
from ketaclinic.reports import register as builder
from ketaclinic.reports.register import Column, RegisterReport
from ketaclinic.reports.snapshots import Issue
from ketaclinic.services import register as rg
from ketaclinic.services.clinic_settings import current
from ketaclinic.services.common import audit, require_role, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ValidationFailed
from ketaclinic.services.patients import has_demo
from ketaclinic.settings import Settings

ReportName = Literal["dispensing-log", "count-sheet", "biennial-inventory", "loss-report", "expiring-lots"]
REPORTS: dict[str, str] = {"dispensing-log": "Controlled-substance dispensing log",
                           "count-sheet": "End-of-day count sheet",
                           "biennial-inventory": "Biennial inventory of controlled substances",
                           "loss-report": "Theft and loss report (DEA Form 106 fields)",
                           "expiring-lots": "Lots expiring within 90 days"}
MAX_LOG_LINES = 20_000


@dataclass(frozen=True)
class Document:
    content: bytes
    media_type: str
    filename: str


def _issue(db: Database, actor: Actor, settings: Settings, now: datetime) -> Issue:
    with db.reading() as uow:
        name = current(uow)[1].clinic_name
    demo = has_demo(db)
    return Issue(clinic_name=name, now=now, tz=settings.timezone, generated_by=actor.name or actor.username or "ketaclinic",
                 demo=demo)


def _local(value: datetime | None, settings: Settings) -> datetime | None:
    return None if value is None else value.astimezone(settings.timezone)


def report_data(db: Database, settings: Settings, actor: Actor, name: str, *, site_id: int | None = None,
                drug: str | None = None, lot_id: int | None = None, location_id: int | None = None,
                since: datetime | None = None, until: datetime | None = None, as_of: datetime | None = None,
                business: str = "close", now: datetime | None = None) -> RegisterReport:
    """The report's rows (every read checked by the register service's own role and site rules)."""
    require_role(actor, *rg.READ_ROLES)
    now = now or utcnow()
    issue = _issue(db, actor, settings, now)
    title = REPORTS[name]
    records = ("cfr_1304_22", "dea_practitioner_manual")
    if name == "dispensing-log":
        entries: list[rg.EntryView] = []
        cursor = None
        while True:
            page = rg.list_entries(db, actor, site_id=site_id, drug=drug, lot_id=lot_id, since=since, until=until,
                                   limit=200, cursor=cursor)
            entries += page.items
            cursor = page.next_cursor
            if cursor is None or len(entries) >= MAX_LOG_LINES:
                break
        entries.reverse()
        rows = [{"at": _local(e.recorded_at, settings), "kind": e.kind, "drug": e.drug, "product": e.product,
                 "lot": e.lot, "location": e.location, "session": e.session_id,
                 "patient": e.details.get("patient_id"), "amount_mg": e.amount_mg, "vials": e.vials,
                 "balance_mg": e.balance_after_mg, "by": e.recorded_by_name, "witness": e.witness_name,
                 "note": _note(e)} for e in entries]
        columns = [Column("at", "Date and time"), Column("kind", "Entry"), Column("drug", "Drug"),
                   Column("product", "Product"), Column("lot", "Lot"), Column("location", "Location"),
                   Column("session", "Session"), Column("patient", "Patient"), Column("amount_mg", "mg", True),
                   Column("vials", "Vials", True), Column("balance_mg", "Lot balance mg", True), Column("by", "By"),
                   Column("witness", "Witness"), Column("note", "Supplier, manner, reason")]
        scope = "Entries " + ", ".join(p for p in (
            f"of {drug}" if drug else "of every drug", f"lot id {lot_id}" if lot_id else "",
            f"from {_local(since, settings):%d %b %Y %H:%M}" if since else "",
            f"until {_local(until, settings):%d %b %Y %H:%M}" if until else "") if p) + \
            (f" (the first {MAX_LOG_LINES}; narrow the range for the rest)" if len(entries) >= MAX_LOG_LINES else "")
        return RegisterReport(issue, name, title, scope, columns, rows, records,
                              notes=("Corrections are separate lines naming the entry they correct; nothing is erased.",))
    if name == "count-sheet":
        if location_id is None:
            raise ValidationFailed("a count sheet is for one location: give location_id", field="location_id")
        sheet = rg.count_sheet(db, actor, location_id, now=now)
        rows = [{"drug": line.drug, "product": line.product, "schedule": line.schedule, "lot": line.lot,
                 "expiry": line.expiry_date, "balance_mg": line.balance_mg, "counted_mg": line.counted_mg,
                 "difference_mg": line.discrepancy_mg, "counted_by": line.counted_by, "witness": line.witness}
                for line in sheet.lines]
        columns = [Column("drug", "Drug"), Column("product", "Product"), Column("schedule", "Schedule"),
                   Column("lot", "Lot"), Column("expiry", "Expiry"), Column("balance_mg", "Book mg", True),
                   Column("counted_mg", "Counted mg", True), Column("difference_mg", "Difference mg", True),
                   Column("counted_by", "Counted by"), Column("witness", "Second person")]
        notes = [f"Open discrepancy: count {d.count.id}, lot {d.count.lot}, {d.discrepancy_mg:+.1f} mg "
                 f"(a physician or administrator resolves it with a reason)" for d in sheet.open_discrepancies]
        return RegisterReport(issue, name, title, f"{sheet.location.name} ({sheet.location.kind.replace('_', ' ')}), "
                              f"{sheet.day:%d %b %Y}", columns, rows, records, notes=notes,
                              signatures=("Counted by", "Second person"))
    if name == "biennial-inventory":
        moment = as_of or now
        items = rg.balances(db, actor, site_id=site_id, drug=drug, as_of=moment).items
        rows = [{"drug": i.drug, "product": i.product, "schedule": i.schedule, "lot": i.lot, "expiry": i.expiry_date,
                 "location": i.location, "balance_mg": i.balance_mg} for i in items]
        columns = [Column("drug", "Drug"), Column("product", "Product (finished form, container)"),
                   Column("schedule", "Schedule"), Column("lot", "Lot"), Column("expiry", "Expiry"),
                   Column("location", "Location"), Column("balance_mg", "On hand mg", True)]
        totals = {}
        for i in items:
            totals[f"{i.drug} (Schedule {i.schedule})"] = round(totals.get(f"{i.drug} (Schedule {i.schedule})", 0.0)
                                                               + i.balance_mg, 1)
        return RegisterReport(
            issue, name, title, f"Taken as of {_local(moment, settings):%d %b %Y %H:%M %Z}, at the "
            f"{'opening' if business == 'opening' else 'close'} of business", columns, rows,
            ("cfr_1304_11", "cfr_1304_22"), totals={k: f"{v:,.1f} mg" for k, v in totals.items()},
            notes=("A complete inventory at least every two years (21 CFR 1304.11). For Schedule III-V an opened "
                   "container may be an estimated count or measure; the register's figure is what its entries give, "
                   "so a physical count taken with it is recorded as a count entry.",),
            signatures=("Inventory taken by", "DEA registrant"))
    if name == "loss-report":
        entries = rg.losses(db, actor, site_id=site_id)
        rows = [{"discovered": e.details.get("discovered_at"), "recorded": _local(e.recorded_at, settings),
                 "type": str(e.details.get("loss_type", "")).replace("_", " "), "drug": e.drug, "product": e.product,
                 "lot": e.lot, "location": e.location, "amount_mg": e.amount_mg, "vials": e.vials,
                 "police": e.details.get("police_report_number") or ("notified" if e.details.get("police_notified")
                                                                      else "not notified"),
                 "dea_notified": e.details.get("dea_notified_at"), "form_106": e.details.get("form_106_number"),
                 "due": e.details.get("form_106_due"), "description": e.reason} for e in entries]
        columns = [Column("discovered", "Discovered"), Column("recorded", "Recorded"), Column("type", "Type"),
                   Column("drug", "Drug"), Column("product", "Product"), Column("lot", "Lot"),
                   Column("location", "Location"), Column("amount_mg", "mg", True), Column("vials", "Vials", True),
                   Column("police", "Police"), Column("dea_notified", "DEA notified"), Column("form_106", "Form 106 no."),
                   Column("due", "Form 106 due"), Column("description", "What happened")]
        return RegisterReport(issue, name, title, "Every theft or loss recorded at your sites", columns, rows,
                              ("cfr_1301_76",), notes=(
                                  "Theft or significant loss: notify the DEA Field Division Office in writing within one "
                                  "business day of the discovery, and file DEA Form 106 electronically within 45 days.",))
    if name == "expiring-lots":
        items = rg.expiring_lots(db, actor, now=now)
        rows = [{"expiry": i.expiry_date, "drug": i.drug, "product": i.product, "lot": i.lot, "location": i.location,
                 "balance_mg": i.balance_mg} for i in items]
        columns = [Column("expiry", "Expiry"), Column("drug", "Drug"), Column("product", "Product"), Column("lot", "Lot"),
                   Column("location", "Location"), Column("balance_mg", "On hand mg", True)]
        return RegisterReport(issue, name, title, f"Lots with stock expiring by {(now.date()):%d %b %Y} + 90 days "
                              "(90 days is clinic policy)", columns, rows, records + ("clinic_policy",),
                              notes=("Expired stock is not given; it leaves the register through a reverse distributor "
                                     "(a return to the supplier with their DEA number).",))
    raise ValidationFailed(f"unknown report {name!r}", field="report")


def _note(e: rg.EntryView) -> str:
    d = e.details
    if e.kind == "receipt":
        return f"{d.get('supplier')} (DEA {d.get('supplier_dea_number')}), invoice {d.get('invoice')}"
    if e.kind == "waste":
        return str(d.get("manner") or "")
    if e.kind == "count":
        return f"expected {d.get('expected_mg')} mg, counted {d.get('counted_mg')} mg"
    return e.reason or ""


def build(db: Database, settings: Settings, actor: Actor, name: str, fmt: str = "pdf", **params: Any) -> Document:
    """One register report as PDF or CSV; the read is audited."""
    report = report_data(db, settings, actor, name, **params)
    with unit_of_work(db) as uow:
        audit(uow, actor, "register.report", "register_report", name,
              {"format": fmt, "rows": len(report.rows), **{k: str(v) for k, v in params.items() if v is not None}})
    stamp = report.issue.now.astimezone(settings.timezone).strftime("%Y%m%d-%H%M")
    if fmt == "csv":
        return Document(builder.build_csv(report), "text/csv; charset=utf-8", f"{name}-{stamp}.csv")
    return Document(builder.build_pdf(report), "application/pdf", f"{name}-{stamp}.pdf")
