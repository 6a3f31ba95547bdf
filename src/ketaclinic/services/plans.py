"""Plans: a protocol, a weight and a concentration turned into a pump program, signed by a physician.

:func:`ketaclinic.clinical.dosing.program_pump` computes the program and judges it against the
drug library and the protocol's own limits:

- a **hard** limit refuses the plan (422 ``hard_limit``), whoever asks;
- a **soft** limit refuses it (422 ``soft_limit``) unless a *physician* overrides with a reason;
  a nurse who sends an override gets 403. Each overridden limit is stored in ``plan_overrides``
  with the reason and the approving physician, so who accepted which risk is never lost;
- the **care profile** (design 4.3 v2) is the protocol's unless the plan names one; the
  ``anesthesia_staffed`` profile needs a physician and a ``profile_reason``, both kept in
  ``dose_check``; every mg/kg figure is applied to the dosing weight, from the patient's height
  and sex (actual, adjusted above BMI 35, or capped at 100 kg without a height);
- a weight more than 20 % away from the patient's last recorded weight
  (:func:`~ketaclinic.clinical.dosing.weight_change_flag`, a lb-for-kg slip) refuses the plan
  (422 ``weight_change_unacknowledged``) until ``weight_change_acknowledged`` is sent; the flag
  and who acknowledged it stay in ``dose_check``.

A plan needs the patient's signed evaluation whose screening did not say ``not_eligible``.
Drafts are edited with If-Match (two physicians saving the same draft: one wins, the other gets
409). A signed plan never changes; a new plan ``supersedes`` it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.clinical.dosing import (
    DEFAULT_LIBRARY,
    PROFILES,
    DoseRequest,
    DoseStep,
    DosingError,
    DrugLibrary,
    Override,
    PumpProgram,
    program_pump,
    weight_change_flag,
)
from ketaclinic.clinical.follow_up import DEFAULT_BOOSTER_POLICY, BoosterPolicy
from ketaclinic.clinical.protocols import PROTOCOL_IDS, get_protocol
from ketaclinic.clock import utcnow
from ketaclinic.evidence.sources import CLINIC_POLICY
from ketaclinic.jsonable import plain
from ketaclinic.pharmacology.models import DEFAULT_MODEL_ID
from ketaclinic.records.db import Database
from ketaclinic.records.plans import Plan, PlanOverride
from ketaclinic.services.allergies import ketamine_allergy_refusal
from ketaclinic.services.clinic_settings import current_booster_policy, current_libraries
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
from ketaclinic.services.errors import Conflict, Forbidden, ServiceError, ValidationFailed
from ketaclinic.services.evaluations import RecordId, require_signed_evaluation
from ketaclinic.services.patients import latest_weight, load_patient
from ketaclinic.services.pk_preview import program_preview
from ketaclinic.services.sites import patients_in_sites
from ketaclinic.services.types import WEIGHT_MAX_KG, WEIGHT_MIN_KG, Text, explain

DRAFT_ROLES = ("physician", "nurse")
READ_ROLES = ("physician", "nurse")
SIGN_ROLES = ("physician",)
OVERRIDE_ROLES = ("physician",)
DOSING_RULE_VERSION = f"dosing:{DEFAULT_LIBRARY.name}"


Profile = Literal["low_dose", "anesthesia_staffed"]
PROFILE_ROLES = ("physician",)


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text = Field(min_length=1, max_length=2000)


class SeriesIn(BaseModel):
    """The course: how many sessions, how far apart; the booster rule's minimum interval."""

    model_config = ConfigDict(extra="forbid")
    sessions: int | None = Field(default=None, ge=1, le=60)
    interval_days_min: float | None = Field(default=None, ge=0, le=365)
    interval_days_max: float | None = Field(default=None, ge=0, le=365)
    booster_min_interval_days: int | None = Field(default=None, ge=1, le=365)


class PlanIn(BaseModel):
    """A new plan. ``weight_kg`` defaults to the patient's last recorded weight; ``steps`` and
    ``concentration_mg_per_ml`` to the protocol's (contract 4.3)."""

    model_config = ConfigDict(extra="forbid")
    patient_id: RecordId
    evaluation_id: RecordId
    protocol: Text = Field(description="Protocol id: " + ", ".join(PROTOCOL_IDS))
    weight_kg: float | None = Field(default=None, ge=WEIGHT_MIN_KG, le=WEIGHT_MAX_KG, allow_inf_nan=False)
    concentration_mg_per_ml: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    steps: list[DoseStep] | None = Field(default=None, min_length=1, max_length=20)
    series: SeriesIn | None = None
    override: OverrideIn | None = None
    weight_change_acknowledged: bool = False
    supersedes_id: RecordId | None = None
    profile: Profile | None = Field(default=None, description="Care profile: the protocol's when absent (design 4.3 v2)")
    profile_reason: Text | None = Field(default=None, max_length=2000,
                                       description="Why the anesthesia_staffed profile (required for it; physician only)")


