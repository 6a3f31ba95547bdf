"""The controlled-substance register (issue 14, design.md 4.8): stock, entries, reconciliation, reports.

Ketamine (Schedule III) and midazolam (Schedule IV) are tracked by lot and storage location in mg, at
each site. The service API is generic over drug products, so any controlled drug the clinic adds
flows the same way:

- :func:`record_receipt` (physician, admin): supplier, the supplier's DEA number (check digit
  validated), invoice, lot, expiry, vials and mg;
- :func:`dispense` (nurse, physician): drawn for one session from a lot at a location (vials, mg);
- :func:`record_administration` (nurse, physician): what the session actually gave, **derived** from its
  record (pump program, rate changes, stop, extra doses: :func:`ketaclinic.clinical.register.drug_given_mg`),
  shared over the lots drawn, first drawn first; derived again (a correction) when the record changed;
- :func:`waste` (nurse, physician): the undelivered remainder (drawn − administered) with a **witness**, a
  second clinician who re-entered their password (:func:`witness_for`) and is not the one wasting;
- :func:`return_stock` (to a location from a session, or to the supplier), :func:`transfer`;
- :func:`record_count` (two people) — a mismatch opens a discrepancy that :func:`resolve_discrepancy`
  (physician, admin) closes with a reason and an adjustment; :func:`record_adjustment`, :func:`record_loss`
  (theft or loss with DEA Form 106's fields; physician, admin); :func:`correct_entry` for a wrong line.

Nothing is changed or removed: every entry is a new row (records/register.py) with the running
balances, and every entry is in the audit chain (``register.<kind>``). Coordinators and patients see
nothing of the register. :func:`discharge_refusal` is the check the session's discharge makes: a
session's controlled drugs must be reconciled (dispensed = administered + wasted + returned).
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Row, case, func, literal, not_, select, type_coerce
from sqlalchemy.orm import Session, aliased

from ketaclinic.clinical import register as core
from ketaclinic.clock import utcnow
from ketaclinic.records.audit import AuditEntry
from ketaclinic.records.db import Database, UTCDateTime
from ketaclinic.records.register import (
    RegisterEntry,
    RegisterLocation,
    RegisterLot,
    RegisterLotStock,
    RegisterProduct,
)
from ketaclinic.records.sessions import InfusionSession, SessionEvent
from ketaclinic.records.sites import Site
from ketaclinic.records.users import User
from ketaclinic.services.auth import authenticate
from ketaclinic.services.common import (
    Page,
    audit,
    clamp_limit,
    cursor_int,
    encode_cursor,
    require_role,
    unit_of_work,
)
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from ketaclinic.services.patients import load_patient
from ketaclinic.services.sites import may_see_site, site_bound
from ketaclinic.services.staff import staff_names
from ketaclinic.services.types import ID_MAX, Text
from ketaclinic.settings import Settings

READ_ROLES = ("admin", "physician", "nurse")
BEDSIDE_ROLES = ("nurse", "physician")  # dispense, administer, waste, return, transfer, count
OFFICE_ROLES = ("physician", "admin")  # receipts, discrepancies, adjustments, losses
ADMIN_ROLES = ("admin",)  # products and locations
WASTE_WITNESS_ROLES = ("nurse", "physician")
COUNT_WITNESS_ROLES = ("nurse", "physician", "admin")
EXPIRY_WARNING_DAYS = 90  # clinic policy: lots expiring within 90 days are listed
OPEN_SESSION_STATES = ("scheduled", "checked_in", "running", "observing")
LOSS_TYPES = ("theft_break_in", "theft_armed_robbery", "theft_employee", "theft_customer", "lost_in_transit",
              "loss_unexplained", "other")


# --- inputs ---------------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


Mg = Annotated[float, Field(gt=0, le=100_000, allow_inf_nan=False, description="mg of the drug (to 0.1 mg)")]


def _mg(value: float) -> float:
    return round(float(value), 1)


class Credentials(_In):
    """A second person signing: their username and password, checked like a sign-in."""

    username: Text = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class ProductIn(_In):
    drug: Text = Field(min_length=2, max_length=40, description="generic name, lower case (ketamine, midazolam)")
    name: Text = Field(min_length=2, max_length=160)
    strength_mg_per_ml: float = Field(gt=0, le=1000)
    vial_volume_ml: float = Field(gt=0, le=1000)
    ndc: Text | None = Field(default=None, max_length=20, description="NDC as printed (5-4-2, 5-3-2 or 4-4-2)")
    schedule: Literal["II", "III", "IV", "V"]

    @field_validator("drug")
    @classmethod
    def _drug(cls, value: str) -> str:
        return value.strip().lower()

    @field_validator("ndc")
    @classmethod
    def _ndc(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = value.strip().split("-")
        if len(parts) != 3 or not all(p.isdigit() for p in parts) or sorted(map(len, parts)) not in ([2, 4, 4], [2, 3, 5],
                                                                                                    [2, 4, 5]):
            raise ValueError("an NDC is 10 digits in three groups: 4-4-2, 5-3-2 or 5-4-1 (as printed on the vial)")
        return value.strip()


class LocationIn(_In):
    site_id: int = Field(gt=0, le=ID_MAX)
    name: Text = Field(min_length=1, max_length=120)
    kind: Literal["safe", "cabinet", "working_stock"]
    holder_user_id: int | None = Field(default=None, gt=0, le=ID_MAX,
                                         description="the nurse whose working stock it is")


class ReceiptIn(_In):
    location_id: int = Field(gt=0, le=ID_MAX, description="where the stock goes (usually the safe)")
    product_id: int = Field(gt=0, le=ID_MAX)
    lot_number: Text = Field(min_length=1, max_length=40)
    expiry_date: date
    vials: int = Field(gt=0, le=10_000)
    amount_mg: float | None = Field(default=None, gt=0, le=1_000_000,
                                    description="mg received; absent: vials × the vial's content")
    supplier: Text = Field(min_length=2, max_length=160)
    supplier_dea_number: Text = Field(min_length=9, max_length=9)
    invoice: Text = Field(min_length=1, max_length=60)

    @field_validator("supplier_dea_number")
    @classmethod
    def _dea(cls, value: str) -> str:
        problem = core.dea_number_problem(value)
        if problem:
            raise ValueError(problem)
        return value.strip().upper()

    @field_validator("lot_number", "invoice", "supplier")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("must not be blank")
        return value


class DispenseIn(_In):
    session_id: int = Field(gt=0, le=ID_MAX)
    lot_id: int = Field(gt=0, le=ID_MAX)
    location_id: int = Field(gt=0, le=ID_MAX)
    amount_mg: Mg
    vials: int = Field(default=1, ge=1, le=100, description="vials opened or taken for this draw")


class SessionDrugIn(_In):
    session_id: int = Field(gt=0, le=ID_MAX)
    drug: Text = Field(default="ketamine", min_length=2, max_length=40)

    @field_validator("drug")
    @classmethod
    def _drug(cls, value: str) -> str:
        return value.strip().lower()


class WasteIn(SessionDrugIn):
    amount_mg: float | None = Field(default=None, gt=0, le=100_000,
                                    description="absent: the whole remainder (drawn − administered − returned)")
    manner: Text = Field(default="into the pharmaceutical waste container, witnessed", min_length=3, max_length=200)


class ReturnIn(_In):
    lot_id: int = Field(gt=0, le=ID_MAX)
    location_id: int = Field(gt=0, le=ID_MAX)
    amount_mg: Mg
    vials: int | None = Field(default=None, ge=1, le=10_000)
    session_id: int | None = Field(default=None, gt=0, le=ID_MAX, description="back to stock from this draw; "
                                                                    "absent: returned to the supplier")
    recipient: Text | None = Field(default=None, max_length=160, description="to the supplier: who takes it back")
    recipient_dea_number: Text | None = Field(default=None, max_length=9)
    reason: Text = Field(min_length=3, max_length=500)

    @field_validator("recipient_dea_number")
    @classmethod
    def _dea(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        problem = core.dea_number_problem(value)
        if problem:
            raise ValueError(problem)
        return value.strip().upper()


class TransferIn(_In):
    lot_id: int = Field(gt=0, le=ID_MAX)
    location_id: int = Field(gt=0, le=ID_MAX)
    to_location_id: int = Field(gt=0, le=ID_MAX)
    amount_mg: Mg
    vials: int | None = Field(default=None, ge=1, le=10_000)


class CountLineIn(_In):
    lot_id: int = Field(gt=0, le=ID_MAX)
    counted_mg: float = Field(ge=0, le=1_000_000)


class CountIn(_In):
    location_id: int = Field(gt=0, le=ID_MAX)
    lines: list[CountLineIn] = Field(min_length=1, max_length=200)
    note: Text | None = Field(default=None, max_length=500)


class ResolveIn(_In):
    reason: Text = Field(min_length=3, max_length=500, description="what the discrepancy was and why")
    amount_mg: float | None = Field(default=None, ge=-1_000_000, le=1_000_000,
                                    description="the adjustment; absent: the count's difference (the book follows the count)")


class AdjustmentIn(_In):
    lot_id: int = Field(gt=0, le=ID_MAX)
    location_id: int = Field(gt=0, le=ID_MAX)
    amount_mg: float = Field(ge=-1_000_000, le=1_000_000)
    reason: Text = Field(min_length=3, max_length=500)


class LossIn(_In):
    """Theft or loss, with the fields of DEA Form 106 the clinic fills in (21 CFR 1301.76(b))."""

    lot_id: int = Field(gt=0, le=ID_MAX)
    location_id: int = Field(gt=0, le=ID_MAX)
    amount_mg: Mg
    vials: int | None = Field(default=None, ge=0, le=10_000)
    loss_type: Literal["theft_break_in", "theft_armed_robbery", "theft_employee", "theft_customer", "lost_in_transit",
                       "loss_unexplained", "other"]
    discovered_at: AwareDatetime
    description: Text = Field(min_length=3, max_length=500)
    police_notified: bool = False
    police_report_number: Text | None = Field(default=None, max_length=60)
    dea_notified_at: AwareDatetime | None = Field(default=None, description="the written notice to the DEA Field "
                                                                            "Division Office (within one business day)")
    form_106_number: Text | None = Field(default=None, max_length=60)


class CorrectionIn(_In):
    amount_mg: float = Field(ge=-1_000_000, le=1_000_000, description="what the entry should have said")
    reason: Text = Field(min_length=3, max_length=500)


# --- views ----------------------------------------------------------------------------------


class ProductView(BaseModel):
    id: int
    drug: str
    name: str
    strength_mg_per_ml: float
    vial_volume_ml: float
    vial_mg: float
    ndc: str | None
    schedule: str

    @classmethod
    def of(cls, p: RegisterProduct) -> ProductView:
        return cls(id=p.id, drug=p.drug, name=p.name, strength_mg_per_ml=p.strength_mg_per_ml,
                   vial_volume_ml=p.vial_volume_ml, vial_mg=round(p.strength_mg_per_ml * p.vial_volume_ml, 1),
                   ndc=p.ndc, schedule=p.schedule)


class LocationView(BaseModel):
    id: int
    site_id: int
    name: str
    kind: str
    holder_user_id: int | None

    @classmethod
    def of(cls, loc: RegisterLocation) -> LocationView:
        return cls(id=loc.id, site_id=loc.site_id, name=loc.name, kind=loc.kind, holder_user_id=loc.holder_user_id)


class LotView(BaseModel):
    id: int
    site_id: int
    product_id: int
    product: str
    drug: str
    lot_number: str
    expiry_date: date


class EntryView(BaseModel):
    id: int
    site_id: int
    kind: str
    drug: str
    product: str
    lot_id: int
    lot: str
    location_id: int | None
    location: str | None
    to_location_id: int | None
    session_id: int | None
    amount_mg: float
    vials: int | None
    balance_after_mg: float
    location_balance_after_mg: float | None
    recorded_at: datetime
    recorded_by: int | None
    recorded_by_name: str
    witness_id: int | None
    witness_name: str | None
    corrects_id: int | None
    resolves_id: int | None
    reason: str | None
    details: dict[str, Any]


class BalanceItem(BaseModel):
    """One lot at one location (design 4.8: ``drug``, ``lot``, ``location``, ``balance_mg``)."""

    drug: str
    lot: str
    location: str
    balance_mg: float
    site_id: int
    product: str
    product_id: int
    lot_id: int
    location_id: int
    expiry_date: date
    schedule: str


class Balances(BaseModel):
    items: list[BalanceItem]


class ReconciliationView(BaseModel):
    drug: str
    dispensed_mg: float
    administered_mg: float
    wasted_mg: float
    returned_mg: float
    derived_mg: float
    outstanding_mg: float
    reconciled: bool
    problem: str | None


class SessionRegister(BaseModel):
    session_id: int
    site_id: int
    state: str
    drugs: list[ReconciliationView]
    entries: list[EntryView]


class DiscrepancyView(BaseModel):
    count: EntryView
    expected_mg: float
    counted_mg: float
    discrepancy_mg: float


class CountSheetLine(BaseModel):
    lot_id: int
    lot: str
    drug: str
    product: str
    schedule: str
    expiry_date: date
    balance_mg: float
    counted_mg: float | None
    discrepancy_mg: float | None
    counted_by: str | None
    witness: str | None


class CountSheet(BaseModel):
    site_id: int
    location: LocationView
    day: date
    generated_at: datetime
    lines: list[CountSheetLine]
    open_discrepancies: list[DiscrepancyView]


class VerifyResult(BaseModel):
    ok: bool
    entries: int
    lots: int
    first_break: dict[str, Any] | None


@dataclass(frozen=True)
class _Lot:
    lot: RegisterLot
    product: RegisterProduct


# --- helpers --------------------------------------------------------------------------------


def _refusal(error: core.RegisterError) -> Exception:
    if error.code in ("witness_required",):
        return ValidationFailed(error.message, code=error.code, field=error.field or "witness")
    return Conflict(error.message, code=error.code, field=error.field)


def _sites_of(actor: Actor) -> tuple[int, ...] | None:
    """The sites the actor reaches (None: every site, the system actor)."""
    return actor.site_ids if site_bound(actor) else None


def _check_site(actor: Actor, site_id: int, what: str = "register") -> None:
    if not may_see_site(actor, site_id):
        raise NotFound(f"{what} not found")


def _lot(uow: Session, actor: Actor, lot_id: int, *, lock: bool = False) -> _Lot:
    query = select(RegisterLot).where(RegisterLot.id == lot_id)
    if lock:
        query = query.with_for_update()
    lot = uow.execute(query).scalar_one_or_none()
    if lot is None or not may_see_site(actor, lot.site_id):
        raise NotFound("lot not found")
    product = uow.get(RegisterProduct, lot.product_id)
    assert product is not None
    return _Lot(lot, product)


def _location(uow: Session, actor: Actor, location_id: int, site_id: int | None = None,
              field: str = "location_id") -> RegisterLocation:
    location = uow.get(RegisterLocation, location_id)
    if location is None or not may_see_site(actor, location.site_id):
        raise ValidationFailed(f"there is no storage location {location_id} at your sites", field=field)
    if site_id is not None and location.site_id != site_id:
        raise ValidationFailed("the storage location is at another site than the lot", code="other_site", field=field)
    return location


def _line(row: RegisterEntry) -> core.Line:
    return core.Line(id=row.id, kind=row.kind, lot_id=row.lot_id, amount_mg=row.amount_mg, location_id=row.location_id,
                     to_location_id=row.to_location_id, session_id=row.session_id, corrects_id=row.corrects_id,
                     resolves_id=row.resolves_id, recorded_by=row.recorded_by, witness_id=row.witness_id,
                     balance_after_mg=row.balance_after_mg, location_balance_after_mg=row.location_balance_after_mg,
                     recorded_at=row.recorded_at, details=row.details or {})


def _lot_ledger(uow: Session, lot_id: int) -> core.Ledger:
    rows = uow.execute(select(RegisterEntry).where(RegisterEntry.lot_id == lot_id).order_by(RegisterEntry.id)).scalars()
    return core.ledger_of(_line(r) for r in rows)


def _write(uow: Session, actor: Actor, found: _Lot, kind: str, amount_mg: float, now: datetime, *,
           ledger: core.Ledger | None = None, location_id: int | None = None, to_location_id: int | None = None,
           session_id: int | None = None, vials: int | None = None, witness: Actor | None = None,
           corrects_id: int | None = None, resolves_id: int | None = None, reason: str | None = None,
           details: dict[str, Any] | None = None, audit_detail: dict[str, Any] | None = None) -> RegisterEntry:
    """Check one entry against the lot's book (the lot is locked by the caller) and append it, audited."""
    ledger = ledger if ledger is not None else _lot_ledger(uow, found.lot.id)
    next_id = max(ledger.lines, default=0) + 1_000_000_000  # provisional id, after every stored entry (the row gets its own on insert)
    line = core.Line(id=next_id, kind=kind, lot_id=found.lot.id, amount_mg=_mg(amount_mg), location_id=location_id,
                     to_location_id=to_location_id, session_id=session_id, corrects_id=corrects_id,
                     resolves_id=resolves_id, recorded_by=actor.user_id,
                     witness_id=witness.user_id if witness else None, details=details or {})
    try:
        ledger.apply(line)
    except core.RegisterError as error:
        raise _refusal(error) from None
    total, location = core.stored_balances(ledger, line)
    row = RegisterEntry(site_id=found.lot.site_id, kind=kind, product_id=found.product.id, lot_id=found.lot.id,
                        location_id=location_id, to_location_id=to_location_id, session_id=session_id,
                        amount_mg=_mg(amount_mg), vials=vials, balance_after_mg=total,
                        location_balance_after_mg=location, recorded_at=now, recorded_by=actor.user_id,
                        witness_id=witness.user_id if witness else None, corrects_id=corrects_id,
                        resolves_id=resolves_id, reason=reason, details=details or {})
    uow.add(row)
    uow.flush()
    # the ledger keeps the real id from now on (a caller may write several entries to one lot)
    del ledger.lines[next_id]
    ledger.lines[row.id] = core.Line(**{**line.__dict__, "id": row.id})
    if corrects_id is not None:
        ledger.corrected[corrects_id] = row.id
    _note_stock(uow, row)
    audit(uow, actor, f"register.{kind}", "register_entry", row.id, {
        "site_id": row.site_id, "drug": found.product.drug, "lot": found.lot.lot_number, "lot_id": found.lot.id,
        "location_id": location_id, "session_id": session_id, "amount_mg": row.amount_mg, "vials": vials,
        "witness": witness.username if witness else None, "corrects_id": corrects_id, "resolves_id": resolves_id,
        "balance_after_mg": total, **(audit_detail or {})})
    return row


