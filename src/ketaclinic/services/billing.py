"""Self-pay billing (issue 15): price lists, invoices, payments, refunds, receipts, superbills, the bookkeeper's CSV.

Who does what (a permission set of its own, design.md 5 "coordinator"):

- the **coordinator** runs billing at their sites: issues invoices (per session, per course, per
  evaluation, a no-show fee), records payments (cash, card, cheque: recorded by hand, nothing is
  processed), refunds (with a reason), reversals of an entry recorded in error, voids an invoice (with a
  reason), prints receipts and superbills and exports the CSV. What they see is codes and amounts: the
  invoice carries the CPT/HCPCS and ICD-10-CM codes with their descriptions, never the chart;
- the **admin** keeps each site's price list (versioned like the clinic settings, If-Match);
- the **physician** chooses the E/M level of a signed evaluation (KetaClinic never infers it).

Codes are computed from what was recorded (the session's start and stop, its medication events, the
ketamine the pump gave), never typed: :mod:`ketaclinic.clinical.billing_codes`. Every table is append-only
(:mod:`ketaclinic.records.billing`): a void is a new revision of the invoice, a mistaken payment is
withdrawn by a reversal row; every write and every read is audited.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.clinical.billing_codes import (
    CONVENTIONS,
    DESCRIPTIONS,
    EM_CODES,
    EM_SOURCE,
    ICD10CM_SOURCE,
    NPI_SOURCE,
    PLACES_OF_SERVICE,
    POS_SOURCE,
    BillingInputError,
    CodesRequest,
    clean_npi,
    code_lines,
)
from ketaclinic.clinical.billing_prices import (
    DEFAULT_PRICES,
    PricedLine,
    PriceListData,
    adjunct_line,
    money,
    no_show_line,
    price_line,
)
from ketaclinic.clinical.conditions import icd10cm_for
from ketaclinic.clinical.record import EventRow, as_corrected, corrections_by_event
from ketaclinic.clock import utcnow
from ketaclinic.evidence.sources import get_source
from ketaclinic.records.billing import BillingEmCode, Invoice, Payment, PriceList
from ketaclinic.records.db import Database
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.patients import DEMO_MARK, Patient
from ketaclinic.records.plans import Plan
from ketaclinic.records.sessions import InfusionSession, SessionEvent
from ketaclinic.records.sites import Site
from ketaclinic.records.users import User
from ketaclinic.reports.session_facts import KETAMINE_NAMES, summarise
from ketaclinic.services.common import (
    Page,
    audit,
    clamp_limit,
    cursor_int,
    encode_cursor,
    page_of,
    require_role,
    unit_of_work,
)
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Conflict, NotFound, PreconditionRequired, ValidationFailed
from ketaclinic.services.patients import load_patient
from ketaclinic.services.sites import may_see_site
from ketaclinic.services.staff import display_name
from ketaclinic.services.types import ID_MAX, Text

BILLING_ROLES = ("coordinator",)
PORTAL_ROLES = ("patient",)  # the patient's own superbills and receipts (the portal)
PRICE_WRITE_ROLES = ("admin",)
PRICE_READ_ROLES = ("admin", "coordinator")
EM_ROLES = ("physician",)
InvoiceKind = Literal["session", "course", "evaluation", "no_show"]
Method = Literal["cash", "card", "check", "bank_transfer", "other"]
METHOD_WORDS = {"cash": "Cash", "card": "Card (terminal slip)", "check": "Cheque", "bank_transfer": "Bank transfer",
                "other": "Other"}
DIAGNOSIS_LETTERS = "ABCDEFGHIJKL"  # the CMS-1500 item 21 pointers (up to 12 diagnoses)


# --- what comes in -----------------------------------------------------------------------------------


class PriceListIn(BaseModel):
    """A new version of a site's price list: the whole list and, optionally, why it changed."""

    model_config = ConfigDict(extra="forbid")
    prices: PriceListData
    note: Text | None = Field(default=None, max_length=500)


class EmCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    em_code: str = Field(description="the E/M level: 99202-99205 (new patient) or 99211-99215 (established)")
    note: Text | None = Field(default=None, max_length=500)

    @field_validator("em_code")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in EM_CODES:
            raise ValueError(f"must be one of {', '.join(EM_CODES)}")
        return value


class InvoiceIn(BaseModel):
    """What to bill: one session, every unbilled session of a course (its plan), an evaluation, a no-show."""

    model_config = ConfigDict(extra="forbid")
    kind: InvoiceKind
    session_id: int | None = Field(default=None, ge=1, le=ID_MAX, description="for session and no_show")
    plan_id: int | None = Field(default=None, ge=1, le=ID_MAX, description="for course")
    evaluation_id: int | None = Field(default=None, ge=1, le=ID_MAX, description="for evaluation")

    def target(self) -> tuple[str, int]:
        field = {"session": "session_id", "no_show": "session_id", "course": "plan_id",
                 "evaluation": "evaluation_id"}[self.kind]
        value = getattr(self, field)
        others = [f for f in ("session_id", "plan_id", "evaluation_id") if f != field and getattr(self, f) is not None]
        if value is None:
            raise ValidationFailed(f"a {self.kind.replace('_', '-')} invoice names its {field}", field=field)
        if others:
            raise ValidationFailed(f"a {self.kind.replace('_', '-')} invoice names only its {field}", field=others[0])
        return field, int(value)


class PaymentIn(BaseModel):
    """Money received, recorded by hand (nothing is processed here)."""

    model_config = ConfigDict(extra="forbid")
    amount_cents: int = Field(gt=0, le=10_000_000)
    method: Method
    reference: Text | None = Field(default=None, max_length=100, description="receipt or terminal slip number")
    received_at: datetime | None = None


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_cents: int = Field(gt=0, le=10_000_000)
    method: Method
    reason: Text = Field(min_length=1, max_length=500)
    reference: Text | None = Field(default=None, max_length=100)


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text = Field(min_length=1, max_length=500)


# --- what goes out -----------------------------------------------------------------------------------


class PriceListView(BaseModel):
    site_id: int
    site_name: str
    version: int  # 0: the defaults, never saved
    prices: PriceListData
    changes: list[dict[str, Any]]
    note: str | None
    created_at: datetime | None
    created_by: int | None


class PaymentView(BaseModel):
    id: int
    invoice_number: str
    kind: str
    method: str
    amount_cents: int
    amount: str
    reason: str | None
    reference: str | None
    reverses_id: int | None
    reversed: bool
    received_at: datetime
    created_by: int | None


class InvoiceLineView(BaseModel):
    date: date
    code: str
    units: int
    description: str
    source: str
    unit_cents: int
    amount_cents: int
    amount: str
    kind: str
    pointers: str