class PlanPatch(BaseModel):
    """A draft edit; the program is computed again from the result. ``steps: null`` returns to the protocol's."""

    model_config = ConfigDict(extra="forbid")
    protocol: Text | None = None
    weight_kg: float | None = Field(default=None, ge=WEIGHT_MIN_KG, le=WEIGHT_MAX_KG, allow_inf_nan=False)
    concentration_mg_per_ml: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    steps: list[DoseStep] | None = Field(default=None, min_length=1, max_length=20)
    series: SeriesIn | None = None
    override: OverrideIn | None = None
    weight_change_acknowledged: bool = False
    profile: Profile | None = None
    profile_reason: Text | None = Field(default=None, max_length=2000)


class OverrideView(BaseModel):
    id: int
    limit_code: str
    detail: dict[str, Any]
    reason: str
    approved_by: int
    approved_at: datetime


class PlanView(BaseModel):
    id: int
    version: int
    created_at: datetime
    created_by: int | None
    patient_id: int
    evaluation_id: int | None
    protocol: str
    weight_kg: float
    concentration_mg_per_ml: float
    steps: list[Any]
    pump_program: dict[str, Any]
    series_rule: dict[str, Any]
    dose_check: dict[str, Any] | None
    rule_version: str | None
    status: Literal["draft", "signed"]
    signed_by: int | None
    signed_at: datetime | None
    supersedes_id: int | None
    overrides: list[OverrideView] = []
    profile: str = "low_dose"
    profile_reason: str | None = None
    dosing_weight_kg: float | None = None
    dosing_weight_basis: str | None = None


# --- the core calls -------------------------------------------------------------------------


def _program(protocol: str, weight_kg: float, concentration: float | None, steps: list[DoseStep] | None,
             override: Override | None, libraries: DrugLibrary | dict[str, DrugLibrary] = PROFILES, *,
             height_cm: float | None = None, sex: str | None = None, profile: str | None = None) -> PumpProgram:
    try:
        return program_pump(DoseRequest(
            protocol=protocol, weight_kg=weight_kg, concentration_mg_per_ml=concentration, steps=steps,
            override=override, height_cm=height_cm, sex=sex if sex in ("female", "male") else None,
            profile=profile), libraries)
    except DosingError as error:
        raise dosing_refusal(error) from None
    except ValidationError as error:  # DoseRequest's own validation (an unknown protocol id, a range)
        message, field = explain(error.errors(include_url=False)[0], model=DoseRequest)
        raise ValidationFailed(message, field=field or "protocol") from None
    except ValueError as error:
        raise ValidationFailed(str(error), field="protocol") from None


def dosing_refusal(error: DosingError) -> ServiceError:
    """A DosingError as the API answers it: 422 with the core's code (hard_limit, soft_limit ...)."""
    return ValidationFailed(error.message, code=error.code, field=error.field)


def series_rule(protocol_id: str, series: SeriesIn | None, policy: BoosterPolicy = DEFAULT_BOOSTER_POLICY) -> dict[str, Any]:
    """The protocol's series, as changed by the plan, and the booster rule (follow_up.BoosterPolicy;
    the clinic's minimum interval unless the plan sets its own)."""
    base = get_protocol(protocol_id).series
    given = series or SeriesIn()
    return {
        "sessions": given.sessions if given.sessions is not None else base.sessions,
        "interval_days_min": given.interval_days_min if given.interval_days_min is not None else base.interval_days_min,
        "interval_days_max": given.interval_days_max if given.interval_days_max is not None else base.interval_days_max,
        "source": base.source,
        "note": base.note,
        "booster": {
            "relief_threshold_pct": policy.relief_threshold_pct,
            "window_days": policy.window_days,
            "min_entries_in_window": policy.min_entries_in_window,
            "min_interval_days": given.booster_min_interval_days or policy.min_interval_days,
            "source": CLINIC_POLICY,
        },
    }