def _note_stock(uow: Session, row: RegisterEntry) -> None:
    """The lot's balance now is the entry's running balance (the lot is locked by the caller): the row the
    register pages find the lots in stock by (records/register.py, ``RegisterLotStock``)."""
    stock = uow.get(RegisterLotStock, row.lot_id)
    if stock is None:
        uow.add(RegisterLotStock(lot_id=row.lot_id, site_id=row.site_id, balance_mg=row.balance_after_mg,
                                 last_entry_id=row.id, updated_at=utcnow()))
    else:
        stock.balance_mg, stock.last_entry_id, stock.updated_at = row.balance_after_mg, row.id, utcnow()


def add_missing_stock(uow: Session) -> int:
    """A stock row for every lot that has entries but none (entries written by Core statements, such as the
    bulk demo loader's): the newest entry's running balance, in one statement. Returns the rows added."""
    newest = (select(func.max(RegisterEntry.id)).group_by(RegisterEntry.lot_id)
              .having(~select(RegisterLotStock.lot_id).where(RegisterLotStock.lot_id == RegisterEntry.lot_id).exists()))
    query = select(RegisterEntry.lot_id, RegisterEntry.site_id, RegisterEntry.balance_after_mg, RegisterEntry.id,
                   literal(utcnow(), UTCDateTime())).where(RegisterEntry.id.in_(newest))
    count = uow.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    if count:  # (the driver's row count of an INSERT ... SELECT is not reliable on every engine)
        uow.execute(RegisterLotStock.__table__.insert().from_select(
            ["lot_id", "site_id", "balance_mg", "last_entry_id", "updated_at"], query))
    return count