class InvoiceView(BaseModel):
    """An invoice as billing sees it: codes and amounts, no clinical detail beyond the codes."""

    id: int
    number: str
    revision: int
    status: str
    kind: str
    site_id: int
    site_name: str
    patient_id: int
    patient_name: str
    patient_birth_date: date
    plan_id: int | None
    evaluation_id: int | None
    session_ids: list[int]
    service_from: date
    service_to: date
    lines: list[InvoiceLineView]
    diagnoses: list[dict[str, str]]
    place_of_service: str
    place_of_service_name: str
    rendering_name: str | None
    rendering_npi: str | None
    currency: str
    total_cents: int
    paid_cents: int
    balance_cents: int
    total: str
    paid: str
    balance: str
    reason: str | None
    created_at: datetime
    created_by: int | None
    payments: list[PaymentView]


class InvoiceSummary(BaseModel):
    number: str
    status: str
    kind: str
    site_id: int
    patient_id: int
    patient_name: str
    service_from: date
    service_to: date
    total_cents: int
    balance_cents: int
    total: str
    balance: str
    created_at: datetime


class Billable(BaseModel):
    """Something of one patient that can be invoiced (or was)."""

    kind: InvoiceKind
    target_id: int
    label: str
    on_date: date | None
    billed_on: str | None  # the invoice number that bills it


class PatientBilling(BaseModel):
    patient_id: int
    patient_name: str
    site_id: int
    billable: list[Billable]
    invoices: list[InvoiceSummary]


# --- price lists -------------------------------------------------------------------------------------


def _site(uow: Session, actor: Actor, site_id: int) -> Site:
    site = uow.get(Site, site_id)
    if site is None or not may_see_site(actor, site_id):
        raise NotFound("site not found")
    return site


def _current_price_row(uow: Session, site_id: int) -> PriceList | None:
    return uow.execute(select(PriceList).where(PriceList.site_id == site_id)
                       .order_by(PriceList.version.desc()).limit(1)).scalar_one_or_none()


def _prices_of(row: PriceList | None) -> PriceListData:
    return PriceListData.model_validate(row.data) if row is not None else DEFAULT_PRICES


def _price_view(site: Site, row: PriceList | None) -> PriceListView:
    return PriceListView(site_id=site.id, site_name=site.name, version=row.version if row else 0,
                         prices=_prices_of(row), changes=list(row.changes) if row else [],
                         note=row.note if row else None, created_at=row.created_at if row else None,
                         created_by=row.created_by if row else None)


def get_price_list(db: Database, actor: Actor, site_id: int) -> PriceListView:
    """A site's current prices (version 0: the defaults, until the admin saves a list)."""
    require_role(actor, *PRICE_READ_ROLES)
    with unit_of_work(db) as uow:
        site = _site(uow, actor, site_id)
        view = _price_view(site, _current_price_row(uow, site_id))
        audit(uow, actor, "price_list.read", "site", site_id, {"version": view.version})
        return view


def price_list_versions(db: Database, actor: Actor, site_id: int) -> list[PriceListView]:
    require_role(actor, *PRICE_READ_ROLES)
    with unit_of_work(db) as uow:
        site = _site(uow, actor, site_id)
        rows = uow.execute(select(PriceList).where(PriceList.site_id == site_id)
                           .order_by(PriceList.version.desc())).scalars().all()
        audit(uow, actor, "price_list.versions", "site", site_id, {"count": len(rows)})
        return [_price_view(site, row) for row in rows]


def _changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"field": key, "from": old.get(key), "to": new.get(key)}
            for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]


def save_price_list(db: Database, actor: Actor, site_id: int, expected_version: int | None, data: PriceListIn,
                    *, now: datetime | None = None) -> PriceListView:
    """A new version of a site's price list (admin); ``If-Match`` names the version it was based on (0: defaults)."""
    require_role(actor, *PRICE_WRITE_ROLES)
    if expected_version is None:
        raise PreconditionRequired("send If-Match with the price list version you last read (0 for the defaults)")
    now = now or utcnow()
    with unit_of_work(db) as uow:
        site = _site(uow, actor, site_id)
        row = _current_price_row(uow, site_id)
        current_version = row.version if row else 0
        if expected_version != current_version:
            raise Conflict(f"version {expected_version} is stale: the price list is at version {current_version}",
                           field="If-Match")
        new = data.prices.model_dump(mode="json")
        changes = _changes(_prices_of(row).model_dump(mode="json"), new)
        if not changes:
            raise ValidationFailed("the price list is unchanged", field="prices")
        saved = PriceList(site_id=site_id, version=current_version + 1, data=new, changes=changes, note=data.note,
                          created_at=now, created_by=actor.user_id)
        uow.add(saved)
        uow.flush()  # two saves on the same version: the unique (site, version) refuses the second (409)
        audit(uow, actor, "price_list.save", "site", site_id, {"version": saved.version, "changes": changes})
        return _price_view(site, saved)


# --- the physician's E/M level -----------------------------------------------------------------------


