"""Consent (issue 13, design.md 4.9): versioned documents, signatures, withdrawal, and the start guard.

- **Documents**: the admin saves a new version (title, text, who reviewed it); every version stays
  readable. Version 1 is the default text (:mod:`ketaclinic.clinical.consent`), marked as the template
  the medical director must review.
- **Signing**: the patient signs the current version in the portal, or on the clinic's tablet while a
  physician, nurse or coordinator is signed in (that staff member is the witness). The signature holds
  the typed name, the drawn mark (SVG), the time, the version and the SHA-256 of the text the patient
  saw: a signature sent for a version that is no longer current, or with another hash, is refused
  (409 ``consent_document_changed``). When the clinic requires a witness, the portal refuses
  (409 ``witness_required``). Append-only and audited.
- **Withdrawal**: the patient (or clinical staff on their word) withdraws a signature; it no longer counts.
- **The guard** (:func:`consent_refusal`, called by ``sessions.start_session``): a course's first
  infusion needs a valid signature of the **current** version (so a new version asks for re-consent at
  the next course); a later infusion of the same course needs a signature that is not withdrawn.
  Otherwise the start is refused with 409 ``consent_required``.
- **Contact**: whether the patient consented to be contacted and opted out of reminders
  (``patients.contact_consent`` / ``reminders_opt_out``); nothing is sent without consent
  (services/reminders.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.clinical.checklist import ConsentFacts
from ketaclinic.clinical.consent import (
    SignatureInvalid,
    clean_signature_svg,
    consent_holds,
    document_sha256,
    is_template,
)
from ketaclinic.clock import utcnow
from ketaclinic.interop.consent import ConsentRow, consent_resource
from ketaclinic.records.consent import ConsentDocument, ConsentSignature, ConsentWithdrawal
from ketaclinic.records.db import Database
from ketaclinic.records.patients import DEMO_MARK, Patient
from ketaclinic.records.sessions import InfusionSession
from ketaclinic.reports.consent import ConsentSnapshot, attached_consent_pdf, consent_pdf
from ketaclinic.services import clinic_settings
from ketaclinic.services.common import audit, get_or_404, require_role, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Conflict, NotFound, PreconditionRequired, ValidationFailed
from ketaclinic.services.patients import load_patient
from ketaclinic.services.staff import staff_names
from ketaclinic.services.types import ID_MAX, Text

SIGN_ROLES = ("patient", "physician", "nurse", "coordinator")  # the patient signs; staff hold the tablet
READ_ROLES = ("patient", "physician", "nurse", "coordinator", "admin")
WITHDRAW_ROLES = ("patient", "physician", "nurse")
CONTACT_ROLES = ("patient", "physician", "nurse", "coordinator")


# --- views ----------------------------------------------------------------------------------------


class DocumentView(BaseModel):
    id: int
    version: int
    title: str
    body: str
    sha256: str
    reviewed_by: str | None
    template: bool = Field(description="still the unreviewed template: the medical director must review it")
    note: str | None
    created_at: datetime


class DocumentIn(BaseModel):
    """A new version of the consent document (admin)."""

    model_config = ConfigDict(extra="forbid")
    title: Text = Field(min_length=3, max_length=200)
    body: str = Field(min_length=50, max_length=60_000)
    reviewed_by: Text | None = Field(default=None, max_length=200,
                                     description="the medical director who reviewed this text (empty: not reviewed)")
    note: Text | None = Field(default=None, max_length=2000, description="what changed and why")


class SignIn(BaseModel):
    """A signature of the document version the signer read."""

    model_config = ConfigDict(extra="forbid")
    document_version: int = Field(ge=1, le=ID_MAX)
    document_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    typed_name: Text = Field(min_length=2, max_length=200)
    signature_svg: str = Field(min_length=20, max_length=400_000, description="the drawn mark (signature pad SVG)")

    @field_validator("typed_name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = " ".join(value.split())
        if len(value) < 2:
            raise ValueError("type your full name")
        return value


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text | None = Field(default=None, max_length=2000)


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_consent: bool = Field(description="the patient agrees to be contacted (e-mail reminders, confirmations)")
    reminders_opt_out: bool = Field(default=False, description="the patient does not want appointment reminders")


class ContactView(BaseModel):
    patient_id: int
    contact_consent: bool
    contact_consent_at: datetime | None
    reminders_opt_out: bool
    email: str | None


class SignatureView(BaseModel):
    id: int
    patient_id: int
    document_version: int
    document_sha256: str
    typed_name: str
    signed_at: datetime
    channel: Literal["portal", "tablet"]
    witness_name: str | None
    withdrawn_at: datetime | None
    withdrawal_reason: str | None
    current_version: bool


class ConsentStatus(BaseModel):
    """Where a patient stands: ``state`` is ``valid`` (signed the current version), ``outdated`` (signed an
    earlier version: re-consent at the next course), ``withdrawn`` or ``none``."""

    patient_id: int
    state: Literal["valid", "outdated", "withdrawn", "none"]
    current: DocumentView
    signature: SignatureView | None  # the newest signature that is not withdrawn (or the newest withdrawn one)
    history: list[SignatureView]
    witness_required: bool


def _document_view(row: ConsentDocument) -> DocumentView:
    return DocumentView(id=row.id, version=row.version, title=row.title, body=row.body, sha256=row.sha256,
                        reviewed_by=row.reviewed_by, template=row.reviewed_by is None and is_template(row.body),
                        note=row.note, created_at=row.created_at)


def current_document_row(uow: Session) -> ConsentDocument:
    row = uow.execute(select(ConsentDocument).order_by(ConsentDocument.version.desc()).limit(1)).scalar_one_or_none()
    if row is None:
        raise Conflict("the clinic has no consent document: run `ketaclinic migrate`", code="no_consent_document")
    return row


def _signatures(uow: Session, patient_id: int, current_version: int) -> list[SignatureView]:
    rows = list(uow.execute(select(ConsentSignature).where(ConsentSignature.patient_id == patient_id)
                            .order_by(ConsentSignature.id.desc())).scalars())
    withdrawals = {w.signature_id: w for w in uow.execute(
        select(ConsentWithdrawal).where(ConsentWithdrawal.patient_id == patient_id)).scalars()}
    return [SignatureView(
        id=r.id, patient_id=r.patient_id, document_version=r.document_version, document_sha256=r.document_sha256,
        typed_name=r.typed_name, signed_at=r.signed_at, channel=r.channel,  # type: ignore[arg-type]
        witness_name=r.witness_name,
        withdrawn_at=withdrawals[r.id].withdrawn_at if r.id in withdrawals else None,
        withdrawal_reason=withdrawals[r.id].reason if r.id in withdrawals else None,
        current_version=r.document_version == current_version) for r in rows]


def status_in(uow: Session, patient_id: int) -> ConsentStatus:
    """The patient's consent state in a session the caller opened (no audit entry)."""
    document = current_document_row(uow)
    history = _signatures(uow, patient_id, document.version)
    standing = [s for s in history if s.withdrawn_at is None]
    if standing:
        signature = standing[0]
        state = "valid" if signature.current_version else "outdated"
    elif history:
        signature, state = history[0], "withdrawn"
    else:
        signature, state = None, "none"
    return ConsentStatus(patient_id=patient_id, state=state, current=_document_view(document),  # type: ignore[arg-type]
                         signature=signature, history=history,
                         witness_required=clinic_settings.current(uow)[1].consent_witness_required)