def _stock_rows(uow: Session, chunk_rows: int) -> Iterator[tuple[int, float, int]]:
    """Every stored lot balance in lot-id order, read in keyset chunks (bounded memory, as the book)."""
    columns = (RegisterLotStock.lot_id, RegisterLotStock.balance_mg, RegisterLotStock.last_entry_id)
    for rows in _keyset_chunks(uow, columns, chunk_rows):
        yield from ((lot_id, balance_mg, last_entry_id) for lot_id, balance_mg, last_entry_id in rows)


def _views(uow: Session, rows: Sequence[RegisterEntry]) -> list[EntryView]:
    if not rows:
        return []
    names = staff_names(uow, [r.recorded_by for r in rows] + [r.witness_id for r in rows if r.witness_id])
    lots = {lot.id: lot for lot in uow.execute(select(RegisterLot).where(
        RegisterLot.id.in_({r.lot_id for r in rows}))).scalars()}
    products = {p.id: p for p in uow.execute(select(RegisterProduct)).scalars()}
    location_ids = {r.location_id for r in rows if r.location_id}
    locations = {loc.id: loc for loc in uow.execute(select(RegisterLocation).where(
        RegisterLocation.id.in_(location_ids))).scalars()} if location_ids else {}
    return [EntryView(
        id=r.id, site_id=r.site_id, kind=r.kind, drug=products[r.product_id].drug, product=products[r.product_id].name,
        lot_id=r.lot_id, lot=lots[r.lot_id].lot_number, location_id=r.location_id,
        location=locations[r.location_id].name if r.location_id in locations else None,
        to_location_id=r.to_location_id, session_id=r.session_id, amount_mg=r.amount_mg, vials=r.vials,
        balance_after_mg=r.balance_after_mg, location_balance_after_mg=r.location_balance_after_mg,
        recorded_at=r.recorded_at, recorded_by=r.recorded_by, recorded_by_name=names.get(r.recorded_by, "—"),
        witness_id=r.witness_id, witness_name=names.get(r.witness_id) if r.witness_id else None,
        corrects_id=r.corrects_id, resolves_id=r.resolves_id, reason=r.reason, details=r.details or {},
    ) for r in rows]


def witness_for(db: Database, settings: Settings, actor: Actor, credentials: Credentials | None,
                roles: Sequence[str] = WASTE_WITNESS_ROLES, what: str = "waste") -> Actor:
    """The second person of a waste or a count: their password checked like a sign-in (same throttle),
    a different user from ``actor``, with one of ``roles``, working at one of the actor's sites."""
    if credentials is None:
        raise ValidationFailed(f"a {what} needs a witness: a second clinician enters their username and password",
                               code="witness_required", field="witness")
    try:
        witness = authenticate(db, settings, username=credentials.username, password=credentials.password, ip=actor.ip)
    except Unauthenticated:
        raise ValidationFailed("the witness's username or password is wrong", code="witness_failed",
                               field="witness") from None
    if witness.user_id is not None and witness.user_id == actor.user_id:
        raise ValidationFailed(f"the witness of a {what} is a second person, not the one recording it",
                               code="witness_same_user", field="witness")
    if witness.role not in roles:
        raise ValidationFailed(f"a {what} is witnessed by a {' or '.join(roles)}", code="witness_role", field="witness")
    return witness


def _check_witness(actor: Actor, witness: Actor | None, site_id: int, roles: Sequence[str], what: str) -> Actor:
    """Defence in depth for callers that pass a witness they verified themselves."""
    if witness is None:
        raise ValidationFailed(f"a {what} needs a witness", code="witness_required", field="witness")
    if witness.user_id is None or witness.user_id == actor.user_id:
        raise ValidationFailed(f"the witness of a {what} is a second person, not the one recording it",
                               code="witness_same_user", field="witness")
    if witness.role not in roles:
        raise ValidationFailed(f"a {what} is witnessed by a {' or '.join(roles)}", code="witness_role", field="witness")
    if not may_see_site(witness, site_id):
        raise ValidationFailed("the witness does not work at this site", code="witness_other_site", field="witness")
    return witness


# --- stock: products, locations, lots --------------------------------------------------------


def list_products(db: Database, actor: Actor) -> list[ProductView]:
    require_role(actor, *READ_ROLES)
    with db.reading() as uow:
        return [ProductView.of(p) for p in uow.execute(select(RegisterProduct).order_by(RegisterProduct.id)).scalars()]


def add_product(db: Database, actor: Actor, data: ProductIn) -> ProductView:
    require_role(actor, *ADMIN_ROLES)
    with unit_of_work(db) as uow:
        if uow.execute(select(RegisterProduct.id).where(func.lower(RegisterProduct.name) == data.name.lower())).first():
            raise Conflict(f"a product named {data.name!r} exists", code="product_exists", field="name")
        product = RegisterProduct(**data.model_dump(), created_by=actor.user_id)
        uow.add(product)
        uow.flush()
        audit(uow, actor, "register.product", "register_product", product.id, data.model_dump())
        return ProductView.of(product)


def list_locations(db: Database, actor: Actor, site_id: int | None = None) -> list[LocationView]:
    require_role(actor, *READ_ROLES)
    with db.reading() as uow:
        query = select(RegisterLocation).order_by(RegisterLocation.site_id, RegisterLocation.id)
        sites = _sites_of(actor)
        if sites is not None:
            query = query.where(RegisterLocation.site_id.in_(sites))
        if site_id is not None:
            query = query.where(RegisterLocation.site_id == site_id)
        return [LocationView.of(loc) for loc in uow.execute(query).scalars()]


def add_location(db: Database, actor: Actor, data: LocationIn) -> LocationView:
    require_role(actor, *ADMIN_ROLES)
    with unit_of_work(db) as uow:
        if uow.get(Site, data.site_id) is None or not may_see_site(actor, data.site_id):
            raise ValidationFailed(f"there is no site {data.site_id} you work at", field="site_id")
        if data.kind == "working_stock":
            holder = uow.get(User, data.holder_user_id) if data.holder_user_id else None
            if holder is None or holder.role not in BEDSIDE_ROLES:
                raise ValidationFailed("a working stock belongs to one nurse or physician: name them",
                                       field="holder_user_id")
        elif data.holder_user_id is not None:
            raise ValidationFailed("only a working stock has a holder", field="holder_user_id")
        if uow.execute(select(RegisterLocation.id).where(RegisterLocation.site_id == data.site_id,
                                                         func.lower(RegisterLocation.name) == data.name.lower())).first():
            raise Conflict(f"the site already has a location named {data.name!r}", code="location_exists", field="name")
        location = RegisterLocation(**data.model_dump(), created_by=actor.user_id)
        uow.add(location)
        uow.flush()
        audit(uow, actor, "register.location", "register_location", location.id, data.model_dump())
        return LocationView.of(location)


def _lot_views(uow: Session, lots: Iterable[RegisterLot]) -> list[LotView]:
    products = {p.id: p for p in uow.execute(select(RegisterProduct)).scalars()}
    return [LotView(id=lot.id, site_id=lot.site_id, product_id=lot.product_id, product=products[lot.product_id].name,
                    drug=products[lot.product_id].drug, lot_number=lot.lot_number, expiry_date=lot.expiry_date)
            for lot in lots]


def list_lots(db: Database, actor: Actor, site_id: int | None = None) -> list[LotView]:
    require_role(actor, *READ_ROLES)
    with db.reading() as uow:
        query = select(RegisterLot).order_by(RegisterLot.expiry_date, RegisterLot.id)
        sites = _sites_of(actor)
        if sites is not None:
            query = query.where(RegisterLot.site_id.in_(sites))
        if site_id is not None:
            query = query.where(RegisterLot.site_id == site_id)
        return _lot_views(uow, uow.execute(query).scalars())