def _weight_check(uow: Session, actor: Actor, patient_id: int, weight_kg: float | None,
                  acknowledged: bool) -> tuple[float, dict[str, Any] | None]:
    last = latest_weight(uow, patient_id)
    if weight_kg is None:
        if last is None:
            raise ValidationFailed("no weight recorded for this patient: give weight_kg", field="weight_kg")
        return last.weight_kg, None
    if last is None:
        return weight_kg, None
    flag = weight_change_flag(weight_kg, last.weight_kg)
    if flag is None:
        return weight_kg, None
    if not acknowledged:
        raise ValidationFailed(flag.message + " Send weight_change_acknowledged: true once checked.",
                               code="weight_change_unacknowledged", field="weight_kg")
    return weight_kg, {**flag.as_dict(), "last_weight_kg": last.weight_kg, "acknowledged_by": actor.user_id,
                       "acknowledged_by_username": actor.username}


def _override(actor: Actor, given: OverrideIn | None) -> Override | None:
    if given is None:
        return None
    if actor.role not in OVERRIDE_ROLES:
        raise Forbidden("a soft-limit override needs a physician", code="override_needs_physician")
    return Override(reason=given.reason, by=actor.username)


def chosen_profile(actor: Actor, protocol: str, profile: str | None, reason: str | None) -> tuple[str, str | None]:
    """The care profile a plan runs under and why (design 4.3 v2): the protocol's own unless the
    plan names one. ``anesthesia_staffed`` is chosen only by a physician, with a reason."""
    try:
        chosen = profile or get_protocol(protocol).profile
    except KeyError:
        raise ValidationFailed(f"unknown protocol {protocol!r}; allowed: {', '.join(PROTOCOL_IDS)}",
                               field="protocol") from None
    reason = (reason or "").strip() or None
    if chosen == "anesthesia_staffed":
        if actor.role not in PROFILE_ROLES:
            raise Forbidden("the anesthesia-staffed profile is chosen by a physician", code="profile_needs_physician",
                            field="profile")
        if reason is None:
            raise ValidationFailed("the anesthesia-staffed profile needs profile_reason: why this patient is treated "
                                   "with an anaesthesia clinician present (it allows up to 2 mg/kg/h)",
                                   code="profile_reason_required", field="profile_reason")
    return chosen, reason