def record_em_code(db: Database, actor: Actor, evaluation_id: int, data: EmCodeIn,
                   *, now: datetime | None = None) -> dict[str, Any]:
    """The physician chooses the E/M level of a signed evaluation (a new row; the newest one is billed)."""
    require_role(actor, *EM_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        evaluation = uow.get(Evaluation, evaluation_id)
        if evaluation is None:
            raise NotFound("evaluation not found")
        patient = load_patient(uow, actor, evaluation.patient_id)
        if evaluation.status != "signed":
            raise Conflict("choose the E/M level once the evaluation is signed", code="evaluation_unsigned")
        row = BillingEmCode(evaluation_id=evaluation.id, patient_id=patient.id, site_id=patient.site_id,
                            em_code=data.em_code, note=data.note, created_at=now, created_by=actor.user_id)
        uow.add(row)
        uow.flush()
        audit(uow, actor, "billing.em_code", "evaluation", evaluation.id, {"em_code": data.em_code, "id": row.id})
        return {"id": row.id, "evaluation_id": evaluation.id, "em_code": row.em_code,
                "description": DESCRIPTIONS[row.em_code], "source": EM_SOURCE, "created_at": row.created_at}


def _em_code_of(uow: Session, evaluation_id: int) -> str | None:
    return uow.execute(select(BillingEmCode.em_code).where(BillingEmCode.evaluation_id == evaluation_id)
                       .order_by(BillingEmCode.id.desc()).limit(1)).scalar_one_or_none()


# --- codes from the record ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionCoding:
    """What one session's record says for billing (the facts the codes are computed from)."""

    session: InfusionSession
    minutes: int
    drug_mg: float
    pushes: tuple[str, ...]  # distinct non-ketamine IV drugs given
    adjunct_doses: dict[str, int]  # every non-ketamine medication given (any route) -> doses


def _rows(events: Iterable[SessionEvent]) -> list[EventRow]:
    return [EventRow(id=e.id, kind=e.kind, payload=e.payload, session_id=e.session_id, minute=e.minute,
                     recorded_at=e.recorded_at, recorded_by=e.recorded_by, amends_event_id=e.amends_event_id)
            for e in events]


def session_coding(uow: Session, session: InfusionSession, now: datetime) -> SessionCoding:
    """Minutes from the recorded start to the recorded stop (whole minutes), the ketamine given (pump and
    extra IV doses), the pushes and the adjuncts, from the session's append-only events (amendments applied)."""
    if session.started_at is None or session.ended_at is None:
        raise Conflict(f"session {session.id} has no recorded start and stop: nothing to bill yet",
                       code="session_not_finished", field="session_id")
    events = _rows(uow.execute(select(SessionEvent).where(SessionEvent.session_id == session.id)
                               .order_by(SessionEvent.id)).scalars())
    minutes = int(math.floor((session.ended_at - session.started_at).total_seconds() / 60 + 1e-9))
    summary = summarise(session.pump_program, session.weight_kg, session.started_at, session.ended_at, events, {}, now)
    fixes = corrections_by_event(events)
    pushes: list[str] = []
    doses: dict[str, int] = {}
    for event in events:
        if event.kind != "medication":
            continue
        payload = as_corrected(event, fixes)
        drug = " ".join(str(payload.get("drug", "")).split())
        if not drug or drug.casefold() in KETAMINE_NAMES:
            continue
        doses[drug] = doses.get(drug, 0) + 1
        if payload.get("route") == "iv" and drug.casefold() not in {p.casefold() for p in pushes}:
            pushes.append(drug)
    return SessionCoding(session, minutes, float(summary.total_mg), tuple(pushes), doses)


def session_lines(coding: SessionCoding, prices: PriceListData, on: date) -> list[dict[str, Any]]:
    """The priced lines of one session: 96365/96366, 96374/96375, J3490, adjuncts."""
    request = CodesRequest(infusion_minutes=coding.minutes, iv_pushes=len(coding.pushes),
                           drug_mg=round(coding.drug_mg, 1), ndc=prices.ketamine_ndc if coding.drug_mg > 0 else None)
    priced: list[PricedLine] = [price_line(line, prices, drug_mg=request.drug_mg) for line in code_lines(request)]
    for drug, count in coding.adjunct_doses.items():
        extra = adjunct_line(drug, count, prices)
        if extra is not None:
            priced.append(extra)
    return [{**p.as_dict(), "date": on.isoformat(), "session_id": coding.session.id} for p in priced]


def _local_date(moment: datetime, tz: tzinfo) -> date:
    return moment.astimezone(tz).date()


def _diagnoses(evaluation: Evaluation | None) -> list[dict[str, str]]:
    """ICD-10-CM codes of the signed evaluation's conditions (clinical/conditions.py)."""
    if evaluation is None or evaluation.status != "signed":
        return []
    pain = (evaluation.screening_input or {}).get("pain") or {}
    found: list[dict[str, str]] = []
    for condition_id in pain.get("conditions") or []:
        try:
            codings = icd10cm_for(condition_id, pain)
        except (KeyError, ValueError):
            continue
        for coding in codings:
            if coding.code not in {d["code"] for d in found}:
                found.append({"code": coding.code, "display": coding.display, "source": ICD10CM_SOURCE})
    return found[:len(DIAGNOSIS_LETTERS)]


def _signed_evaluation(uow: Session, patient_id: int, evaluation_id: int | None) -> Evaluation | None:
    if evaluation_id is not None:
        evaluation = uow.get(Evaluation, evaluation_id)
        if evaluation is not None and evaluation.status == "signed":
            return evaluation
    return uow.execute(select(Evaluation).where(Evaluation.patient_id == patient_id, Evaluation.status == "signed")
                       .order_by(Evaluation.signed_at.desc(), Evaluation.id.desc()).limit(1)).scalar_one_or_none()


def _rendering(uow: Session, user_id: int | None, what: str) -> tuple[int, str, str]:
    user = uow.get(User, user_id) if user_id is not None else None
    if user is None:
        raise Conflict(f"the {what} names no signing physician: nothing to bill as the rendering clinician",
                       code="no_rendering_clinician")
    name = display_name(user.username, user.full_name, user.credentials)
    if not user.npi:
        raise Conflict(f"{name} has no NPI on the staff record: the admin records it (Users, Name and credentials) "
                       "before this can be billed", code="npi_missing", field="npi")
    return user.id, name, user.npi


# --- invoices ----------------------------------------------------------------------------------------


def _current_invoices(uow: Session, patient_id: int) -> list[Invoice]:
    """The patient's current revisions (those no other revision replaces)."""
    rows = list(uow.execute(select(Invoice).where(Invoice.patient_id == patient_id).order_by(Invoice.id)).scalars())
    replaced = {r.replaces_id for r in rows if r.replaces_id is not None}
    return [r for r in rows if r.id not in replaced]


def _billed_targets(uow: Session, patient_id: int) -> tuple[dict[int, str], dict[int, str]]:
    """Session id -> invoice number, evaluation id -> invoice number, over the patient's issued invoices."""
    sessions: dict[int, str] = {}
    evaluations: dict[int, str] = {}
    for invoice in _current_invoices(uow, patient_id):
        if invoice.status != "issued":
            continue
        for session_id in invoice.session_ids:
            sessions[int(session_id)] = invoice.number
        if invoice.evaluation_id is not None and invoice.kind == "evaluation":
            evaluations[invoice.evaluation_id] = invoice.number
    return sessions, evaluations


def _next_number(uow: Session, site: Site) -> str:
    count = uow.execute(select(func.count()).select_from(Invoice)
                        .where(Invoice.site_id == site.id, Invoice.revision == 1)).scalar_one()
    return f"{site.code}-{int(count) + 1:06d}"


def _load_invoice(uow: Session, actor: Actor, number: str) -> tuple[Invoice, list[Invoice]]:
    """The current revision of invoice ``number`` and every revision, if ``actor`` works at its site (else 404)."""
    rows = list(uow.execute(select(Invoice).where(Invoice.number == number).order_by(Invoice.revision)).scalars())
    if not rows or not may_see_site(actor, rows[-1].site_id):
        raise NotFound("invoice not found")
    if actor.is_patient and rows[-1].patient_id != actor.patient_id:  # the portal: one's own invoices only
        raise NotFound("invoice not found")
    load_patient(uow, actor, rows[-1].patient_id)
    return rows[-1], rows


def _payments(uow: Session, number: str) -> list[Payment]:
    return list(uow.execute(select(Payment).where(Payment.invoice_number == number).order_by(Payment.id)).scalars())


def paid_cents(payments: Iterable[Payment]) -> int:
    """Money kept: payments less refunds, a reversal taking back the entry it reverses."""
    payments = list(payments)
    by_id = {p.id: p for p in payments}
    total = 0
    for p in payments:
        if p.kind == "payment":
            total += p.amount_cents
        elif p.kind == "refund":
            total -= p.amount_cents
        elif p.kind == "reversal" and p.reverses_id in by_id:
            total += -p.amount_cents if by_id[p.reverses_id].kind == "payment" else p.amount_cents
    return total


def _payment_view(p: Payment, reversed_ids: set[int], currency: str) -> PaymentView:
    return PaymentView(id=p.id, invoice_number=p.invoice_number, kind=p.kind, method=p.method,
                       amount_cents=p.amount_cents, amount=money(p.amount_cents, currency), reason=p.reason,
                       reference=p.reference, reverses_id=p.reverses_id, reversed=p.id in reversed_ids,
                       received_at=p.received_at, created_by=p.created_by)


def _patient_name(patient: Patient) -> str:
    return f"{patient.given_name} {patient.family_name}"


def _invoice_view(uow: Session, invoice: Invoice, payments: list[Payment]) -> InvoiceView:
    patient = uow.get(Patient, invoice.patient_id)
    site = uow.get(Site, invoice.site_id)
    assert patient is not None and site is not None
    paid = paid_cents(payments)
    reversed_ids = {p.reverses_id for p in payments if p.reverses_id is not None}
    pointers = DIAGNOSIS_LETTERS[:min(4, len(invoice.diagnoses))]
    lines = [InvoiceLineView(date=date.fromisoformat(line["date"]), code=line["code"], units=line["units"],
                             description=line["description"], source=line["source"], unit_cents=line["unit_cents"],
                             amount_cents=line["amount_cents"], amount=money(line["amount_cents"], invoice.currency),
                             kind=line["kind"], pointers=pointers if line["code"] else "")
             for line in invoice.lines]
    balance = invoice.total_cents - paid
    return InvoiceView(
        id=invoice.id, number=invoice.number, revision=invoice.revision, status=invoice.status, kind=invoice.kind,
        site_id=invoice.site_id, site_name=site.name, patient_id=patient.id, patient_name=_patient_name(patient),
        patient_birth_date=patient.birth_date, plan_id=invoice.plan_id, evaluation_id=invoice.evaluation_id,
        session_ids=[int(s) for s in invoice.session_ids], service_from=invoice.service_from,
        service_to=invoice.service_to, lines=lines, diagnoses=list(invoice.diagnoses),
        place_of_service=invoice.place_of_service,
        place_of_service_name=PLACES_OF_SERVICE.get(invoice.place_of_service, ""),
        rendering_name=invoice.rendering_name, rendering_npi=invoice.rendering_npi, currency=invoice.currency,
        total_cents=invoice.total_cents, paid_cents=paid, balance_cents=balance,
        total=money(invoice.total_cents, invoice.currency), paid=money(paid, invoice.currency),
        balance=money(balance, invoice.currency), reason=invoice.reason, created_at=invoice.created_at,
        created_by=invoice.created_by, payments=[_payment_view(p, reversed_ids, invoice.currency) for p in payments])


def create_invoice(db: Database, actor: Actor, data: InvoiceIn, *, now: datetime | None = None,
                   tz: tzinfo = UTC) -> InvoiceView:
    """Issue an invoice, its codes computed from the record and priced from the site's current list.

    Refused: a session or course already billed on an issued invoice (409 ``already_billed``), a session
    not finished (409 ``session_not_finished``), a no-show fee for a session that was not cancelled
    (409 ``not_cancelled``), an evaluation without the physician's E/M level (409 ``em_code_missing``),
    nothing to bill (409 ``nothing_to_bill``), no diagnosis from a signed evaluation (409 ``no_diagnosis``)
    and a rendering physician without an NPI (409 ``npi_missing``).
    """
    require_role(actor, *BILLING_ROLES)
    now = now or utcnow()
    field, target_id = data.target()
    with unit_of_work(db) as uow:
        billed_sessions, billed_evaluations = _billed_targets_for(uow, actor, data, target_id)
        patient, sessions, plan, evaluation = _targets(uow, actor, data, target_id)
        site = uow.get(Site, patient.site_id)
        assert site is not None
        price_row = _current_price_row(uow, site.id)
        prices = _prices_of(price_row)
        lines: list[dict[str, Any]] = []
        rendering: tuple[int, str, str] | None = None
        if data.kind == "evaluation":
            assert evaluation is not None
            if evaluation.id in billed_evaluations:
                raise Conflict(f"this evaluation is billed on invoice {billed_evaluations[evaluation.id]}",
                               code="already_billed", field=field)
            em = _em_code_of(uow, evaluation.id)
            if em is None:
                raise Conflict("the physician has not chosen the E/M level of this evaluation yet",
                               code="em_code_missing", field=field)
            on = _local_date(evaluation.signed_at or evaluation.created_at, tz)
            lines = [{**price_line(code_lines(CodesRequest(infusion_minutes=0, em_code=em))[0], prices).as_dict(),
                      "date": on.isoformat()}]
            rendering = _rendering(uow, evaluation.signed_by, "evaluation")
            dates = [on]
        elif data.kind == "no_show":
            session = sessions[0]
            if session.state != "cancelled":
                raise Conflict("a no-show fee is for a cancelled session", code="not_cancelled", field=field)
            if session.id in billed_sessions:
                raise Conflict(f"this session is billed on invoice {billed_sessions[session.id]}",
                               code="already_billed", field=field)
            on = _local_date(session.scheduled_at, tz)
            lines = [{**no_show_line(prices).as_dict(), "date": on.isoformat(), "session_id": session.id}]
            dates = [on]
        else:
            wanted = [s for s in sessions if s.state == "discharged"]
            already = [s for s in wanted if s.id in billed_sessions]
            if data.kind == "session":
                if sessions[0].state != "discharged":
                    raise Conflict("only a discharged session is billed (its record is complete)",
                                   code="session_not_finished", field=field)
                if already:
                    raise Conflict(f"this session is billed on invoice {billed_sessions[already[0].id]}",
                                   code="already_billed", field=field)
            wanted = [s for s in wanted if s.id not in billed_sessions]
            if not wanted:
                raise Conflict("every finished session of this course is billed already" if already else
                               "this course has no finished session to bill", code="nothing_to_bill", field=field)
            dates = []
            for session in wanted:
                coding = session_coding(uow, session, now)
                on = _local_date(session.started_at or session.scheduled_at, tz)
                dates.append(on)
                lines.extend(session_lines(coding, prices, on))
            signer = plan.signed_by if plan is not None else None
            rendering = _rendering(uow, signer, "plan")
            sessions = wanted
        diagnoses = _diagnoses(evaluation or _signed_evaluation(uow, patient.id, plan.evaluation_id if plan else None))
        if data.kind != "no_show" and not diagnoses:
            raise Conflict("no ICD-10-CM diagnosis: the superbill takes them from the patient's signed evaluation",
                           code="no_diagnosis", field=field)
        total = sum(int(line["amount_cents"]) for line in lines)
        invoice = Invoice(
            number=_next_number(uow, site), revision=1, status="issued", kind=data.kind, site_id=site.id,
            patient_id=patient.id, plan_id=plan.id if plan else None,
            evaluation_id=evaluation.id if evaluation else None,
            session_ids=[s.id for s in sessions] if data.kind != "evaluation" else [],
            service_from=min(dates), service_to=max(dates), lines=lines, diagnoses=diagnoses,
            place_of_service=prices.place_of_service, rendering_user_id=rendering[0] if rendering else None,
            rendering_name=rendering[1] if rendering else None, rendering_npi=rendering[2] if rendering else None,
            price_list_id=price_row.id if price_row else None, currency=prices.currency, total_cents=total,
            created_at=now, created_by=actor.user_id)
        uow.add(invoice)
        uow.flush()
        audit(uow, actor, "invoice.issue", "patient", patient.id, {
            "invoice": invoice.number, "kind": invoice.kind, "total_cents": total,
            "codes": [f"{line['code']}x{line['units']}" for line in lines if line["code"]],
            "session_ids": invoice.session_ids})
        return _invoice_view(uow, invoice, [])


def _billed_targets_for(uow: Session, actor: Actor, data: InvoiceIn, target_id: int) -> tuple[dict[int, str], dict[int, str]]:
    patient_id = _patient_of_target(uow, data, target_id)
    load_patient(uow, actor, patient_id)
    # One biller at a time per patient (PostgreSQL row lock, held to the commit): a second invoice for the same
    # session waits, then sees it billed (409 already_billed) instead of billing it twice.
    uow.execute(select(Patient.id).where(Patient.id == patient_id).with_for_update())
    return _billed_targets(uow, patient_id)


def _patient_of_target(uow: Session, data: InvoiceIn, target_id: int) -> int:
    model: Any = {"session": InfusionSession, "no_show": InfusionSession, "course": Plan,
                  "evaluation": Evaluation}[data.kind]
    row = uow.get(model, target_id)
    if row is None:
        what = {"session": "session", "no_show": "session", "course": "plan", "evaluation": "evaluation"}[data.kind]
        raise NotFound(f"{what} not found")
    return int(row.patient_id)


def _targets(uow: Session, actor: Actor, data: InvoiceIn, target_id: int
             ) -> tuple[Patient, list[InfusionSession], Plan | None, Evaluation | None]:
    if data.kind in ("session", "no_show"):
        session = uow.get(InfusionSession, target_id)
        assert session is not None
        patient = load_patient(uow, actor, session.patient_id)
        return patient, [session], uow.get(Plan, session.plan_id), None
    if data.kind == "course":
        plan = uow.get(Plan, target_id)
        assert plan is not None
        patient = load_patient(uow, actor, plan.patient_id)
        sessions = list(uow.execute(select(InfusionSession).where(InfusionSession.plan_id == plan.id)
                                    .order_by(InfusionSession.scheduled_at, InfusionSession.id)).scalars())
        return patient, sessions, plan, None
    evaluation = uow.get(Evaluation, target_id)
    assert evaluation is not None
    patient = load_patient(uow, actor, evaluation.patient_id)
    if evaluation.status != "signed":
        raise Conflict("only a signed evaluation is billed", code="evaluation_unsigned", field="evaluation_id")
    return patient, [], None, evaluation


def get_invoice(db: Database, actor: Actor, number: str) -> InvoiceView:
    require_role(actor, *BILLING_ROLES)
    with unit_of_work(db) as uow:
        invoice, _ = _load_invoice(uow, actor, number)
        view = _invoice_view(uow, invoice, _payments(uow, number))
        audit(uow, actor, "invoice.read", "patient", invoice.patient_id, {"invoice": number})
        return view


def void_invoice(db: Database, actor: Actor, number: str, data: ReasonIn, *, now: datetime | None = None) -> InvoiceView:
    """Void an invoice: a new revision (``void``) with the reason; refused while money is kept on it (refund first)."""
    require_role(actor, *BILLING_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        invoice, _ = _load_invoice(uow, actor, number)
        if invoice.status == "void":
            raise Conflict("this invoice is void already", code="invoice_void")
        payments = _payments(uow, number)
        if paid_cents(payments) > 0:
            raise Conflict("money is kept on this invoice: refund it first, then void", code="invoice_paid")
        void = Invoice(**{c: getattr(invoice, c) for c in (
            "number", "kind", "site_id", "patient_id", "plan_id", "evaluation_id", "session_ids", "service_from",
            "service_to", "lines", "diagnoses", "place_of_service", "rendering_user_id", "rendering_name",
            "rendering_npi", "price_list_id", "currency", "total_cents")},
            revision=invoice.revision + 1, replaces_id=invoice.id, status="void", reason=data.reason, created_at=now,
            created_by=actor.user_id)
        uow.add(void)
        uow.flush()  # a second void of the same revision breaks replaces_id's uniqueness: 409
        audit(uow, actor, "invoice.void", "patient", invoice.patient_id, {"invoice": number, "reason": data.reason})
        return _invoice_view(uow, void, payments)


def _add_payment(uow: Session, actor: Actor, invoice: Invoice, now: datetime, **fields: Any) -> Payment:
    payment = Payment(site_id=invoice.site_id, patient_id=invoice.patient_id, invoice_number=invoice.number,
                      created_at=now, created_by=actor.user_id, **fields)
    uow.add(payment)
    uow.flush()
    return payment


def record_payment(db: Database, actor: Actor, number: str, data: PaymentIn, *, now: datetime | None = None) -> InvoiceView:
    """Money received (recorded by hand). Refused on a void invoice and beyond the balance (409 ``overpayment``)."""
    require_role(actor, *BILLING_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        invoice, _ = _load_invoice(uow, actor, number)
        if invoice.status == "void":
            raise Conflict("this invoice is void: no payment is taken on it", code="invoice_void")
        payments = _payments(uow, number)
        balance = invoice.total_cents - paid_cents(payments)
        if data.amount_cents > balance:
            raise Conflict(f"the balance is {money(balance, invoice.currency)}: a payment is at most the balance",
                           code="overpayment", field="amount_cents")
        received = data.received_at or now
        if received > now:
            raise ValidationFailed("a payment is recorded when it was received, not in the future", field="received_at")
        payment = _add_payment(uow, actor, invoice, now, kind="payment", method=data.method,
                               amount_cents=data.amount_cents, reference=data.reference, received_at=received)
        audit(uow, actor, "payment.record", "patient", invoice.patient_id, {
            "invoice": number, "payment_id": payment.id, "amount_cents": data.amount_cents, "method": data.method})
        return _invoice_view(uow, invoice, [*payments, payment])


def record_refund(db: Database, actor: Actor, number: str, data: RefundIn, *, now: datetime | None = None) -> InvoiceView:
    """Money given back, with its reason; at most what is kept on the invoice (409 ``refund_exceeds_paid``)."""
    require_role(actor, *BILLING_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        invoice, _ = _load_invoice(uow, actor, number)
        payments = _payments(uow, number)
        kept = paid_cents(payments)
        if data.amount_cents > kept:
            raise Conflict(f"{money(kept, invoice.currency)} is kept on this invoice: a refund is at most that",
                           code="refund_exceeds_paid", field="amount_cents")
        refund = _add_payment(uow, actor, invoice, now, kind="refund", method=data.method,
                              amount_cents=data.amount_cents, reason=data.reason, reference=data.reference,
                              received_at=now)
        audit(uow, actor, "payment.refund", "patient", invoice.patient_id, {
            "invoice": number, "payment_id": refund.id, "amount_cents": data.amount_cents, "reason": data.reason})
        return _invoice_view(uow, invoice, [*payments, refund])


def reverse_payment(db: Database, actor: Actor, payment_id: int, data: ReasonIn,
                    *, now: datetime | None = None) -> InvoiceView:
    """Withdraw a payment or refund recorded in error: a reversal row naming it (once; never of a reversal)."""
    require_role(actor, *BILLING_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        original = uow.get(Payment, payment_id)
        if original is None or not may_see_site(actor, original.site_id):
            raise NotFound("payment not found")
        invoice, _ = _load_invoice(uow, actor, original.invoice_number)
        if original.kind == "reversal":
            raise Conflict("a reversal is not reversed: record the payment again", code="reversal_of_reversal")
        payments = _payments(uow, invoice.number)
        if any(p.reverses_id == original.id for p in payments):
            raise Conflict("this entry is reversed already", code="already_reversed")
        if original.kind == "payment" and paid_cents(payments) < original.amount_cents:
            raise Conflict("part of this payment was refunded: reverse the refund first", code="refunded")
        if original.kind == "refund" and invoice.total_cents - paid_cents(payments) < original.amount_cents:
            raise Conflict("reversing this refund would take more than the balance", code="overpayment")
        reversal = _add_payment(uow, actor, invoice, now, kind="reversal", method=original.method,
                                amount_cents=original.amount_cents, reason=data.reason, reverses_id=original.id,
                                received_at=now)
        audit(uow, actor, "payment.reverse", "patient", invoice.patient_id, {
            "invoice": invoice.number, "payment_id": reversal.id, "reverses_id": original.id, "reason": data.reason})
        return _invoice_view(uow, invoice, [*payments, reversal])


def _summary(uow: Session, invoice: Invoice, patient: Patient, paid: int) -> InvoiceSummary:
    balance = invoice.total_cents - paid if invoice.status == "issued" else 0
    return InvoiceSummary(number=invoice.number, status=invoice.status, kind=invoice.kind, site_id=invoice.site_id,
                          patient_id=invoice.patient_id, patient_name=_patient_name(patient),
                          service_from=invoice.service_from, service_to=invoice.service_to,
                          total_cents=invoice.total_cents, balance_cents=balance,
                          total=money(invoice.total_cents, invoice.currency), balance=money(balance, invoice.currency),
                          created_at=invoice.created_at)


def list_invoices(db: Database, actor: Actor, *, limit: int | None = None, cursor: str | None = None,
                  site_id: int | None = None, open_only: bool = False) -> Page[InvoiceSummary]:
    """The invoices of the actor's sites, newest first (the current revision of each); ``open_only``: a balance due."""
    require_role(actor, *BILLING_ROLES)
    limit = clamp_limit(limit)
    before = cursor_int(cursor, "before")
    with unit_of_work(db) as uow:
        sites = [site_id] if site_id is not None else list(actor.site_ids)
        if site_id is not None and not may_see_site(actor, site_id):
            raise NotFound("site not found")
        replaced = select(Invoice.replaces_id).where(Invoice.replaces_id.is_not(None))
        query = select(Invoice).where(Invoice.id.not_in(replaced)).order_by(Invoice.id.desc())
        if actor.role != "system" or site_id is not None:
            query = query.where(Invoice.site_id.in_(sites))
        if before is not None:
            query = query.where(Invoice.id < before)
        if open_only:
            query = query.where(Invoice.status == "issued")
        rows: list[Invoice] = []
        paid: dict[str, int] = {}
        scanned: Invoice | None = None
        for _ in range(OPEN_SCAN_CHUNKS):  # open_only filters on the balance, which the query cannot see
            keyset = query.where(Invoice.id < scanned.id) if scanned is not None else query
            chunk = list(uow.execute(keyset.limit(limit + 1)).scalars())
            if not chunk:
                break
            numbers = [r.number for r in chunk]
            by_number: dict[str, list[Payment]] = {}
            for p in uow.execute(select(Payment).where(Payment.invoice_number.in_(numbers))).scalars():
                by_number.setdefault(p.invoice_number, []).append(p)
            for r in chunk:
                scanned = r
                paid[r.number] = paid_cents(by_number.get(r.number, []))
                if not open_only or r.total_cents - paid[r.number] > 0:
                    rows.append(r)
                if len(rows) > limit:
                    break
            if len(rows) > limit or len(chunk) <= limit:
                break
        else:  # issue 17: at most OPEN_SCAN_CHUNKS reads a page; the next page goes on from the last invoice read
            if scanned is not None and len(rows) <= limit:
                patients = {p.id: p for p in uow.execute(select(Patient).where(
                    Patient.id.in_({r.patient_id for r in rows}))).scalars()}
                audit(uow, actor, "invoice.list", None, None, {"count": len(rows), "open_only": open_only})
                return Page(items=[_summary(uow, r, patients[r.patient_id], paid[r.number]) for r in rows],
                            next_cursor=encode_cursor({"before": scanned.id}))
        patients = {p.id: p for p in uow.execute(select(Patient).where(
            Patient.id.in_({r.patient_id for r in rows}))).scalars()}
        page = page_of(rows, limit, lambda r: _summary(uow, r, patients[r.patient_id], paid[r.number]), key="before")
        audit(uow, actor, "invoice.list", None, None, {"count": len(page.items), "open_only": open_only})
        return page


def patient_billing(db: Database, actor: Actor, patient_id: int, *, tz: tzinfo = UTC) -> PatientBilling:
    """What of one patient can be billed (finished sessions, courses, signed evaluations, cancelled sessions) and
    their invoices: labels carry dates and codes only."""
    require_role(actor, *BILLING_ROLES)
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, patient_id)
        billed_sessions, billed_evaluations = _billed_targets(uow, patient_id)
        sessions = list(uow.execute(select(InfusionSession).where(InfusionSession.patient_id == patient_id)
                                    .order_by(InfusionSession.scheduled_at.desc())).scalars())
        items: list[Billable] = []
        plan_ids: list[int] = []
        for s in sessions:
            on = _local_date(s.started_at or s.scheduled_at, tz)
            if s.state == "discharged":
                items.append(Billable(kind="session", target_id=s.id, label=f"Infusion session of {on.isoformat()}",
                                      on_date=on, billed_on=billed_sessions.get(s.id)))
                if s.plan_id not in plan_ids:
                    plan_ids.append(s.plan_id)
            elif s.state == "cancelled":
                items.append(Billable(kind="no_show", target_id=s.id,
                                      label=f"Cancelled session of {on.isoformat()} (no-show fee)", on_date=on,
                                      billed_on=billed_sessions.get(s.id)))
        for plan_id in plan_ids:
            done = [s for s in sessions if s.plan_id == plan_id and s.state == "discharged"]
            unbilled = [s for s in done if s.id not in billed_sessions]
            items.append(Billable(kind="course", target_id=plan_id,
                                  label=f"Course (plan #{plan_id}): {len(done)} finished session(s), "
                                        f"{len(unbilled)} not billed yet", on_date=None,
                                  billed_on=None if unbilled else "all sessions billed"))
        for e in uow.execute(select(Evaluation).where(Evaluation.patient_id == patient_id,
                                                      Evaluation.status == "signed")
                             .order_by(Evaluation.id.desc())).scalars():
            on = _local_date(e.signed_at or e.created_at, tz)
            em = _em_code_of(uow, e.id)
            items.append(Billable(kind="evaluation", target_id=e.id,
                                  label=f"Evaluation of {on.isoformat()}: " + (f"E/M {em}" if em else
                                                                               "E/M level not chosen yet"),
                                  on_date=on, billed_on=billed_evaluations.get(e.id)))
        invoices = [_summary(uow, r, patient, paid_cents(_payments(uow, r.number)))
                    for r in reversed(_current_invoices(uow, patient_id))]
        audit(uow, actor, "billing.patient", "patient", patient_id, {"invoices": len(invoices)})
        return PatientBilling(patient_id=patient_id, patient_name=_patient_name(patient), site_id=patient.site_id,
                              billable=items, invoices=invoices)


# --- documents ---------------------------------------------------------------------------------------


def document_context(uow: Session, view: InvoiceView) -> dict[str, Any]:
    """What the superbill and receipt builders need beyond the invoice (the site, the prices' identifiers)."""
    site = uow.get(Site, view.site_id)
    invoice = uow.get(Invoice, view.id)
    assert site is not None and invoice is not None
    row = uow.get(PriceList, invoice.price_list_id) if invoice.price_list_id else None
    prices = _prices_of(row)
    patient = uow.get(Patient, view.patient_id)
    assert patient is not None
    return {"site_name": site.name, "site_address": getattr(site, "address", None), "billing_npi": prices.billing_npi,
            "tax_id": prices.tax_id, "demo": str(patient.family_name).endswith(DEMO_MARK),
            "conventions": CONVENTIONS,
            "sources": {sid: get_source(sid).citation() for sid in sorted(
                {line.source for line in view.lines} | {ICD10CM_SOURCE, POS_SOURCE, NPI_SOURCE})}}


def my_invoices(db: Database, actor: Actor) -> list[InvoiceSummary]:
    """The signed-in patient's own issued invoices, newest first (the portal's billing page). Audited."""
    require_role(actor, *PORTAL_ROLES)
    if actor.patient_id is None:
        raise NotFound("patient not found")
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, actor.patient_id)
        rows = [r for r in reversed(_current_invoices(uow, patient.id)) if r.status == "issued"]
        out = [_summary(uow, r, patient, paid_cents(_payments(uow, r.number))) for r in rows]
        audit(uow, actor, "invoice.list_own", "patient", patient.id, {"count": len(out)})
        return out


def billing_document(db: Database, actor: Actor, number: str, which: Literal["superbill", "receipt"],
                     *, now: datetime | None = None, tz: tzinfo = UTC) -> tuple[str, bytes]:
    """The superbill or receipt of an invoice as PDF: (file name, bytes). Audited."""
    from ketaclinic.reports.superbill import (  # WeasyPrint loads only for documents
        build_receipt,
        build_superbill,
    )
    from ketaclinic.services.clinic_settings import current

    require_role(actor, *BILLING_ROLES, *PORTAL_ROLES)  # a patient: their own invoices (_load_invoice)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        invoice, _ = _load_invoice(uow, actor, number)
        if actor.is_patient and invoice.status != "issued":
            raise NotFound("invoice not found")
        view = _invoice_view(uow, invoice, _payments(uow, number))
        context = document_context(uow, view)
        clinic_name = current(uow)[1].clinic_name
        audit(uow, actor, f"invoice.{which}", "patient", invoice.patient_id, {"invoice": number})
    view = view.model_copy(update={  # a document prints its dates in the clinic's zone
        "created_at": view.created_at.astimezone(tz),
        "payments": [p.model_copy(update={"received_at": p.received_at.astimezone(tz)}) for p in view.payments]})
    builder = build_superbill if which == "superbill" else build_receipt
    pdf = builder(view, context, clinic_name=clinic_name, generated_at=now.astimezone(tz),
                  generated_by=actor.username or "ketaclinic")
    return f"{which}-{number}.pdf", pdf


CSV_COLUMNS = ("date", "site", "entry", "invoice", "revision", "patient_id", "kind", "method", "amount", "currency",
               "reference", "reason", "codes")


def bookkeeper_csv(db: Database, actor: Actor, start: date, end: date, *, tz: tzinfo = UTC,
                   site_id: int | None = None) -> str:
    """Every invoice issued or voided and every payment, refund and reversal from ``start`` to ``end`` (clinic dates),
    one row each, at the actor's sites: codes and amounts, no clinical detail."""
    require_role(actor, *BILLING_ROLES)
    if end < start:
        raise ValidationFailed("the end date is before the start date", field="end")
    if (end - start).days > 366:
        raise ValidationFailed("export at most one year at a time", field="end")
    low = datetime.combine(start, time.min, tz).astimezone(UTC)
    high = datetime.combine(end, time.max, tz).astimezone(UTC)
    with unit_of_work(db) as uow:
        if site_id is not None and not may_see_site(actor, site_id):
            raise NotFound("site not found")
        sites = [site_id] if site_id is not None else list(actor.site_ids)
        names = {s.id: s.code for s in uow.execute(select(Site)).scalars()}
        invoices = list(uow.execute(select(Invoice).where(Invoice.created_at >= low, Invoice.created_at <= high,
                                                          Invoice.site_id.in_(sites)).order_by(Invoice.id)).scalars())
        payments = list(uow.execute(select(Payment).where(Payment.created_at >= low, Payment.created_at <= high,
                                                          Payment.site_id.in_(sites)).order_by(Payment.id)).scalars())
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        rows: list[tuple[datetime, list[Any]]] = []
        for i in invoices:
            amount = i.total_cents if i.status == "issued" else -i.total_cents
            codes = " ".join(f"{line['code']}x{line['units']}" for line in i.lines if line.get("code"))
            rows.append((i.created_at, [i.created_at.astimezone(tz).date().isoformat(), names.get(i.site_id),
                                        "invoice" if i.status == "issued" else "invoice_void", i.number, i.revision,
                                        i.patient_id, i.kind, "", f"{amount / 100:.2f}", i.currency, "",
                                        _csv_text(i.reason), codes]))
        currency = {i.number: i.currency for i in invoices}
        for p in payments:
            sign = -1 if p.kind == "refund" else 1
            rows.append((p.created_at, [p.received_at.astimezone(tz).date().isoformat(), names.get(p.site_id), p.kind,
                                        p.invoice_number, "", p.patient_id,
                                        f"reverses #{p.reverses_id}" if p.reverses_id else "", p.method,
                                        f"{sign * p.amount_cents / 100:.2f}", currency.get(p.invoice_number, "USD"),
                                        _csv_text(p.reference), _csv_text(p.reason), ""]))
        for _, row in sorted(rows, key=lambda r: r[0]):
            writer.writerow(row)
        audit(uow, actor, "billing.csv", None, None, {"start": start.isoformat(), "end": end.isoformat(),
                                                       "rows": len(rows)})
        return out.getvalue()


def _csv_text(value: str | None) -> str:
    """Text for a spreadsheet: a leading = + - @ would run as a formula, so it is quoted with an apostrophe."""
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# --- the staff record's NPI --------------------------------------------------------------------------


def check_npi(value: str | None) -> str | None:
    """A typed NPI checked (CMS Luhn rule) for the staff record; raises 422 naming ``npi``."""
    try:
        return clean_npi(value)
    except BillingInputError as error:
        raise ValidationFailed(str(error), field="npi") from None


class Unbilled(BaseModel):
    session_id: int
    patient_id: int
    patient_name: str
    on_date: date


OPEN_SCAN_CHUNKS = 5  # "balance due" reads at most 5 pages of invoices per page shown (the cursor goes on)
UNBILLED_WINDOW = 5  # the desk's to-do looks at 5x its length of the newest finished sessions


def unbilled_sessions(db: Database, actor: Actor, *, limit: int = 20, tz: tzinfo = UTC) -> list[Unbilled]:
    """The newest discharged sessions at the actor's sites that no issued invoice bills (the billing desk's to-do).

    Bounded (issue 17): the newest ``5 * limit`` discharged sessions by the ``started_at`` index, then the
    invoices of just their patients (the ``patient_id`` index), never every invoice of the sites."""
    require_role(actor, *BILLING_ROLES)
    with unit_of_work(db) as uow:
        query = (select(InfusionSession, Patient).join(Patient, Patient.id == InfusionSession.patient_id)
                 .where(InfusionSession.state == "discharged", InfusionSession.site_id.in_(actor.site_ids),
                        InfusionSession.started_at.is_not(None))  # a discharged session started; NULLs sort first
                 .order_by(InfusionSession.started_at.desc()))  # no tiebreak: the index alone gives the order
        candidates = list(uow.execute(query.limit(limit * UNBILLED_WINDOW)).tuples())
        invoices = list(uow.execute(select(Invoice.id, Invoice.replaces_id, Invoice.status, Invoice.session_ids).where(
            Invoice.patient_id.in_({session.patient_id for session, _ in candidates}))).all()) if candidates else []
        replaced = {row.replaces_id for row in invoices if row.replaces_id is not None}
        billed = {int(i) for row in invoices if row.status == "issued" and row.id not in replaced
                  for i in row.session_ids}
        out: list[Unbilled] = []
        for session, patient in candidates:
            if session.id in billed:
                continue
            out.append(Unbilled(session_id=session.id, patient_id=patient.id, patient_name=_patient_name(patient),
                                on_date=_local_date(session.started_at or session.scheduled_at, tz)))
            if len(out) >= limit:
                break
        audit(uow, actor, "billing.unbilled", None, None, {"count": len(out)})
        return out


# --- the demo clinic ---------------------------------------------------------------------------------

DEMO_NPI = "1234567893"  # the CMS check-digit example (a synthetic NPI that passes the Luhn check)


def seed_demo(db: Database, *, now: datetime, tz: tzinfo = UTC) -> int:
    """The demo clinic's billing (issue 15): a synthetic price list per site, the demo physician's NPI, invoices for
    recent finished sessions (some paid in full, some in part, one refunded). Idempotent; returns the invoices made."""
    from ketaclinic.services.auth import actor_for
    from ketaclinic.services.errors import ServiceError

    with unit_of_work(db) as uow:
        if uow.execute(select(PriceList.id).limit(1)).first() is not None:
            return 0
        users = {u.username: u for u in uow.execute(select(User).where(
            User.username.in_(("admin", "physician", "coordinator")))).scalars()}
        if len(users) < 3:
            return 0
        if not users["physician"].npi:
            users["physician"].npi = DEMO_NPI
            audit(uow, Actor.system("demo"), "user.update", "user", users["physician"].id, {"changed": ["npi"]})
        sites = [s.id for s in uow.execute(select(Site).order_by(Site.id)).scalars()]
        actors = {name: actor_for(users[name], "local") for name in ("admin", "coordinator")}
    made = 0
    for site_id in sites:
        admin = replace_sites(actors["admin"], site_id)
        coordinator = replace_sites(actors["coordinator"], site_id)
        save_price_list(db, admin, site_id, 0, PriceListIn(prices=PriceListData(
            billing_npi=None, tax_id="00-0000000", adjunct_cents={"ondansetron": 1500, "midazolam": 1200}),
            note="Synthetic demo price list (every price is the clinic's own choice)"), now=now)
        with db.reading() as uow:
            recent = list(uow.execute(select(InfusionSession.id).where(
                InfusionSession.site_id == site_id, InfusionSession.state == "discharged")
                .order_by(InfusionSession.discharged_at.desc()).limit(8)).scalars())
        for index, session_id in enumerate(recent):
            try:
                view = create_invoice(db, coordinator, InvoiceIn(kind="session", session_id=session_id), now=now, tz=tz)
            except ServiceError:
                continue
            made += 1
            if index % 3 == 0:
                record_payment(db, coordinator, view.number, PaymentIn(amount_cents=view.total_cents, method="card",
                                                                       reference=f"SYN-SLIP-{view.id}"), now=now)
            elif index % 3 == 1:
                record_payment(db, coordinator, view.number, PaymentIn(amount_cents=view.total_cents // 2,
                                                                       method="cash"), now=now)
            if index == 3:  # billed in error: the payment is refunded, then the invoice voided (both stay on record)
                record_refund(db, coordinator, view.number, RefundIn(
                    amount_cents=view.total_cents, method="card", reason="Synthetic demo: billed in error"), now=now)
                void_invoice(db, coordinator, view.number, ReasonIn(reason="Synthetic demo: billed in error"), now=now)
    return made


def replace_sites(actor: Actor, site_id: int) -> Actor:
    from dataclasses import replace

    return replace(actor, site_ids=(site_id,))