def _first_of_course(uow: Session, session: InfusionSession) -> bool:
    """Whether no other session of this course (plan) has started."""
    started = uow.execute(select(InfusionSession.id).where(
        InfusionSession.plan_id == session.plan_id, InfusionSession.id != session.id,
        InfusionSession.started_at.is_not(None)).limit(1)).first()
    return started is None


def checklist_facts(uow: Session, session: InfusionSession) -> dict[str, Any]:
    """The consent facts of the pre-infusion checklist (clinical.checklist.ConsentFacts, as JSON data), read
    from the signatures: the version signed and when, the current version, and whether this is the course's
    first infusion. Part of the session read or write that calls it (no audit entry of its own)."""
    status = status_in(uow, session.patient_id)
    signature = status.signature
    return {"state": status.state, "current_version": status.current.version,
            "signed_version": signature.document_version if signature else None,
            "signed_at": signature.signed_at.isoformat() if signature else None,
            "signature_id": signature.id if signature else None,
            "withdrawn_at": signature.withdrawn_at.isoformat() if signature and signature.withdrawn_at else None,
            "first_of_course": _first_of_course(uow, session)}


def consent_refusal(uow: Session, session: InfusionSession) -> Conflict | None:
    """Why this infusion may not start for want of consent (None: it may)."""
    status = status_in(uow, session.patient_id)
    first = _first_of_course(uow, session)
    if consent_holds(status.state, first):
        return None
    version = status.current.version
    if status.state == "outdated":
        signed = status.signature.document_version if status.signature else "?"
        why = (f"the patient signed consent version {signed} but the current version is {version}: a new course "
               "needs the current version signed")
    elif status.state == "withdrawn":
        why = "the patient withdrew their consent"
    else:
        why = "the patient has not signed the consent document"
    return Conflict(f"Consent required: {why}. The patient signs version {version} in the portal or on the clinic's "
                    "tablet before the infusion starts.", code="consent_required")