# --- entries ---------------------------------------------------------------------------------


def record_receipt(db: Database, actor: Actor, data: ReceiptIn, *, now: datetime | None = None) -> EntryView:
    """Controlled drugs received from a supplier (21 CFR 1304.22(c): date, quantity, the supplier's name,
    address and registration number). A new lot number makes a new lot; an existing one must keep its expiry."""
    require_role(actor, *OFFICE_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        location = _location(uow, actor, data.location_id)
        product = uow.get(RegisterProduct, data.product_id)
        if product is None:
            raise ValidationFailed(f"there is no product {data.product_id}", field="product_id")
        if data.expiry_date <= now.date():
            raise ValidationFailed(f"lot {data.lot_number} expired on {data.expiry_date}: expired stock is not received "
                                   "into the register", code="lot_expired", field="expiry_date")
        lot = uow.execute(select(RegisterLot).where(
            RegisterLot.site_id == location.site_id, RegisterLot.product_id == product.id,
            RegisterLot.lot_number == data.lot_number).with_for_update()).scalar_one_or_none()
        if lot is None:
            lot = RegisterLot(site_id=location.site_id, product_id=product.id, lot_number=data.lot_number,
                              expiry_date=data.expiry_date, created_by=actor.user_id)
            uow.add(lot)
            uow.flush()
        elif lot.expiry_date != data.expiry_date:
            raise ValidationFailed(f"lot {lot.lot_number} is recorded with the expiry {lot.expiry_date}, not "
                                   f"{data.expiry_date}: check the carton", code="lot_expiry_differs", field="expiry_date")
        vial_mg = product.strength_mg_per_ml * product.vial_volume_ml
        amount = data.amount_mg if data.amount_mg is not None else data.vials * vial_mg
        if amount > data.vials * vial_mg + 0.05:
            raise ValidationFailed(f"{data.vials} vial(s) of {product.name} hold {data.vials * vial_mg:g} mg at most",
                                   field="amount_mg")
        row = _write(uow, actor, _Lot(lot, product), "receipt", amount, now, location_id=location.id, vials=data.vials,
                     details={"supplier": data.supplier, "supplier_dea_number": data.supplier_dea_number,
                              "invoice": data.invoice, "expiry_date": data.expiry_date.isoformat()})
        return _views(uow, [row])[0]


def _open_session(uow: Session, actor: Actor, session_id: int, states: Sequence[str] = OPEN_SESSION_STATES
                  ) -> InfusionSession:
    session = uow.get(InfusionSession, session_id)
    if session is None:
        raise NotFound("session not found")
    load_patient(uow, actor, session.patient_id)  # the patient's site and access rules
    _check_site(actor, session.site_id, "session")
    if session.state not in states:
        raise Conflict(f"the session is {session.state}: nothing more is recorded for it in the register",
                       code="session_closed", field="session_id")
    return session


def dispense(db: Database, actor: Actor, data: DispenseIn, *, now: datetime | None = None) -> EntryView:
    """Draw stock for one session (vials and mg) from a lot at a location. The lot is locked for the
    check, so concurrent draws never take more than the location holds."""
    require_role(actor, *BEDSIDE_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        session = _open_session(uow, actor, data.session_id)
        found = _lot(uow, actor, data.lot_id, lock=True)
        if found.lot.site_id != session.site_id:
            raise ValidationFailed("the lot is kept at another site than the session's", code="other_site", field="lot_id")
        if found.lot.expiry_date < now.date():
            raise Conflict(f"lot {found.lot.lot_number} expired on {found.lot.expiry_date}: it is not given to patients",
                           code="lot_expired", field="lot_id")
        location = _location(uow, actor, data.location_id, found.lot.site_id)
        vial_mg = found.product.strength_mg_per_ml * found.product.vial_volume_ml
        if data.amount_mg > data.vials * vial_mg + 0.05:
            raise ValidationFailed(f"{data.vials} vial(s) of {found.product.name} hold {data.vials * vial_mg:g} mg at most",
                                   field="amount_mg")
        row = _write(uow, actor, found, "dispense", data.amount_mg, now, location_id=location.id, session_id=session.id,
                     vials=data.vials, details={"patient_id": session.patient_id,
                                                "volume_ml": round(data.amount_mg / found.product.strength_mg_per_ml, 2)})
        return _views(uow, [row])[0]


def _session_rows(uow: Session, session_id: int, drug: str | None = None) -> list[RegisterEntry]:
    query = select(RegisterEntry).where(RegisterEntry.session_id == session_id).order_by(RegisterEntry.id)
    if drug is not None:
        query = query.join(RegisterProduct, RegisterProduct.id == RegisterEntry.product_id).where(
            RegisterProduct.drug == drug)
    return list(uow.execute(query).scalars())


def _derived_mg(uow: Session, session: InfusionSession, drug: str) -> float:
    events = list(uow.execute(select(SessionEvent).where(SessionEvent.session_id == session.id)
                              .order_by(SessionEvent.id)).scalars())
    return core.drug_given_mg(drug, session.pump_program, events, session.started_at, session.ended_at)


def _lock_lots(uow: Session, actor: Actor, lot_ids: Iterable[int]) -> dict[int, _Lot]:
    return {lot_id: _lot(uow, actor, lot_id, lock=True) for lot_id in sorted(set(lot_ids))}


def _record_administration(uow: Session, actor: Actor, session: InfusionSession, drug: str,
                           now: datetime) -> list[RegisterEntry]:
    rows = _session_rows(uow, session.id, drug)
    if not any(r.kind == "dispense" for r in rows):
        raise Conflict(f"nothing of {drug} was dispensed for this session", code="nothing_dispensed", field="drug")
    derived = _derived_mg(uow, session, drug)
    lines = core.effective_lines(_line(r) for r in rows)
    administered: dict[int, RegisterEntry] = {}
    by_id = {r.id: r for r in rows}
    available: dict[int, int] = defaultdict(int)  # per lot: drawn − wasted − returned (what administration may use)
    order: list[int] = []
    for line in lines:
        if line.kind == "dispense":
            available[line.lot_id] += core.tenths(line.amount_mg)
            if line.lot_id not in order:
                order.append(line.lot_id)
        elif line.kind in ("waste", "return"):
            available[line.lot_id] -= core.tenths(line.amount_mg)
        elif line.kind == "administer":
            administered[line.lot_id] = by_id[line.id]
    try:
        shares = dict(core.allocate(derived, [(lot_id, core.mg(available[lot_id])) for lot_id in order]))
    except core.RegisterError as error:
        raise _refusal(error) from None
    written: list[RegisterEntry] = []
    lots = _lock_lots(uow, actor, order)
    for lot_id in order:
        share = shares.get(lot_id, 0.0)
        current = administered.get(lot_id)
        detail = {"derived_from": "session record", "session_given_mg": derived}
        if current is None:
            if share > 0:
                written.append(_write(uow, actor, lots[lot_id], "administer", share, now, session_id=session.id,
                                      details={**detail, "patient_id": session.patient_id}))
        elif core.tenths(current.amount_mg) != core.tenths(share):
            written.append(_write(uow, actor, lots[lot_id], "administer", share, now, session_id=session.id,
                                  corrects_id=current.id, reason="derived again from the session's record",
                                  details={**detail, "patient_id": session.patient_id}))
    return written


def record_administration(db: Database, actor: Actor, data: SessionDrugIn, *, now: datetime | None = None
                          ) -> list[EntryView]:
    """Record what the session gave of a drug, derived from its record (never typed); after the stop."""
    require_role(actor, *BEDSIDE_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        session = _open_session(uow, actor, data.session_id, ("observing", "cancelled"))
        written = _record_administration(uow, actor, session, data.drug, now)
        return _views(uow, written)


def _outstanding(uow: Session, session_id: int, drug: str) -> list[tuple[int, float]]:
    lines = core.effective_lines(_line(r) for r in _session_rows(uow, session_id, drug))
    left: dict[int, int] = defaultdict(int)
    order: list[int] = []
    for line in lines:
        sign = {"dispense": 1, "administer": -1, "waste": -1, "return": -1}.get(line.kind, 0)
        left[line.lot_id] += sign * core.tenths(line.amount_mg)
        if line.kind == "dispense" and line.lot_id not in order:
            order.append(line.lot_id)
    return [(lot_id, core.mg(left[lot_id])) for lot_id in order if left[lot_id] > 0]


def waste(db: Database, actor: Actor, data: WasteIn, *, witness: Actor | None, now: datetime | None = None
          ) -> list[EntryView]:
    """Waste the undelivered remainder of a session's drug (drawn − administered − returned), witnessed.

    The administration is derived first (after the stop), so the remainder is what the pump did not give."""
    require_role(actor, *BEDSIDE_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        session = _open_session(uow, actor, data.session_id, ("observing", "cancelled"))
        _check_witness(actor, witness, session.site_id, WASTE_WITNESS_ROLES, "waste")
        written = _record_administration(uow, actor, session, data.drug, now)
        outstanding = _outstanding(uow, session.id, data.drug)
        remainder = core.mg(sum(core.tenths(a) for _, a in outstanding))
        amount = data.amount_mg if data.amount_mg is not None else remainder
        if remainder <= 0:
            raise Conflict(f"nothing of {data.drug} is left to waste for this session", code="nothing_to_waste",
                           field="amount_mg")
        if core.tenths(amount) > core.tenths(remainder):
            raise Conflict(f"only {remainder:g} mg of {data.drug} is undelivered for this session", code="waste_exceeds_remainder",
                           field="amount_mg")
        lots = _lock_lots(uow, actor, [lot_id for lot_id, _ in outstanding])
        for lot_id, share in core.allocate(amount, outstanding):
            written.append(_write(uow, actor, lots[lot_id], "waste", share, now, session_id=session.id, witness=witness,
                                  details={"manner": data.manner, "patient_id": session.patient_id,
                                           "witness_username": witness.username if witness else None}))
        return _views(uow, written)


def return_stock(db: Database, actor: Actor, data: ReturnIn, *, now: datetime | None = None) -> EntryView:
    """Return to a storage location what a session drew and did not use (nurse, physician), or return stock
    to the supplier (physician, admin; the supplier's name and DEA number)."""
    if data.session_id is None:
        require_role(actor, *OFFICE_ROLES)
        if not data.recipient or not data.recipient_dea_number:
            raise ValidationFailed("a return to the supplier names who takes it back and their DEA number",
                                   field="recipient_dea_number")
    else:
        require_role(actor, *BEDSIDE_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        session = _open_session(uow, actor, data.session_id, ("observing", "cancelled", "running", "checked_in",
                                                              "scheduled")) if data.session_id else None
        found = _lot(uow, actor, data.lot_id, lock=True)
        location = _location(uow, actor, data.location_id, found.lot.site_id)
        row = _write(uow, actor, found, "return", data.amount_mg, now, location_id=location.id,
                     session_id=session.id if session else None, vials=data.vials, reason=data.reason,
                     details={"to": "stock" if session else "supplier", "recipient": data.recipient,
                              "recipient_dea_number": data.recipient_dea_number})
        return _views(uow, [row])[0]


def transfer(db: Database, actor: Actor, data: TransferIn, *, now: datetime | None = None) -> EntryView:
    """Move stock between two locations of the lot's site (the safe → a nurse's working stock)."""
    require_role(actor, *BEDSIDE_ROLES)
    now = now or utcnow()
    if data.location_id == data.to_location_id:
        raise ValidationFailed("a transfer goes to another location", field="to_location_id")
    with unit_of_work(db) as uow:
        found = _lot(uow, actor, data.lot_id, lock=True)
        source = _location(uow, actor, data.location_id, found.lot.site_id)
        target = _location(uow, actor, data.to_location_id, found.lot.site_id, field="to_location_id")
        row = _write(uow, actor, found, "transfer", data.amount_mg, now, location_id=source.id, to_location_id=target.id,
                     vials=data.vials, details={"to": target.name})
        return _views(uow, [row])[0]


def record_count(db: Database, actor: Actor, data: CountIn, *, witness: Actor | None, now: datetime | None = None
                 ) -> list[EntryView]:
    """A physical count of a location by two people: one entry per lot; a count that differs from the book
    opens a discrepancy (``details.discrepancy_mg``) that a physician or admin resolves."""
    require_role(actor, *BEDSIDE_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        location = _location(uow, actor, data.location_id)
        _check_witness(actor, witness, location.site_id, COUNT_WITNESS_ROLES, "count")
        if len({line.lot_id for line in data.lines}) != len(data.lines):
            raise ValidationFailed("each lot is counted once per count", field="lines")
        written = []
        for line in sorted(data.lines, key=lambda x: x.lot_id):
            found = _lot(uow, actor, line.lot_id, lock=True)
            if found.lot.site_id != location.site_id:
                raise ValidationFailed(f"lot {found.lot.lot_number} is kept at another site", code="other_site",
                                       field="lines")
            ledger = _lot_ledger(uow, found.lot.id)
            expected = ledger.location_mg(found.lot.id, location.id)
            difference = core.mg(core.tenths(line.counted_mg) - core.tenths(expected))
            written.append(_write(uow, actor, found, "count", line.counted_mg, now, ledger=ledger,
                                  location_id=location.id, witness=witness, reason=data.note,
                                  details={"expected_mg": expected, "counted_mg": _mg(line.counted_mg),
                                           "discrepancy_mg": difference,
                                           "witness_username": witness.username if witness else None}))
        return _views(uow, written)


def resolve_discrepancy(db: Database, actor: Actor, count_id: int, data: ResolveIn, *, now: datetime | None = None
                        ) -> EntryView:
    """Close a count's discrepancy with a reason: an adjustment of the book (by default to the count)."""
    require_role(actor, *OFFICE_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        count = uow.get(RegisterEntry, count_id)
        if count is None or not may_see_site(actor, count.site_id):
            raise NotFound("count not found")
        if count.kind != "count":
            raise ValidationFailed("only a count's discrepancy is resolved", code="not_a_count", field="count_id")
        difference = float((count.details or {}).get("discrepancy_mg") or 0)
        if core.tenths(difference) == 0:
            raise Conflict("this count matched the book: there is nothing to resolve", code="no_discrepancy")
        found = _lot(uow, actor, count.lot_id, lock=True)
        amount = data.amount_mg if data.amount_mg is not None else difference
        row = _write(uow, actor, found, "adjustment", amount, now, location_id=count.location_id, resolves_id=count.id,
                     reason=data.reason, details={"discrepancy_mg": difference})
        return _views(uow, [row])[0]


def record_adjustment(db: Database, actor: Actor, data: AdjustmentIn, *, now: datetime | None = None) -> EntryView:
    require_role(actor, *OFFICE_ROLES)
    now = now or utcnow()
    if core.tenths(data.amount_mg) == 0:
        raise ValidationFailed("an adjustment changes the balance", field="amount_mg")
    with unit_of_work(db) as uow:
        found = _lot(uow, actor, data.lot_id, lock=True)
        location = _location(uow, actor, data.location_id, found.lot.site_id)
        row = _write(uow, actor, found, "adjustment", data.amount_mg, now, location_id=location.id, reason=data.reason)
        return _views(uow, [row])[0]


def record_loss(db: Database, actor: Actor, data: LossIn, *, now: datetime | None = None) -> EntryView:
    """Theft or significant loss (21 CFR 1301.76(b)): the DEA Field Division Office is told in writing
    within one business day of the discovery, and DEA Form 106 is filed within 45 days; the entry keeps
    the form's fields so the loss report can be printed."""
    require_role(actor, *OFFICE_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        found = _lot(uow, actor, data.lot_id, lock=True)
        location = _location(uow, actor, data.location_id, found.lot.site_id)
        details = data.model_dump(mode="json", exclude={"lot_id", "location_id", "amount_mg", "vials"})
        details["form_106_due"] = (data.discovered_at.astimezone(UTC) + timedelta(days=45)).date().isoformat()
        row = _write(uow, actor, found, "loss", data.amount_mg, now, location_id=location.id, vials=data.vials,
                     reason=data.description, details=details)
        return _views(uow, [row])[0]


def correct_entry(db: Database, actor: Actor, entry_id: int, data: CorrectionIn, *, witness: Actor | None = None,
                  now: datetime | None = None) -> EntryView:
    """A wrong entry is corrected by a new one of the same kind naming it; the original stays in the book.
    Receipts, adjustments and losses are corrected by a physician or admin, the bedside kinds by a nurse or
    physician; a corrected waste is witnessed again; an administration is corrected by deriving it again."""
    now = now or utcnow()
    with unit_of_work(db) as uow:
        old = uow.get(RegisterEntry, entry_id)
        if old is None or not may_see_site(actor, old.site_id):
            raise NotFound("register entry not found")
        require_role(actor, *(OFFICE_ROLES if old.kind in ("receipt", "adjustment", "loss") else BEDSIDE_ROLES))
        if old.kind == "count":
            raise ValidationFailed("a count is not corrected: count again", code="correction_kind", field="entry_id")
        if old.kind == "administer":
            raise ValidationFailed("an administration is derived from the session's record: amend the record and "
                                   "record the administration again", code="correction_kind", field="entry_id")
        if old.kind == "waste":
            _check_witness(actor, witness, old.site_id, WASTE_WITNESS_ROLES, "waste")
        if data.amount_mg < 0 and old.kind != "adjustment":
            raise ValidationFailed("only an adjustment is negative", field="amount_mg")
        found = _lot(uow, actor, old.lot_id, lock=True)
        row = _write(uow, actor, found, old.kind, data.amount_mg, now, location_id=old.location_id,
                     to_location_id=old.to_location_id, session_id=old.session_id, vials=old.vials,
                     witness=witness if old.kind == "waste" else None, corrects_id=old.id, reason=data.reason,
                     details={**(old.details or {}), "corrected_from_mg": old.amount_mg})
        return _views(uow, [row])[0]


# --- reading ---------------------------------------------------------------------------------


def _location_sums(uow: Session, sites: tuple[int, ...] | None, *, until: datetime | None = None,
                   location_id: int | None = None, live_only: bool = False) -> dict[tuple[int, int], float]:
    """Per (lot, location), the balance from the effective entries: one grouped query (no replay).

    ``live_only`` (today's balances, where a lot at zero is not shown): only the lots in stock, by their
    stock rows (``RegisterLotStock``: the newest entry's running balance; every location's share of an empty
    lot is zero, as balances are never negative). The sum then reads the entries of the few lots in stock by
    ``ix_register_entries_lot`` instead of the whole ledger: a group of clinics writes a dispense, an
    administration and a waste for every session (2.5 million lines and 76,000 lots at 100,000 patients,
    issue 17, of which ~3 lots a site are in stock)."""
    corrected = aliased(RegisterEntry)
    effective = not_(select(corrected.id).where(corrected.corrects_id == RegisterEntry.id).exists())
    if until is not None:  # a correction recorded after the moment does not count yet
        effective = not_(select(corrected.id).where(corrected.corrects_id == RegisterEntry.id,
                                                    corrected.recorded_at <= until).exists())
    query = (select(RegisterEntry.lot_id, RegisterEntry.location_id, RegisterEntry.to_location_id, RegisterEntry.kind,
                    RegisterEntry.session_id.is_(None), func.sum(RegisterEntry.amount_mg))
             .where(effective, RegisterEntry.kind.not_in(("count", "administer", "waste")))
             .group_by(RegisterEntry.lot_id, RegisterEntry.location_id, RegisterEntry.to_location_id, RegisterEntry.kind,
                       RegisterEntry.session_id.is_(None)))
    if sites is not None:
        query = query.where(RegisterEntry.site_id.in_(sites))
    if until is not None:
        query = query.where(RegisterEntry.recorded_at <= until)
    if live_only:
        live = select(RegisterLotStock.lot_id).where(RegisterLotStock.balance_mg > 0)
        if sites is not None:
            live = live.where(RegisterLotStock.site_id.in_(sites))
        # the ids first, then their entries by lot: as one statement the planner guessed the lots in stock
        # from the table's statistics (5,400 of 76,000 before an ANALYZE, for 120) and scanned the ledger
        lot_ids = uow.execute(live).scalars().all()
        if not lot_ids:
            return {}
        query = query.where(RegisterEntry.lot_id.in_(lot_ids))
    if location_id is not None:
        query = query.where((RegisterEntry.location_id == location_id) | (RegisterEntry.to_location_id == location_id))
    out: dict[tuple[int, int], int] = defaultdict(int)
    for lot_id, loc, to_loc, kind, no_session, amount in uow.execute(query).all():
        a = core.tenths(amount or 0)
        if kind in ("receipt", "adjustment") or (kind == "return" and not no_session):
            out[(lot_id, loc)] += a
        else:  # dispense, loss, transfer (from), return to the supplier
            out[(lot_id, loc)] -= a
        if kind == "transfer":
            out[(lot_id, to_loc)] += a
    return {key: core.mg(value) for key, value in out.items()
            if location_id is None or key[1] == location_id}


def _balance_items(uow: Session, sums: dict[tuple[int, int], float], *, drug: str | None = None,
                   keep_zero: bool = False) -> list[BalanceItem]:
    if not sums:
        return []
    lots = {lot.id: lot for lot in uow.execute(select(RegisterLot).where(
        RegisterLot.id.in_({k[0] for k in sums}))).scalars()}
    locations = {loc.id: loc for loc in uow.execute(select(RegisterLocation).where(
        RegisterLocation.id.in_({k[1] for k in sums}))).scalars()}
    products = {p.id: p for p in uow.execute(select(RegisterProduct)).scalars()}
    items = []
    for (lot_id, location_id), balance in sums.items():
        lot, location = lots[lot_id], locations[location_id]
        product = products[lot.product_id]
        if (drug and product.drug != drug) or (balance == 0 and not keep_zero):
            continue
        items.append(BalanceItem(drug=product.drug, lot=lot.lot_number, location=location.name, balance_mg=balance,
                                 site_id=lot.site_id, product=product.name, product_id=product.id, lot_id=lot.id,
                                 location_id=location.id, expiry_date=lot.expiry_date, schedule=product.schedule))
    items.sort(key=lambda i: (i.site_id, i.drug, i.location, i.expiry_date, i.lot))
    return items


def balances(db: Database, actor: Actor, *, site_id: int | None = None, drug: str | None = None,
             as_of: datetime | None = None) -> Balances:
    """Design 4.8: every lot's balance at every location of the actor's sites (non-zero ones)."""
    require_role(actor, *READ_ROLES)
    with db.reading() as uow:
        sites = _sites_of(actor)
        if site_id is not None:
            _check_site(actor, site_id, "site")
            sites = (site_id,)
        items = _balance_items(uow, _location_sums(uow, sites, until=as_of, live_only=as_of is None), drug=drug)
        return Balances(items=items)


def list_entries(db: Database, actor: Actor, *, site_id: int | None = None, drug: str | None = None,
                 lot_id: int | None = None, since: datetime | None = None, until: datetime | None = None,
                 kind: str | None = None, limit: int | None = None, cursor: str | None = None) -> Page[EntryView]:
    """The register's lines, newest first (the running log), filtered by drug, lot, kind and dates; paged."""
    require_role(actor, *READ_ROLES)
    limit = clamp_limit(limit)
    before = cursor_int(cursor, "before")
    with db.reading() as uow:
        rows = _entry_rows(uow, actor, site_id=site_id, drug=drug, lot_id=lot_id, since=since, until=until, kind=kind,
                           limit=limit + 1, before_id=before)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(items=_views(uow, rows),
                    next_cursor=encode_cursor({"before": rows[-1].id}) if more and rows else None)


def _entry_rows(uow: Session, actor: Actor, *, site_id: int | None = None, drug: str | None = None,
                lot_id: int | None = None, since: datetime | None = None, until: datetime | None = None,
                kind: str | None = None, limit: int | None = 200, before_id: int | None = None,
                ascending: bool = False) -> list[RegisterEntry]:
    query = select(RegisterEntry)
    sites = _sites_of(actor)
    if sites is not None:
        query = query.where(RegisterEntry.site_id.in_(sites))
    if site_id is not None:
        _check_site(actor, site_id, "site")
        query = query.where(RegisterEntry.site_id == site_id)
    if drug:
        query = query.join(RegisterProduct, RegisterProduct.id == RegisterEntry.product_id).where(
            RegisterProduct.drug == drug.strip().lower())
    if lot_id is not None:
        query = query.where(RegisterEntry.lot_id == lot_id)
    if kind:
        query = query.where(RegisterEntry.kind == kind)
    if since is not None:
        query = query.where(RegisterEntry.recorded_at >= since)
    if until is not None:
        query = query.where(RegisterEntry.recorded_at < until)
    if before_id is not None:
        query = query.where(RegisterEntry.id < before_id)
    query = query.order_by(RegisterEntry.id if ascending else RegisterEntry.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return list(uow.execute(query).scalars())


def _reconciliations(uow: Session, session: InfusionSession) -> list[core.Reconciliation]:
    rows = _session_rows(uow, session.id)
    if not rows:
        return []
    products = {p.id: p.drug for p in uow.execute(select(RegisterProduct)).scalars()}
    by_drug: dict[str, list[core.Line]] = defaultdict(list)
    for row in rows:
        by_drug[products[row.product_id]].append(_line(row))
    return [core.reconcile(drug, lines, _derived_mg(uow, session, drug)) for drug, lines in sorted(by_drug.items())]


def session_register(db: Database, actor: Actor, session_id: int) -> SessionRegister:
    """A session's register lines and, per drug, whether it is reconciled."""
    require_role(actor, *BEDSIDE_ROLES)
    with db.reading() as uow:
        session = _open_session(uow, actor, session_id, ("scheduled", "checked_in", "running", "observing", "discharged",
                                                         "cancelled"))
        drugs = [ReconciliationView(drug=r.drug, dispensed_mg=r.dispensed_mg, administered_mg=r.administered_mg,
                                    wasted_mg=r.wasted_mg, returned_mg=r.returned_mg, derived_mg=r.derived_mg,
                                    outstanding_mg=r.outstanding_mg, reconciled=r.reconciled, problem=r.problem())
                 for r in _reconciliations(uow, session)]
        return SessionRegister(session_id=session.id, site_id=session.site_id, state=session.state, drugs=drugs,
                               entries=_views(uow, _session_rows(uow, session.id)))


def discharge_refusal(uow: Session, session: InfusionSession) -> Conflict | None:
    """What services/sessions.py's discharge checks: every controlled drug dispensed for the session is
    reconciled (dispensed = administered + wasted + returned, and the administration is what the record
    says was given). A session with nothing dispensed has nothing to reconcile."""
    problems = [p for p in (r.problem() for r in _reconciliations(uow, session)) if p]
    if not problems:
        return None
    return Conflict("the session's controlled drugs are not reconciled in the register: " + "; ".join(problems),
                    code="register_not_reconciled", field="register")


def open_discrepancies(db: Database, actor: Actor, *, site_id: int | None = None) -> list[DiscrepancyView]:
    require_role(actor, *READ_ROLES)
    with db.reading() as uow:
        return _open_discrepancies(uow, actor, site_id)


def _open_discrepancies(uow: Session, actor: Actor, site_id: int | None,
                        location_id: int | None = None) -> list[DiscrepancyView]:
    resolution = aliased(RegisterEntry)
    query = (select(RegisterEntry).where(RegisterEntry.kind == "count",
                                         not_(select(resolution.id).where(resolution.resolves_id == RegisterEntry.id)
                                              .exists()))
             .order_by(RegisterEntry.id))
    sites = _sites_of(actor)
    if sites is not None:
        query = query.where(RegisterEntry.site_id.in_(sites))
    if site_id is not None:
        query = query.where(RegisterEntry.site_id == site_id)
    if location_id is not None:
        query = query.where(RegisterEntry.location_id == location_id)
    # a count stores the book's balance as its location balance and what was counted as its amount
    query = query.where(RegisterEntry.amount_mg != RegisterEntry.location_balance_after_mg)
    rows = [r for r in uow.execute(query).scalars() if core.tenths((r.details or {}).get("discrepancy_mg") or 0)]
    return [DiscrepancyView(count=view, expected_mg=float(view.details.get("expected_mg") or 0),
                            counted_mg=float(view.details.get("counted_mg") or 0),
                            discrepancy_mg=float(view.details.get("discrepancy_mg") or 0))
            for view in _views(uow, rows)]


def count_sheet(db: Database, actor: Actor, location_id: int, *, day: date | None = None,
                now: datetime | None = None) -> CountSheet:
    """The end-of-day count sheet of one location: every lot the book says it holds, and the day's count."""
    require_role(actor, *READ_ROLES)
    now = now or utcnow()
    day = day or now.date()
    with db.reading() as uow:
        location = _location(uow, actor, location_id)
        sums = _location_sums(uow, (location.site_id,), location_id=location.id, live_only=True)
        counted_lots = {}  # a lot at zero shows only when counted today (added below): the lots in stock suffice
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        # by (kind, site): the location's site named, or SQLite reads the whole ledger (42 ms at 20,000 patients)
        counts = uow.execute(select(RegisterEntry).where(
            RegisterEntry.kind == "count", RegisterEntry.site_id == location.site_id,
            RegisterEntry.location_id == location.id,
            RegisterEntry.recorded_at >= start, RegisterEntry.recorded_at < start + timedelta(days=1))
            .order_by(RegisterEntry.id)).scalars().all()
        names = staff_names(uow, [c.recorded_by for c in counts] + [c.witness_id for c in counts])
        for c in counts:
            counted_lots[c.lot_id] = c
        for lot_id in counted_lots:
            sums.setdefault((lot_id, location.id), 0.0)
        lines = []
        for item in _balance_items(uow, sums, keep_zero=True):
            c = counted_lots.get(item.lot_id)
            if item.balance_mg == 0 and c is None:
                continue
            lines.append(CountSheetLine(
                lot_id=item.lot_id, lot=item.lot, drug=item.drug, product=item.product, schedule=item.schedule,
                expiry_date=item.expiry_date, balance_mg=item.balance_mg,
                counted_mg=float(c.details["counted_mg"]) if c else None,
                discrepancy_mg=float(c.details["discrepancy_mg"]) if c else None,
                counted_by=names.get(c.recorded_by) if c else None, witness=names.get(c.witness_id) if c else None))
        return CountSheet(site_id=location.site_id, location=LocationView.of(location), day=day, generated_at=now,
                          lines=lines, open_discrepancies=_open_discrepancies(uow, actor, location.site_id,
                                                                              location.id))


def expiring_lots(db: Database, actor: Actor, *, within_days: int = EXPIRY_WARNING_DAYS,
                  now: datetime | None = None) -> list[BalanceItem]:
    """Lots with stock that expire within ``within_days`` (clinic policy: 90), soonest first."""
    require_role(actor, *READ_ROLES)
    now = now or utcnow()
    limit = now.date() + timedelta(days=within_days)
    with db.reading() as uow:
        items = _balance_items(uow, _location_sums(uow, _sites_of(actor), live_only=True))
        return sorted((i for i in items if i.expiry_date <= limit), key=lambda i: (i.expiry_date, i.lot))


def losses(db: Database, actor: Actor, *, site_id: int | None = None) -> list[EntryView]:
    require_role(actor, *READ_ROLES)
    with db.reading() as uow:
        return _views(uow, _entry_rows(uow, actor, site_id=site_id, kind="loss", limit=None, ascending=True))


def _bulk_loaded(uow: Session) -> list[tuple[int, int]]:
    """The id ranges of register entries written by the bulk demo (demo_bulk.py): its one chained system audit
    entry per batch (``demo.bulk_load``) names them instead of one audit entry per synthetic line."""
    out = []
    for detail in uow.execute(select(AuditEntry.detail).where(AuditEntry.action == "demo.bulk_load")).scalars():
        found = (json.loads(detail) if isinstance(detail, str) else detail or {}).get("ids", {}).get("register_entries")
        if found:
            out.append((int(found[0]), int(found[1])))
    return sorted(out)


def _in_ranges(ranges: list[tuple[int, int]], lows: list[int], value: int) -> bool:
    at = bisect_right(lows, value) - 1
    return at >= 0 and value <= ranges[at][1]


#: Register entries per query of ``register verify``: memory stays bounded however large the book (2.4 M lines at
#: 100,000 patients) at one round trip per 5,000 lines (measured in decisions, "register verify in bounded memory").
VERIFY_CHUNK_ROWS = 5_000
_VERIFY_COLUMNS = (RegisterEntry.id, RegisterEntry.kind, RegisterEntry.lot_id, RegisterEntry.amount_mg,
                   RegisterEntry.location_id, RegisterEntry.to_location_id, RegisterEntry.session_id,
                   RegisterEntry.corrects_id, RegisterEntry.resolves_id, RegisterEntry.recorded_by,
                   RegisterEntry.witness_id, RegisterEntry.balance_after_mg, RegisterEntry.location_balance_after_mg,
                   type_coerce(case((RegisterEntry.kind == "count", RegisterEntry.details)),
                               RegisterEntry.details.type).label("details"))


def _replay_line(row: Row[Any]) -> core.Line:
    """A row of :data:`_VERIFY_COLUMNS` as the replay reads it: what verify checks, and of the details a count's
    only (its expected mg); decoding every line's details took a sixth of the time (profiled at 5,000 patients)."""
    return core.Line(id=row.id, kind=row.kind, lot_id=row.lot_id, amount_mg=row.amount_mg,
                     location_id=row.location_id, to_location_id=row.to_location_id, session_id=row.session_id,
                     corrects_id=row.corrects_id, resolves_id=row.resolves_id, recorded_by=row.recorded_by,
                     witness_id=row.witness_id, balance_after_mg=row.balance_after_mg,
                     location_balance_after_mg=row.location_balance_after_mg, details=row.details or {})


def _keyset_chunks(uow: Session, columns: Sequence[Any], chunk_rows: int) -> Iterator[list[Row[Any]]]:
    """The rows of ``columns`` in the order of the first (a unique key), ``chunk_rows`` per query (keyset: each
    query starts after the last key seen, so none reads more than a chunk and none re-reads what went before)."""
    key = columns[0]
    after: Any = None
    while True:
        query = select(*columns).order_by(key).limit(chunk_rows)
        if after is not None:
            query = query.where(key > after)
        rows = uow.execute(query).all()
        if rows:
            yield rows
        if len(rows) < chunk_rows:
            return
        after = rows[-1][0]


def _book_chunks(uow: Session, chunk_rows: int) -> Iterator[list[core.Line]]:
    """The whole book in id order, ``chunk_rows`` entries per query."""
    for rows in _keyset_chunks(uow, _VERIFY_COLUMNS, chunk_rows):
        yield [_replay_line(row) for row in rows]


def _named_by(uow: Session, lines: Sequence[core.Line]) -> core.Earlier:
    """What the chunk's corrections and resolutions need of other entries (core.BoundedLedger): the entries
    they name and who first corrected or resolved each, read by id (at most two per line of the chunk)."""
    corrected = {line.corrects_id for line in lines if line.corrects_id is not None}
    resolved = {line.resolves_id for line in lines if line.resolves_id is not None}
    if not corrected and not resolved:
        return core.Earlier()
    named = uow.execute(select(*_VERIFY_COLUMNS).where(RegisterEntry.id.in_(corrected | resolved))).all()

    def first(column: Any, ids: set[int]) -> dict[int, int]:
        if not ids:
            return {}
        query = select(column, func.min(RegisterEntry.id)).where(column.in_(ids)).group_by(column)
        return {target: by for target, by in uow.execute(query).all()}

    return core.Earlier(lines={row.id: _replay_line(row) for row in named},
                        first_correction=first(RegisterEntry.corrects_id, corrected),
                        first_resolution=first(RegisterEntry.resolves_id, resolved))


def _first_unaudited(uow: Session, lines: Sequence[core.Line], loaded: list[tuple[int, int]],
                     lows: list[int]) -> core.Line | None:
    """The chunk's first entry with neither its own ``register.<kind>`` audit entry nor a place in a bulk
    load's audited id range; the audit log is asked about this chunk's entries only (ix_audit_log_record)."""
    wanted = [line for line in lines if not _in_ranges(loaded, lows, line.id)]
    if not wanted:
        return None
    audited = set(uow.execute(select(AuditEntry.record_id).where(
        AuditEntry.record_type == "register_entry", AuditEntry.action.like("register.%"),
        AuditEntry.record_id.in_([str(line.id) for line in wanted]))).scalars())
    return next((line for line in wanted if str(line.id) not in audited), None)


def _one_snapshot(db: Database, uow: Session) -> None:
    """Every chunk read from the same snapshot of the book. SQLite's read transaction (WAL) is one already;
    PostgreSQL's default (READ COMMITTED) gives each statement its own, so an entry committed while verify
    runs could appear in a later chunk, or, committed with an id below the chunk already read, be missed and
    make the lot's next balance look wrong: REPEATABLE READ, set before the first statement."""
    if db.dialect == "postgresql":
        uow.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def verify_register(db: Database, actor: Actor, *, chunk_rows: int = VERIFY_CHUNK_ROWS) -> VerifyResult:
    """``ketaclinic register verify``: replay the whole book (every site) and name the first break.

    The book is streamed in chunks of ``chunk_rows`` entries (:func:`_book_chunks`) through
    :class:`core.BookCheck`, which keeps balances and per-lot totals only, so memory does not grow with the
    ledger; the findings are :func:`core.verify`'s over the whole book, then the first entry not audited."""
    require_role(actor, "admin")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1 (got {chunk_rows})")
    ledger = core.BoundedLedger()
    book = core.BookCheck(ledger)
    unaudited: core.Line | None = None
    with db.reading() as uow:
        _one_snapshot(db, uow)
        loaded = _bulk_loaded(uow)
        lows = [low for low, _ in loaded]  # the batches' ranges do not overlap: ids are taken in order
        for lines in _book_chunks(uow, chunk_rows):
            if book.first_break is None:
                ledger.known = _named_by(uow, lines)
            for line in lines:
                book.add(line)
            if book.first_break is None and unaudited is None:
                unaudited = _first_unaudited(uow, lines, loaded, lows)
        found = book.result()
        if found is None and unaudited is not None:
            found = core.Break(unaudited.id, "not_audited",
                               f"entry {unaudited.id} ({unaudited.kind}) has no audit entry")
        if found is None:  # the book holds: the lots in stock the pages list must be what it says
            found = book.stock_break(_stock_rows(uow, chunk_rows))
    return VerifyResult(ok=found is None, entries=book.entries, lots=book.lots,
                        first_break=None if found is None else {"entry_id": found.entry_id, "code": found.code,
                                                                 "message": found.message})



# --- the demo clinic -------------------------------------------------------------------------

DEMO_SUPPLIER = ("Synthetic Medical Supply (demo)", core.with_check_digit("RS", "482913"))
DEMO_SESSIONS_PER_SITE = 240  # the most recent discharged sessions of each site get a register history


def seed_demo(db: Database, *, now: datetime) -> int:
    """Realistic stock and history for every site of the demo clinic (issue 14): a safe, an automated
    cabinet and the demo nurse's working stock; ketamine and midazolam lots (one ketamine lot expiring
    within 90 days); for the recent discharged sessions, the draw, the administration derived from the
    session's record and the witnessed waste of the remainder; yesterday's day-end count and one
    past discrepancy resolved with a reason. Synthetic lot numbers and supplier; idempotent.
    Returns the number of register entries written."""
    from ketaclinic.services.auth import actor_for

    with unit_of_work(db) as uow:
        if uow.execute(select(RegisterEntry.id).limit(1)).first() is not None:
            return 0
        users = {u.username: u for u in uow.execute(select(User).where(
            User.username.in_(("admin", "physician", "nurse")))).scalars()}
        if len(users) < 3:
            return 0
        products = {(p.drug, p.strength_mg_per_ml): p for p in uow.execute(select(RegisterProduct)).scalars()}
        written = 0
        for site in uow.execute(select(Site).order_by(Site.id)).scalars().all():
            nurse, physician, admin = (Actor(**{**actor_for(users[name], "local").__dict__, "site_ids": (site.id,)})
                                       for name in ("nurse", "physician", "admin"))
            written += _seed_site(uow, site, nurse, physician, admin, products, now)
        return written


def _seed_site(uow: Session, site: Site, nurse: Actor, physician: Actor, admin: Actor,
               products: dict[tuple[str, float], RegisterProduct], now: datetime) -> int:
    safe, cabinet, drawer = (RegisterLocation(site_id=site.id, name=name, kind=kind, created_by=admin.user_id,
                                              holder_user_id=nurse.user_id if kind == "working_stock" else None)
                             for name, kind in (("Safe", "safe"), ("Automated cabinet", "cabinet"),
                                                ("Nurse working stock", "working_stock")))
    uow.add_all([safe, cabinet, drawer])
    uow.flush()
    sessions = list(reversed(uow.execute(select(InfusionSession).where(
        InfusionSession.site_id == site.id, InfusionSession.state == "discharged",
        InfusionSession.started_at.is_not(None)).order_by(InfusionSession.started_at.desc())
        .limit(DEMO_SESSIONS_PER_SITE)).scalars().all()))
    start = (sessions[0].started_at if sessions else now) - timedelta(days=14)
    ketamine, midazolam = products[("ketamine", 50.0)], products[("midazolam", 1.0)]
    count = 0
    serial = 0

    def receive(product: RegisterProduct, vials: int, when: datetime, expiry: date, where: RegisterLocation) -> _Lot:
        nonlocal count, serial
        serial += 1
        lot = RegisterLot(site_id=site.id, product_id=product.id, created_by=physician.user_id, expiry_date=expiry,
                          lot_number=f"SYN-{site.code}-{product.drug[:3].upper()}-{when:%y%m}-{serial:02d}")
        uow.add(lot)
        uow.flush()
        found = _Lot(lot, product)
        _write(uow, physician, found, "receipt", vials * product.strength_mg_per_ml * product.vial_volume_ml, when,
               location_id=where.id, vials=vials,
               details={"supplier": DEMO_SUPPLIER[0], "supplier_dea_number": DEMO_SUPPLIER[1],
                        "invoice": f"SYN-INV-{when:%y%m%d}-{serial}", "expiry_date": expiry.isoformat()})
        count += 1
        return found

    # midazolam for rescue, in the cabinet; ketamine in the safe, a new lot whenever the last runs low
    receive(midazolam, 25, start, (start + timedelta(days=540)).date(), cabinet)
    lot = receive(ketamine, 20, start, (start + timedelta(days=400)).date(), safe)
    for session in sessions:
        events = list(uow.execute(select(SessionEvent).where(SessionEvent.session_id == session.id)
                                  .order_by(SessionEvent.id)).scalars())
        given = core.drug_given_mg("ketamine", session.pump_program, events, session.started_at, session.ended_at)
        if given <= 0:
            continue
        drawn = float(min(500.0, (int(given // 10) + 2) * 10))  # the syringe is filled a little over the program
        if given > drawn:
            continue
        at = session.started_at - timedelta(minutes=15)
        ledger = _lot_ledger(uow, lot.lot.id)
        if ledger.location_mg(lot.lot.id, safe.id) < drawn:
            lot = receive(ketamine, 20, at - timedelta(days=1), (at + timedelta(days=420)).date(), safe)
            ledger = _lot_ledger(uow, lot.lot.id)
        vials = 1
        _write(uow, nurse, lot, "dispense", drawn, at, ledger=ledger, location_id=safe.id, session_id=session.id,
               vials=vials, details={"patient_id": session.patient_id, "volume_ml": round(drawn / 50.0, 2)})
        stop = session.ended_at or session.started_at
        _write(uow, nurse, lot, "administer", given, stop, ledger=ledger, session_id=session.id,
               details={"derived_from": "session record", "session_given_mg": given, "patient_id": session.patient_id})
        count += 2
        remainder = core.mg(core.tenths(drawn) - core.tenths(given))
        if remainder > 0:
            _write(uow, nurse, lot, "waste", remainder, stop + timedelta(minutes=5), ledger=ledger,
                   session_id=session.id, witness=physician,
                   details={"manner": "into the pharmaceutical waste container, witnessed", "witness_username":
                            physician.username, "patient_id": session.patient_id})
            count += 1
    # a lot that expires within 90 days (the register's warning shows it), some of it in the nurse's drawer
    short = receive(ketamine, 2, now - timedelta(days=20), (now + timedelta(days=45)).date(), safe)
    _write(uow, nurse, short, "transfer", 500.0, now - timedelta(days=19), location_id=safe.id,
           to_location_id=drawer.id, vials=1, details={"to": drawer.name})
    count += 1
    # a past discrepancy: counted 5 mg short, resolved by the physician with a reason
    past = now - timedelta(days=10)
    ledger = _lot_ledger(uow, short.lot.id)
    expected = ledger.location_mg(short.lot.id, drawer.id)
    counted = _write(uow, nurse, short, "count", expected - 5.0, past, ledger=ledger, location_id=drawer.id,
                     witness=physician, details={"expected_mg": expected, "counted_mg": expected - 5.0,
                                                 "discrepancy_mg": -5.0, "witness_username": physician.username})
    _write(uow, physician, short, "adjustment", -5.0, past + timedelta(hours=1), location_id=drawer.id,
           resolves_id=counted.id, reason="Synthetic demo: 5 mg spilled while drawing up, seen by the second nurse",
           details={"discrepancy_mg": -5.0})
    count += 2
    # yesterday's day-end count of the safe and the cabinet: every lot matches the book
    yesterday = (now - timedelta(days=1)).replace(hour=18, minute=30, second=0, microsecond=0)
    for where in (safe, cabinet):
        sums = _location_sums(uow, (site.id,), location_id=where.id)
        for (lot_id, _), balance in sorted(sums.items()):
            if balance <= 0:
                continue
            found = _lot(uow, admin, lot_id)
            _write(uow, nurse, found, "count", balance, yesterday, location_id=where.id, witness=physician,
                   details={"expected_mg": balance, "counted_mg": balance, "discrepancy_mg": 0.0,
                            "witness_username": physician.username})
            count += 1
    return count