def _compute(uow: Session, actor: Actor, patient_id: int, *, protocol: str, weight_kg: float | None,
             concentration: float | None, steps: list[DoseStep] | None, series: SeriesIn | None,
             override: OverrideIn | None, acknowledged: bool, profile: str | None = None,
             profile_reason: str | None = None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The plan's computed columns (nothing written yet) and the weight flag, if any."""
    weight, flag = _weight_check(uow, actor, patient_id, weight_kg, acknowledged)
    chosen, reason = chosen_profile(actor, protocol, profile, profile_reason)
    patient = load_patient(uow, actor, patient_id)
    program = _program(protocol, weight, concentration, steps, _override(actor, override), current_libraries(uow),
                       height_cm=patient.height_cm, sex=patient.sex, profile=chosen)
    data = program.as_dict()
    fields = {
        "protocol_id": protocol,
        "weight_kg": program.weight_kg,
        "concentration_mg_per_ml": program.concentration_mg_per_ml,
        "steps": [s.model_dump(mode="json", exclude_none=True) for s in steps] if steps
        else [s.as_dict() for s in get_protocol(protocol).steps],
        "pump_program": data,
        "series_rule": series_rule(protocol, series, current_booster_policy(uow)),
        "dose_check": {"limits": data["limits"], "notes": data["notes"], "override": data["override"],
                       "weight_flag": flag, "profile": chosen, "profile_reason": reason,
                       "profile_chosen_by": actor.username if reason else None},
        "rule_version": DOSING_RULE_VERSION,
    }
    return fields, flag


def _record_overrides(uow: Session, actor: Actor, plan: Plan, override: OverrideIn | None, now: datetime) -> None:
    """One append-only row per soft limit the physician accepted, with the reason."""
    for limit in (plan.dose_check or {}).get("limits", []):
        if limit["level"] == "soft":
            assert override is not None  # program_pump refuses soft limits without one
            uow.add(PlanOverride(plan_id=plan.id, limit_code=limit.get("rule") or limit["code"], detail=limit,
                                     reason=override.reason,
                                     approved_by=actor.user_id, approved_at=now))


def _overrides(uow: Session, plan_id: int) -> list[OverrideView]:
    rows = uow.execute(select(PlanOverride).where(PlanOverride.plan_id == plan_id).order_by(PlanOverride.id)).scalars()
    return [OverrideView.model_validate(o, from_attributes=True) for o in rows]


def view_of(uow: Session, plan: Plan) -> PlanView:
    return PlanView(
        id=plan.id, version=plan.version, created_at=plan.created_at, created_by=plan.created_by,
        patient_id=plan.patient_id, evaluation_id=plan.evaluation_id, protocol=plan.protocol_id,
        weight_kg=plan.weight_kg, concentration_mg_per_ml=plan.concentration_mg_per_ml, steps=plan.steps,
        pump_program=plan.pump_program, series_rule=plan.series_rule, dose_check=plan.dose_check,
        rule_version=plan.rule_version, status=plan.status,  # type: ignore[arg-type]
        signed_by=plan.signed_by, signed_at=plan.signed_at, supersedes_id=plan.supersedes_id,
        overrides=_overrides(uow, plan.id), **plan_profile(plan.pump_program, plan.dose_check),
    )


def plan_profile(pump_program: dict[str, Any] | None, dose_check: dict[str, Any] | None) -> dict[str, Any]:
    """The profile and dosing weight a stored plan was programmed with (plans made before design
    4.3 v2 read as low-dose on their actual weight)."""
    program = pump_program or {}
    return {"profile": program.get("profile", "low_dose"), "profile_reason": (dose_check or {}).get("profile_reason"),
            "dosing_weight_kg": program.get("dosing_weight_kg", program.get("weight_kg")),
            "dosing_weight_basis": program.get("dosing_weight_basis", "actual")}


def load_plan(uow: Session, actor: Actor, plan_id: int) -> Plan:
    plan = get_or_404(uow, Plan, plan_id, "plan")
    load_patient(uow, actor, plan.patient_id)
    return plan


# --- operations ---------------------------------------------------------------------------


def create_plan(db: Database, actor: Actor, data: PlanIn, *, now: datetime | None = None) -> PlanView:
    require_role(actor, *DRAFT_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        patient = load_patient(uow, actor, data.patient_id)
        if (refusal := ketamine_allergy_refusal(uow, patient.id)) is not None:
            raise refusal  # an active ketamine allergy on the chart (issue 12; ketalar_pi section 4)
        evaluation = require_signed_evaluation(uow, data.evaluation_id, patient.id)
        decision = (evaluation.screening_result or {}).get("decision")
        if decision == "not_eligible":
            raise Conflict("the signed evaluation says not_eligible: amend the evaluation before planning",
                           code="not_eligible", field="evaluation_id")
        if data.supersedes_id is not None:
            previous = uow.get(Plan, data.supersedes_id)
            if previous is None or previous.patient_id != patient.id:
                raise ValidationFailed("supersedes_id names no plan of this patient", field="supersedes_id")
        fields, flag = _compute(uow, actor, patient.id, protocol=data.protocol, weight_kg=data.weight_kg,
                                concentration=data.concentration_mg_per_ml, steps=data.steps, series=data.series,
                                override=data.override, acknowledged=data.weight_change_acknowledged,
                                profile=data.profile, profile_reason=data.profile_reason)
        plan = Plan(patient_id=patient.id, evaluation_id=evaluation.id, status="draft", supersedes_id=data.supersedes_id,
                    created_by=actor.user_id, created_at=now, **fields)
        uow.add(plan)
        uow.flush()
        _record_overrides(uow, actor, plan, data.override, now)
        audit(uow, actor, "plan.create", "plan", plan.id, {
            "patient_id": patient.id, "protocol": plan.protocol_id, "weight_kg": plan.weight_kg,
            "soft_limits_overridden": [o["code"] for o in plan.dose_check["limits"]],
            "override_reason": data.override.reason if data.override else None,
            "weight_flag_acknowledged": flag is not None,
            "profile": plan.dose_check.get("profile"), "profile_reason": plan.dose_check.get("profile_reason"),
        })
        return view_of(uow, plan)


def update_plan(db: Database, actor: Actor, plan_id: int, expected_version: int | None, patch: PlanPatch,
                *, now: datetime | None = None) -> PlanView:
    require_role(actor, *DRAFT_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        plan = load_plan(uow, actor, plan_id)
        check_version(plan, expected_version)
        if plan.status == "signed":
            raise Conflict("a signed plan is never changed: write a new plan that supersedes it", code="immutable_record")
        sent = patch.model_fields_set
        protocol = patch.protocol or plan.protocol_id
        steps = patch.steps if "steps" in sent else ([DoseStep.model_validate(s) for s in plan.steps]
                                                     if protocol == plan.protocol_id and _explicit(plan) else None)
        weight = patch.weight_kg if patch.weight_kg is not None else plan.weight_kg
        concentration = patch.concentration_mg_per_ml or plan.concentration_mg_per_ml
        series = patch.series if patch.series is not None else SeriesIn(
            sessions=plan.series_rule.get("sessions"), interval_days_min=plan.series_rule.get("interval_days_min"),
            interval_days_max=plan.series_rule.get("interval_days_max"),
            booster_min_interval_days=plan.series_rule.get("booster", {}).get("min_interval_days"))
        # the weight was checked when the draft was made; a new weight is checked again
        acknowledged = patch.weight_change_acknowledged or (patch.weight_kg is None and bool((plan.dose_check or {}).get("weight_flag")))
        kept = (plan.dose_check or {})
        profile = patch.profile if "profile" in sent else (kept.get("profile") if protocol == plan.protocol_id else None)
        reason = patch.profile_reason if "profile_reason" in sent else kept.get("profile_reason")
        fields, _flag = _compute(uow, actor, plan.patient_id, protocol=protocol, weight_kg=weight,
                                 concentration=concentration, steps=steps, series=series, override=patch.override,
                                 acknowledged=acknowledged, profile=profile, profile_reason=reason)
        for name, value in fields.items():
            setattr(plan, name, value)
        uow.flush()  # UPDATE ... WHERE version = seen: a concurrent save makes this one stale (409)
        _record_overrides(uow, actor, plan, patch.override, now)
        audit(uow, actor, "plan.update", "plan", plan.id, {"version": plan.version, "changed": sorted(sent)})
        return view_of(uow, plan)


def _explicit(plan: Plan) -> bool:
    """Whether the draft's steps were typed (not the protocol's defaults)."""
    defaults = [s.as_dict() for s in get_protocol(plan.protocol_id).steps]
    return plan.steps != defaults


def sign_plan(db: Database, actor: Actor, plan_id: int, expected_version: int | None,
              *, now: datetime | None = None) -> PlanView:
    require_role(actor, *SIGN_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        plan = load_plan(uow, actor, plan_id)
        check_version(plan, expected_version)
        if plan.status == "signed":
            raise Conflict("this plan is already signed", code="already_signed")
        if (refusal := ketamine_allergy_refusal(uow, plan.patient_id)) is not None:
            raise refusal  # the allergy was recorded after the draft was made
        if plan.evaluation_id is not None:
            require_signed_evaluation(uow, plan.evaluation_id, plan.patient_id)
        plan.status, plan.signed_by, plan.signed_at = "signed", actor.user_id, now
        uow.flush()
        audit(uow, actor, "plan.sign", "plan", plan.id, {"protocol": plan.protocol_id,
                                                             "total_dose_mg": plan.pump_program.get("total_dose_mg")})
        return view_of(uow, plan)


def get_plan(db: Database, actor: Actor, plan_id: int) -> PlanView:
    require_role(actor, *READ_ROLES)
    with unit_of_work(db) as uow:
        plan = load_plan(uow, actor, plan_id)
        audit(uow, actor, "plan.read", "plan", plan.id, {"patient_id": plan.patient_id})
        return view_of(uow, plan)


def list_plans(db: Database, actor: Actor, *, patient_id: int | None = None, status: str | None = None,
               limit: int | None = None, cursor: str | None = None) -> Page[PlanView]:
    require_role(actor, *READ_ROLES)
    limit = clamp_limit(limit)
    after = cursor_int(cursor) or 0
    with unit_of_work(db) as uow:
        query = select(Plan).where(Plan.id > after).order_by(Plan.id).limit(limit + 1)
        query = patients_in_sites(query, actor, Plan.patient_id)  # issue 17: the actor's sites only
        if patient_id is not None:
            load_patient(uow, actor, patient_id)
            query = query.where(Plan.patient_id == patient_id)
        if status is not None:
            query = query.where(Plan.status == status)
        rows = uow.execute(query).scalars().all()
        audit(uow, actor, "plan.list", "plan", None, {"patient_id": patient_id, "ids": [p.id for p in rows[:limit]]})
        return page_of(rows, limit, lambda p: view_of(uow, p))


def preview_plan(db: Database, actor: Actor, plan_id: int, *, model: str = DEFAULT_MODEL_ID) -> dict[str, Any]:
    """The predicted plasma concentration of the plan's program (typical subject), for the plan screen:
    :func:`ketaclinic.services.pk_preview.program_preview`, the same curve the web pages draw."""
    require_role(actor, *READ_ROLES)
    with unit_of_work(db) as uow:
        plan = load_plan(uow, actor, plan_id)
        audit(uow, actor, "plan.preview", "plan", plan.id)
        program, weight = plan.pump_program, plan.weight_kg
    return plain(program_preview(program, weight, model=model))