# --- service calls ----------------------------------------------------------------------------------


def for_session(db: Database, actor: Actor, session_id: int) -> ConsentFacts:
    """The consent facts the nurse's checklist will read for this session (the console shows them before the
    checklist is recorded). Staff who may see the session; part of the console's audited session read."""
    require_role(actor, "physician", "nurse")
    from ketaclinic.services.sessions import load_session

    with db.reading() as uow:
        return ConsentFacts.model_validate(checklist_facts(uow, load_session(uow, actor, session_id)))



def current_document(db: Database, actor: Actor) -> DocumentView:
    require_role(actor, *READ_ROLES)
    with db.reading() as uow:
        return _document_view(current_document_row(uow))


def list_documents(db: Database, actor: Actor) -> list[DocumentView]:
    """Every version, newest first (staff)."""
    require_role(actor, "admin", "physician", "nurse", "coordinator")
    with db.reading() as uow:
        rows = uow.execute(select(ConsentDocument).order_by(ConsentDocument.version.desc())).scalars().all()
        return [_document_view(r) for r in rows]


def get_document(db: Database, actor: Actor, version: int) -> DocumentView:
    """One version (anyone signed in: a patient reads what they signed)."""
    require_role(actor, *READ_ROLES)
    with db.reading() as uow:
        row = uow.execute(select(ConsentDocument).where(ConsentDocument.version == version)).scalar_one_or_none()
        if row is None:
            raise NotFound("consent document version not found")
        return _document_view(row)


def publish_document(db: Database, actor: Actor, expected_version: int | None, data: DocumentIn,
                     *, now: datetime | None = None) -> DocumentView:
    """Save a new version (admin; If-Match: the current version). Earlier signatures stay as they were;
    the next course asks for the new version."""
    require_role(actor, "admin")
    now = now or utcnow()
    with unit_of_work(db) as uow:
        current = current_document_row(uow)
        if expected_version is None:
            raise PreconditionRequired("send If-Match with the consent document version you last read")
        if expected_version != current.version:
            raise Conflict(f"version {expected_version} is stale: the consent document is at version {current.version}",
                           field="If-Match")
        body = data.body.replace("\r\n", "\n")
        sha = document_sha256(data.title, body)
        if sha == current.sha256 and (data.reviewed_by or None) == current.reviewed_by:
            raise ValidationFailed("nothing changed", code="no_change")
        row = ConsentDocument(version=current.version + 1, title=data.title, body=body, sha256=sha,
                              reviewed_by=data.reviewed_by or None, note=data.note, created_at=now,
                              created_by=actor.user_id)
        uow.add(row)
        uow.flush()  # two admins saving on the same version: the unique version refuses the second (409)
        audit(uow, actor, "consent_document.publish", "consent_document", row.version,
              {"version": row.version, "sha256": sha, "reviewed_by": row.reviewed_by, "note": data.note})
        return _document_view(row)


