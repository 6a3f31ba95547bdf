"""Evaluations: the pre-treatment assessment, screened by the core, signed by a physician.

The input is the screening document of contract 4.2 (history, medications, conditions, prior
treatments, vitals); :func:`ketaclinic.clinical.screening.screen` runs inside every save and its
result is stored with the rule version that produced it, so a later rule change never silently
rewrites what the physician saw and signed. A draft may be edited (If-Match); a signed
evaluation never changes: a correction is a new evaluation that ``amends`` it (the original stays).

Who: physicians and nurses draft (a nurse often takes the history and vitals); only a
physician signs or amends. Coordinators, patients and admins see no evaluation (design.md 5).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.clinical.dosing import weight_change_flag
from ketaclinic.clinical.screening import RULE_VERSION, ScreeningRequest, screen
from ketaclinic.clock import utcnow
from ketaclinic.records.db import Database
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.patients import PatientWeight
from ketaclinic.services import course_summaries
from ketaclinic.services.common import (
    Page,
    audit,
    check_version,
    clamp_limit,
    cursor_int,
    get_or_404,
    page_of,
    require_role,
    unit_of_work,
)
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Conflict, NotFound, ValidationFailed
from ketaclinic.services.patients import latest_weight, load_patient
from ketaclinic.services.sites import patients_in_sites
from ketaclinic.services.types import RecordId, Text

__all__ = ["RecordId"]  # imported from here by the services written before it moved to services.types
DRAFT_ROLES = ("physician", "nurse")
READ_ROLES = ("physician", "nurse")
SIGN_ROLES = ("physician",)


class EvaluationIn(BaseModel):
    """A new evaluation: the patient and the screening document (contract 4.2)."""

    model_config = ConfigDict(extra="forbid")
    patient_id: RecordId
    screening: ScreeningRequest
    notes: Text | None = Field(default=None, max_length=10000)
    weight_change_acknowledged: bool = False


class EvaluationPatch(BaseModel):
    """A draft edit: the whole screening document again (screening re-runs), and/or the notes."""

    model_config = ConfigDict(extra="forbid")
    screening: ScreeningRequest | None = None
    notes: Text | None = Field(default=None, max_length=10000)
    weight_change_acknowledged: bool = False


class AmendmentIn(BaseModel):
    """A correction of a signed evaluation: the corrected document and why."""

    model_config = ConfigDict(extra="forbid")
    screening: ScreeningRequest
    reason: Text = Field(min_length=1, max_length=2000)
    notes: Text | None = Field(default=None, max_length=10000)
    weight_change_acknowledged: bool = False


class EvaluationView(BaseModel):
    id: int
    version: int
    created_at: datetime
    created_by: int | None
    patient_id: int
    status: Literal["draft", "signed"]
    decision: str | None
    screening_input: dict[str, Any]
    screening_result: dict[str, Any] | None
    rule_version: str | None
    notes: str | None
    signed_by: int | None
    signed_at: datetime | None
    amends_id: int | None
    amended_by: list[int] = []
    weight_flag: dict[str, Any] | None = None


def _screen(request: ScreeningRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    result = screen(request)
    return request.model_dump(mode="json"), result.as_json()


def view_of(uow: Session, evaluation: Evaluation, weight_flag: dict[str, Any] | None = None) -> EvaluationView:
    amended_by = uow.execute(
        select(Evaluation.id).where(Evaluation.amends_id == evaluation.id).order_by(Evaluation.id)
    ).scalars().all()
    result = evaluation.screening_result
    return EvaluationView(
        id=evaluation.id, version=evaluation.version, created_at=evaluation.created_at, created_by=evaluation.created_by,
        patient_id=evaluation.patient_id, status=evaluation.status,  # type: ignore[arg-type]
        decision=result.get("decision") if result else None,
        screening_input=evaluation.screening_input, screening_result=result, rule_version=evaluation.rule_version,
        notes=evaluation.notes, signed_by=evaluation.signed_by, signed_at=evaluation.signed_at,
        amends_id=evaluation.amends_id, amended_by=list(amended_by), weight_flag=weight_flag,
    )


def _record_weight(uow: Session, actor: Actor, patient_id: int, weight_kg: float, now: datetime,
                   acknowledged: bool) -> dict[str, Any] | None:
    """The weight is measured at every evaluation (design.md 3) and becomes the last recorded weight
    that dosing starts from, so a change of more than 20 % (a lb-for-kg slip?) is refused until
    acknowledged (422 ``weight_change_unacknowledged``), exactly as a plan or a check-in would."""
    previous = latest_weight(uow, patient_id)
    flag = weight_change_flag(weight_kg, previous.weight_kg) if previous else None
    if flag is not None and not acknowledged:
        raise ValidationFailed(flag.message + " Send weight_change_acknowledged: true once checked.",
                               code="weight_change_unacknowledged", field="screening.patient.weight_kg")
    if previous is None or previous.weight_kg != weight_kg:
        uow.add(PatientWeight(patient_id=patient_id, weight_kg=weight_kg, measured_at=now, source="evaluation",
                                  created_by=actor.user_id, created_at=now))
    return flag.as_dict() if flag else None


def load_evaluation(uow: Session, actor: Actor, evaluation_id: int) -> Evaluation:
    evaluation = get_or_404(uow, Evaluation, evaluation_id, "evaluation")
    load_patient(uow, actor, evaluation.patient_id)  # the same chart rule (404 for a stranger)
    return evaluation


# --- operations ---------------------------------------------------------------------------


def create_evaluation(db: Database, actor: Actor, data: EvaluationIn, *, now: datetime | None = None) -> EvaluationView:
    require_role(actor, *DRAFT_ROLES)
    now = now or utcnow()
    screening_input, result = _screen(data.screening)
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, data.patient_id)
        flag = _record_weight(uow, actor, patient.id, data.screening.patient.weight_kg, now,
                              data.weight_change_acknowledged)
        evaluation = Evaluation(
            patient_id=patient.id, screening_input=screening_input, screening_result=result, rule_version=RULE_VERSION,
            notes=data.notes, status="draft", created_by=actor.user_id, created_at=now,
        )
        uow.add(evaluation)
        uow.flush()
        audit(uow, actor, "evaluation.create", "evaluation", evaluation.id,
              {"patient_id": patient.id, "decision": result["decision"], "weight_flagged": flag is not None})
        return view_of(uow, evaluation, flag)


def update_evaluation(db: Database, actor: Actor, evaluation_id: int, expected_version: int | None,
                      patch: EvaluationPatch, *, now: datetime | None = None) -> EvaluationView:
    require_role(actor, *DRAFT_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        evaluation = load_evaluation(uow, actor, evaluation_id)
        check_version(evaluation, expected_version)
        if evaluation.status == "signed":
            raise Conflict("a signed evaluation is never changed: amend it instead", code="immutable_record")
        flag = None
        if patch.screening is not None:
            evaluation.screening_input, evaluation.screening_result = _screen(patch.screening)
            evaluation.rule_version = RULE_VERSION
            flag = _record_weight(uow, actor, evaluation.patient_id, patch.screening.patient.weight_kg, now,
                                  patch.weight_change_acknowledged)
        if "notes" in patch.model_fields_set:
            evaluation.notes = patch.notes
        uow.flush()
        audit(uow, actor, "evaluation.update", "evaluation", evaluation.id,
              {"version": evaluation.version, "decision": (evaluation.screening_result or {}).get("decision")})
        return view_of(uow, evaluation, flag)


def sign_evaluation(db: Database, actor: Actor, evaluation_id: int, expected_version: int | None,
                    *, now: datetime | None = None) -> EvaluationView:
    """The physician's sign-off. From here on the evaluation is frozen (guards and triggers)."""
    require_role(actor, *SIGN_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        evaluation = load_evaluation(uow, actor, evaluation_id)
        check_version(evaluation, expected_version)
        if evaluation.status == "signed":
            raise Conflict("this evaluation is already signed", code="already_signed")
        if evaluation.rule_version != RULE_VERSION:  # rules changed (or never screened: a referral draft): screen again
            try:
                request = ScreeningRequest.model_validate(evaluation.screening_input)
            except ValidationError as exc:
                missing = sorted({".".join(str(p) for p in e["loc"] if not isinstance(p, int)) for e in exc.errors()})
                raise ValidationFailed("complete the screening before signing: " + ", ".join(missing),
                                       code="screening_incomplete", field=missing[0] if missing else None) from None
            evaluation.screening_input, evaluation.screening_result = _screen(request)
            evaluation.rule_version = RULE_VERSION
        evaluation.status, evaluation.signed_by, evaluation.signed_at = "signed", actor.user_id, now
        uow.flush()
        audit(uow, actor, "evaluation.sign", "evaluation", evaluation.id,
              {"decision": evaluation.screening_result["decision"], "rule_version": evaluation.rule_version})
        course_summaries.refresh(uow, evaluation.patient_id)  # a new baseline for the outcomes (issue 17)
        return view_of(uow, evaluation)


def amend_evaluation(db: Database, actor: Actor, evaluation_id: int, data: AmendmentIn,
                     *, now: datetime | None = None) -> EvaluationView:
    """A correction of a signed evaluation: a new draft pointing to it (sign it to make it count)."""
    require_role(actor, *SIGN_ROLES)
    now = now or utcnow()
    screening_input, result = _screen(data.screening)
    with unit_of_work(db) as uow:
        original = load_evaluation(uow, actor, evaluation_id)
        if original.status != "signed":
            raise Conflict("only a signed evaluation is amended; edit the draft instead", code="not_signed")
        flag = _record_weight(uow, actor, original.patient_id, data.screening.patient.weight_kg, now,
                              data.weight_change_acknowledged)
        notes = f"Amends evaluation {original.id}: {data.reason}" + (f"\n{data.notes}" if data.notes else "")
        amendment = Evaluation(
            patient_id=original.patient_id, screening_input=screening_input, screening_result=result,
            rule_version=RULE_VERSION, notes=notes, status="draft", amends_id=original.id,
            created_by=actor.user_id, created_at=now,
        )
        uow.add(amendment)
        uow.flush()
        audit(uow, actor, "evaluation.amend", "evaluation", amendment.id,
              {"amends": original.id, "reason": data.reason, "decision": result["decision"]})
        return view_of(uow, amendment, flag)


def get_evaluation(db: Database, actor: Actor, evaluation_id: int) -> EvaluationView:
    require_role(actor, *READ_ROLES)
    with unit_of_work(db) as uow:
        evaluation = load_evaluation(uow, actor, evaluation_id)
        audit(uow, actor, "evaluation.read", "evaluation", evaluation.id, {"patient_id": evaluation.patient_id})
        return view_of(uow, evaluation)


def list_evaluations(db: Database, actor: Actor, *, patient_id: int | None = None, status: str | None = None,
                     limit: int | None = None, cursor: str | None = None) -> Page[EvaluationView]:
    require_role(actor, *READ_ROLES)
    limit = clamp_limit(limit)
    after = cursor_int(cursor) or 0
    with unit_of_work(db) as uow:
        query = select(Evaluation).where(Evaluation.id > after).order_by(Evaluation.id).limit(limit + 1)
        query = patients_in_sites(query, actor, Evaluation.patient_id)  # issue 17: the actor's sites only
        if patient_id is not None:
            load_patient(uow, actor, patient_id)
            query = query.where(Evaluation.patient_id == patient_id)
        if status is not None:
            query = query.where(Evaluation.status == status)
        rows = uow.execute(query).scalars().all()
        audit(uow, actor, "evaluation.list", "evaluation", None,
              {"patient_id": patient_id, "ids": [e.id for e in rows[:limit]]})
        return page_of(rows, limit, lambda e: view_of(uow, e))


def current_signed_evaluation(uow: Session, patient_id: int) -> Evaluation | None:
    """The patient's latest signed evaluation that no signed amendment replaces (None if none)."""
    signed = uow.execute(
        select(Evaluation).where(Evaluation.patient_id == patient_id, Evaluation.status == "signed")
        .order_by(Evaluation.signed_at.desc(), Evaluation.id.desc())
    ).scalars().all()
    replaced = {e.amends_id for e in signed if e.amends_id is not None}
    for evaluation in signed:
        if evaluation.id not in replaced:
            return evaluation
    return None


def require_signed_evaluation(uow: Session, evaluation_id: int, patient_id: int) -> Evaluation:
    evaluation = uow.get(Evaluation, evaluation_id)
    if evaluation is None or evaluation.patient_id != patient_id:
        raise NotFound("evaluation not found for this patient", field="evaluation_id")
    if evaluation.status != "signed":
        raise Conflict("a plan needs a signed evaluation: sign the evaluation first", code="evaluation_not_signed",
                       field="evaluation_id")
    return evaluation