def consent_status(db: Database, actor: Actor, patient_id: int) -> ConsentStatus:
    require_role(actor, *READ_ROLES)
    with unit_of_work(db) as uow:
        load_patient(uow, actor, patient_id)
        status = status_in(uow, patient_id)
        audit(uow, actor, "consent.read", "patient", patient_id, {"state": status.state})
        return status


def sign(db: Database, actor: Actor, patient_id: int, data: SignIn, *, now: datetime | None = None) -> SignatureView:
    """The patient signs the current version (portal: the patient; tablet: staff signed in, as witness)."""
    require_role(actor, *SIGN_ROLES)
    now = now or utcnow()
    try:
        svg = clean_signature_svg(data.signature_svg)
    except SignatureInvalid as error:
        raise ValidationFailed(str(error), code="signature_invalid", field="signature_svg") from None
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, patient_id)
        document = current_document_row(uow)
        if data.document_version != document.version or data.document_sha256 != document.sha256:
            raise Conflict(f"the consent document changed while it was open (now version {document.version}): read "
                           "the current version and sign again", code="consent_document_changed",
                           field="document_version")
        channel = "portal" if actor.is_patient else "tablet"
        if channel == "portal" and clinic_settings.current(uow)[1].consent_witness_required:
            raise Conflict("the clinic asks for a staff witness: sign on the clinic's tablet at your next visit",
                           code="witness_required")
        witness_name = None
        if channel == "tablet":
            witness_name = staff_names(uow, [actor.user_id]).get(actor.user_id, actor.username or "staff")
        row = ConsentSignature(
            patient_id=patient.id, site_id=patient.site_id, document_id=document.id, document_version=document.version,
            document_sha256=document.sha256, typed_name=data.typed_name, signature_svg=svg, signed_at=now,
            channel=channel, signed_in_user_id=actor.user_id,
            witness_user_id=actor.user_id if channel == "tablet" else None, witness_name=witness_name,
            created_at=now)
        uow.add(row)
        uow.flush()
        audit(uow, actor, "consent.sign", "patient", patient.id, {
            "signature_id": row.id, "document_version": document.version, "document_sha256": document.sha256,
            "channel": channel, "typed_name": data.typed_name, "witness": witness_name})
        return next(s for s in _signatures(uow, patient.id, document.version) if s.id == row.id)


def withdraw(db: Database, actor: Actor, signature_id: int, data: WithdrawIn,
             *, now: datetime | None = None) -> SignatureView:
    """Withdraw a signature (the patient, or a physician or nurse recording the patient's word)."""
    require_role(actor, *WITHDRAW_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        signature = get_or_404(uow, ConsentSignature, signature_id, "consent signature")
        load_patient(uow, actor, signature.patient_id)
        if uow.execute(select(ConsentWithdrawal.id).where(ConsentWithdrawal.signature_id == signature_id)).first():
            raise Conflict("this consent was already withdrawn", code="consent_withdrawn")
        uow.add(ConsentWithdrawal(signature_id=signature_id, patient_id=signature.patient_id, withdrawn_at=now,
                                  recorded_by=actor.user_id, reason=data.reason, created_at=now))
        uow.flush()  # a second withdrawal at the same moment breaks signature_id's uniqueness: 409
        audit(uow, actor, "consent.withdraw", "patient", signature.patient_id,
              {"signature_id": signature_id, "reason": data.reason})
        version = current_document_row(uow).version
        return next(s for s in _signatures(uow, signature.patient_id, version) if s.id == signature_id)


def _snapshot(uow: Session, actor: Actor, signature_id: int, zone: ZoneInfo, now: datetime) -> ConsentSnapshot:
    signature = get_or_404(uow, ConsentSignature, signature_id, "consent signature")
    patient = load_patient(uow, actor, signature.patient_id)
    return _snapshot_of(uow, signature, patient, zone, now, actor.username or "ketaclinic")


ATTACHMENT_AUTHOR = "KetaClinic (the signed document as of its last change)"


def fhir_rows(uow: Session, patient: Patient, zone: ZoneInfo) -> tuple[ConsentRow, ...]:
    """Every signature of the patient, oldest first, with the PDF of what was signed, for the FHIR export
    (``services/fhir.py`` loads them into the chart; the export's audit entry covers the read).

    The attached PDF is the document as it stood at its last change (the signing, or the withdrawal),
    not a fresh print stamped with the export's moment and reader: every export of the same consent
    carries the same bytes and the same ``Attachment.hash``, so a receiver sees an unchanged document
    as unchanged, and the rendering (about 0.3 s, half of a chart's export) is done once per process
    (:func:`ketaclinic.reports.consent.attached_consent_pdf`)."""
    signatures = uow.execute(select(ConsentSignature).where(ConsentSignature.patient_id == patient.id)
                             .order_by(ConsentSignature.id)).scalars().all()
    rows = []
    for signature in signatures:
        snapshot = _attachment_snapshot(uow, signature, patient, zone)
        rows.append(ConsentRow(
            signature_id=signature.id, signed_at=signature.signed_at, typed_name=signature.typed_name,
            withdrawn_at=snapshot.withdrawn_at, document_title=snapshot.title,
            document_version=snapshot.document_version, document_sha256=snapshot.document_sha256,
            pdf=attached_consent_pdf(snapshot)))
    return tuple(rows)


def _attachment_snapshot(uow: Session, signature: ConsentSignature, patient: Patient, zone: ZoneInfo) -> ConsentSnapshot:
    """The snapshot of the attached PDF: stamped with the document's last change, not with who exports it when."""
    withdrawn_at = uow.execute(select(ConsentWithdrawal.withdrawn_at).where(
        ConsentWithdrawal.signature_id == signature.id)).scalar_one_or_none()
    return _snapshot_of(uow, signature, patient, zone, withdrawn_at or signature.signed_at, ATTACHMENT_AUTHOR)


def _snapshot_of(uow: Session, signature: ConsentSignature, patient: Patient, zone: ZoneInfo, now: datetime,
                 generated_by: str) -> ConsentSnapshot:
    document = uow.get(ConsentDocument, signature.document_id)
    assert document is not None
    withdrawal = uow.execute(select(ConsentWithdrawal).where(
        ConsentWithdrawal.signature_id == signature.id)).scalar_one_or_none()
    return ConsentSnapshot(
        clinic_name=clinic_settings.current(uow)[1].clinic_name,
        patient_name=f"{patient.given_name} {patient.family_name}", patient_birth_date=patient.birth_date.isoformat(),
        patient_id=patient.id, title=document.title, body=document.body, document_version=document.version,
        document_sha256=document.sha256, reviewed_by=document.reviewed_by, typed_name=signature.typed_name,
        signature_svg=signature.signature_svg, signed_at=signature.signed_at.astimezone(zone),
        channel=signature.channel, witness_name=signature.witness_name,
        withdrawn_at=withdrawal.withdrawn_at.astimezone(zone) if withdrawal else None,
        withdrawal_reason=withdrawal.reason if withdrawal else None, generated_at=now.astimezone(zone),
        generated_by=generated_by, demo=patient.family_name.endswith(DEMO_MARK))


def signed_pdf(db: Database, actor: Actor, signature_id: int, *, clinic_timezone: str = "UTC",
               now: datetime | None = None) -> bytes:
    """The PDF of a signed consent (the text as signed, the mark, version and hash); the read is audited."""
    require_role(actor, *READ_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        snapshot = _snapshot(uow, actor, signature_id, ZoneInfo(clinic_timezone), now)
        audit(uow, actor, "consent.pdf", "patient", snapshot.patient_id, {"signature_id": signature_id})
    return consent_pdf(snapshot)


def signed_fhir(db: Database, actor: Actor, signature_id: int, *, clinic_timezone: str = "UTC",
                now: datetime | None = None) -> dict[str, Any]:
    """The signed consent as a FHIR ``Consent`` resource with the PDF attached (audited read; the attachment is
    stamped with the consent's last change, so ``now`` does not enter it)."""
    require_role(actor, *READ_ROLES)
    with unit_of_work(db) as uow:
        signature = get_or_404(uow, ConsentSignature, signature_id, "consent signature")
        snapshot = _attachment_snapshot(uow, signature, load_patient(uow, actor, signature.patient_id),
                                        ZoneInfo(clinic_timezone))  # the same attachment as in the chart's export
        audit(uow, actor, "consent.fhir", "patient", snapshot.patient_id, {"signature_id": signature_id})
    return consent_resource(signature_id=signature_id, patient_id=snapshot.patient_id, signed_at=snapshot.signed_at,
                            withdrawn=snapshot.withdrawn_at is not None, typed_name=snapshot.typed_name,
                            document_title=snapshot.title, document_version=snapshot.document_version,
                            document_sha256=snapshot.document_sha256, pdf=attached_consent_pdf(snapshot),
                            organization=snapshot.clinic_name, withdrawn_at=snapshot.withdrawn_at)


def contact_preferences(db: Database, actor: Actor, patient_id: int) -> ContactView:
    require_role(actor, *CONTACT_ROLES, "admin")
    with db.reading() as uow:
        patient = load_patient(uow, actor, patient_id)
        return ContactView(patient_id=patient.id, contact_consent=patient.contact_consent,
                           contact_consent_at=patient.contact_consent_at, reminders_opt_out=patient.reminders_opt_out,
                           email=patient.email)


def set_contact_preferences(db: Database, actor: Actor, patient_id: int, data: ContactIn,
                            *, now: datetime | None = None) -> ContactView:
    """Record the patient's consent to contact and reminder opt-out (the patient, or staff on their word).

    Withdrawing consent to contact, or opting out, cancels every pending message to the patient."""
    require_role(actor, *CONTACT_ROLES)
    now = now or utcnow()
    from ketaclinic.services import reminders

    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, patient_id)
        before = {"contact_consent": patient.contact_consent, "reminders_opt_out": patient.reminders_opt_out}
        if data.contact_consent and not patient.contact_consent:
            patient.contact_consent_at = now
        if not data.contact_consent:
            patient.contact_consent_at = None
        patient.contact_consent = data.contact_consent
        patient.reminders_opt_out = data.reminders_opt_out
        patient.updated_at, patient.updated_by = now, actor.user_id
        cancelled = 0
        if not data.contact_consent or data.reminders_opt_out:
            why = "the patient withdrew consent to contact" if not data.contact_consent else "the patient opted out"
            cancelled = reminders.cancel_pending_for_patient(uow, patient.id, why, now,
                                                             reminders_only=data.contact_consent)
        uow.flush()
        audit(uow, actor, "patient.contact_preferences", "patient", patient.id,
              {"from": before, "to": data.model_dump(), "cancelled_messages": cancelled})
        return ContactView(patient_id=patient.id, contact_consent=patient.contact_consent,
                           contact_consent_at=patient.contact_consent_at, reminders_opt_out=patient.reminders_opt_out,
                           email=patient.email)


# --- the synthetic demo clinic ----------------------------------------------------------------------------

#: The drawn mark of every synthetic demo signature (a plain zig-zag: it is nobody's hand)
DEMO_SIGNATURE_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 300 100" width="300" height="100">'
                      '<path d="M 20,70 C 50,10 80,90 110,40 C 140,10 170,80 210,45 L 270,60" fill="none" '
                      'stroke="rgb(0, 0, 0)" stroke-width="2.5" stroke-linecap="round"/></svg>')


def seed_demo_consent(db: Database, patient_id: int, *, now: datetime, contact: bool = True) -> None:
    """A demo patient signed the current consent on the clinic's tablet and agreed to be contacted
    (``demo.py`` calls this once per patient; everything about it is synthetic)."""
    with unit_of_work(db) as uow:
        patient = uow.get(Patient, patient_id)
        assert patient is not None
        document = current_document_row(uow)
        uow.add(ConsentSignature(
            patient_id=patient.id, site_id=patient.site_id, document_id=document.id, document_version=document.version,
            document_sha256=document.sha256, typed_name=f"{patient.given_name} {patient.family_name}",
            signature_svg=DEMO_SIGNATURE_SVG, signed_at=now, channel="tablet", signed_in_user_id=None,
            witness_user_id=None, witness_name="Synthetic demo witness", created_at=now))
        if contact:
            patient.contact_consent, patient.contact_consent_at = True, now
        uow.flush()
        audit(uow, Actor.system("demo"), "consent.sign", "patient", patient.id,
              {"document_version": document.version, "channel": "tablet", "demo": True, "contact_consent": contact})
