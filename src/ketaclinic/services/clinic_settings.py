"""Clinic settings: the clinic's drug library, fasting times, observation time and booster interval.

The admin manages them (design.md 5); physicians and nurses read them (the plan builder shows the
clinic's library). Every save is a new, append-only version (:mod:`ketaclinic.records.clinic_settings`)
with who, when and what changed, sent with ``If-Match: <current version>`` (0 while the clinic still
runs on the defaults): a stale version is answered 409, a missing one 428. Each save is audited.

What a clinic may change, and within what:

- **drug library**: soft and hard limits may only be tightened within the default hard bounds and
  concentrations only removed (:func:`ketaclinic.clinical.dosing.tighten_library`, which refuses
  to loosen; its refusal is answered 422 ``library_loosened`` naming the limit). Plans and rate
  changes are then judged against :func:`current_library`, and the library's name carries the
  settings version, so a stored pump program says which library it was checked against;
- **fasting times** (:class:`ketaclinic.clinical.checklist.ChecklistPolicy`): the ASA times are
  minimums (``asa_fasting2017``); a clinic may ask for longer, never shorter;
- **minimum observation** after the infusion stops: the longer of the protocol's and the clinic's
  applies at discharge (clinic policy);
- **booster minimum interval** (:class:`ketaclinic.clinical.follow_up.BoosterPolicy`): the default
  for new plans and for the booster suggestion when a plan does not set its own (clinic policy);
- **clinic name**, shown on the pages. The time zone stays in :class:`ketaclinic.settings.Settings`
  (``KETACLINIC_CLINIC_TIMEZONE``): it is needed before the database is read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.clinical.checklist import DEFAULT_POLICY as DEFAULT_CHECKLIST_POLICY
from ketaclinic.clinical.checklist import ChecklistPolicy
from ketaclinic.clinical.discharge import DEFAULT_MINIMUM_OBSERVATION_MIN
from ketaclinic.clinical.dosing import (
    DEFAULT_LIBRARY,
    PROFILES,
    DrugLibrary,
    LibraryLoosenedError,
    tighten_library,
)
from ketaclinic.clinical.follow_up import DEFAULT_BOOSTER_POLICY, BoosterPolicy
from ketaclinic.clinical.questionnaires import QuestionnairePolicy
from ketaclinic.clinical.scheduling import DEFAULT_POLICY as DEFAULT_SCHEDULE_POLICY
from ketaclinic.clinical.scheduling import MAX_INFUSIONS_PER_NURSE, SchedulePolicy
from ketaclinic.clock import utcnow
from ketaclinic.records.clinic_settings import ClinicSettingsVersion
from ketaclinic.records.db import Database
from ketaclinic.services.common import audit, require_role, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Conflict, PreconditionRequired, ValidationFailed
from ketaclinic.services.types import Text

READ_ROLES = ("admin", "physician", "nurse")
WRITE_ROLES = ("admin",)
DEFAULT_CLINIC_NAME = "KetaClinic"
Quantity = Literal["infusion_rate_mg_per_kg_per_h", "infusion_rate_mg_per_h", "infusion_duration_min",
                   "bolus_dose_mg_per_kg", "bolus_duration_min", "oral_dose_mg_per_kg", "rate_ml_per_h", "weight_kg",
                   "session_total_mg_per_kg", "session_total_mg", "session_duration_min", "bmi_kg_per_m2"]
BedsideBolusRule = Literal["physician_or_plan_order", "physician_only", "physician_or_nurse"]
#: settings field -> the care profile whose default library it tightens (design 4.3 v2)
LIBRARY_FIELDS: dict[str, str] = {"drug_library": "low_dose", "drug_library_anesthesia_staffed": "anesthesia_staffed"}
BOUNDS = ("soft_min", "soft_max", "hard_min", "hard_max")
ASA_FASTING_HOURS: dict[str, float] = dict(DEFAULT_CHECKLIST_POLICY.fasting_hours)
_Number = Field(default=None, ge=0, le=100000, allow_inf_nan=False)


class FastingHours(BaseModel):
    """Hours of fasting before the infusion; the ASA times are the floor (``asa_fasting2017``)."""

    model_config = ConfigDict(extra="forbid")
    clear_liquid: float = Field(default=ASA_FASTING_HOURS["clear_liquid"], le=24, allow_inf_nan=False)
    light_meal: float = Field(default=ASA_FASTING_HOURS["light_meal"], le=24, allow_inf_nan=False)
    fatty_meal: float = Field(default=ASA_FASTING_HOURS["fatty_meal"], le=24, allow_inf_nan=False)
    non_human_milk: float = Field(default=ASA_FASTING_HOURS["non_human_milk"], le=24, allow_inf_nan=False)

    @field_validator("clear_liquid", "light_meal", "fatty_meal", "non_human_milk")
    @classmethod
    def _not_below_asa(cls, value: float, info: Any) -> float:
        floor = ASA_FASTING_HOURS[info.field_name]
        if value < floor:
            raise ValueError(f"shorter than the ASA minimum of {floor:g} h: a clinic may ask for longer, never shorter")
        return value


class LibraryBounds(BaseModel):
    """The clinic's bounds on one quantity (absent: the default library's)."""

    model_config = ConfigDict(extra="forbid")
    soft_min: float | None = _Number
    soft_max: float | None = _Number
    hard_min: float | None = _Number
    hard_max: float | None = _Number


class DrugLibrarySettings(BaseModel):
    """The clinic's tightening of one care profile's library (``drug_library``: the default
    "ketamine, low-dose analgesia"; ``drug_library_anesthesia_staffed``: the anesthesia-staffed one)."""

    model_config = ConfigDict(extra="forbid")
    limits: dict[Quantity, LibraryBounds] = Field(default_factory=dict)
    concentrations_mg_per_ml: list[float] | None = Field(default=None, min_length=1, max_length=10)
    default_bolus_duration_min: float | None = Field(default=None, gt=0, le=60, allow_inf_nan=False)


class SchedulePolicySettings(BaseModel):
    """The schedule's numbers (clinic policy; :class:`ketaclinic.clinical.scheduling.SchedulePolicy`)."""

    model_config = ConfigDict(extra="forbid")
    evaluation_min: int = Field(default=DEFAULT_SCHEDULE_POLICY.evaluation_min, ge=15, le=240)
    follow_up_min: int = Field(default=DEFAULT_SCHEDULE_POLICY.follow_up_min, ge=10, le=240)
    turnover_min: int = Field(default=DEFAULT_SCHEDULE_POLICY.turnover_min, ge=0, le=120)
    infusions_per_nurse: int = Field(
        default=DEFAULT_SCHEDULE_POLICY.infusions_per_nurse, ge=1, le=MAX_INFUSIONS_PER_NURSE,
        description="Running infusions one nurse may watch at once: 1 by default (clinic policy), at most 2 (the "
        "1:2 ratio of post-anaesthesia recovery, ca_title22_70217)")
    physician_on_site: bool = Field(
        default=True, description="A physician is on site for the whole of every infusion (clinic policy; check "
        "your state's rules, apna_ketamine_checklist)")

    def policy(self) -> SchedulePolicy:
        return SchedulePolicy(**self.model_dump())


class ReminderSettings(BaseModel):
    """When appointment reminders go out (issue 13; clinic policy): hours before the start."""

    model_config = ConfigDict(extra="forbid")
    first_hours_before: int = Field(default=48, ge=2, le=14 * 24)
    second_hours_before: int = Field(default=24, ge=1, le=7 * 24)

    @model_validator(mode="after")
    def _second_after_first(self) -> ReminderSettings:
        if self.second_hours_before >= self.first_hours_before:
            raise ValueError("the second reminder comes closer to the appointment than the first: fewer hours before")
        return self


class ClinicSettingsData(BaseModel):
    """The whole settings document (every version stores all of it)."""

    model_config = ConfigDict(extra="forbid")
    clinic_name: str = Field(default=DEFAULT_CLINIC_NAME, min_length=1, max_length=200)
    fasting_hours: FastingHours = Field(default_factory=FastingHours)
    minimum_observation_min: float = Field(default=DEFAULT_MINIMUM_OBSERVATION_MIN, ge=0, le=24 * 60,
                                           allow_inf_nan=False)
    booster_min_interval_days: int = Field(default=DEFAULT_BOOSTER_POLICY.min_interval_days, ge=1, le=365)
    drug_library: DrugLibrarySettings = Field(default_factory=DrugLibrarySettings)
    drug_library_anesthesia_staffed: DrugLibrarySettings = Field(default_factory=DrugLibrarySettings)
    pump_double_check: bool = Field(
        default=True,
        description="A second clinician checks the pump program against the signed plan before every start, "
        "re-entering their password (an independent double check, as ISMP advises for high-alert infusions; clinic "
        "policy)")
    vitals_interval_min: int = Field(
        default=15, ge=5, le=60,
        description="Minutes between routine vital signs during a session (the console's timer); every 5 min while "
        "an alert is open or after a bolus or rate increase (clinic policy)")
    bedside_bolus: BedsideBolusRule = Field(
        default="physician_or_plan_order",
        description="Who may give an extra IV ketamine bolus during a session: physician_or_plan_order (a physician, "
        "or a nurse when the signed plan orders a bolus), physician_only, physician_or_nurse. Some state nursing "
        "boards restrict IV ketamine pushes by registered nurses (clinic policy).")
    schedule: SchedulePolicySettings = Field(
        default_factory=SchedulePolicySettings,
        description="The schedule's numbers (issue 13): minutes of an evaluation and a follow-up, the chair's turnover "
        "after an infusion, how many running infusions one nurse watches, whether a physician must be on site")
    questionnaires: QuestionnairePolicy = Field(
        default_factory=QuestionnairePolicy,
        description="When questionnaires are due (issue 15: baseline, before and at the end of a course, monthly) and "
        "the clinic's action on a PHQ-9 item 9 answer above 0 (clinic policy)")
    reminders: ReminderSettings = Field(
        default_factory=ReminderSettings,
        description="Hours before an appointment that the first and second e-mail reminders go (48 h and 24 h by "
        "default, clinic policy)")
    consent_witness_required: bool = Field(
        default=False, description="A staff member witnesses every consent signature, so it is signed on the clinic's "
        "tablet, not in the portal (clinic policy)")

    @field_validator("clinic_name")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("give the clinic's name")
        return value


class ClinicSettingsPatch(BaseModel):
    """A change: only the parts sent are replaced (``drug_library`` as a whole: send all of the clinic's limits)."""

    model_config = ConfigDict(extra="forbid")
    clinic_name: Text | None = Field(default=None, min_length=1, max_length=200)
    fasting_hours: FastingHours | None = None
    minimum_observation_min: float | None = Field(default=None, ge=0, le=24 * 60, allow_inf_nan=False)
    booster_min_interval_days: int | None = Field(default=None, ge=1, le=365)
    drug_library: DrugLibrarySettings | None = None
    drug_library_anesthesia_staffed: DrugLibrarySettings | None = None
    bedside_bolus: BedsideBolusRule | None = None
    vitals_interval_min: int | None = Field(default=None, ge=5, le=60)
    pump_double_check: bool | None = None
    schedule: SchedulePolicySettings | None = None
    questionnaires: QuestionnairePolicy | None = None
    reminders: ReminderSettings | None = None
    consent_witness_required: bool | None = None
    note: Text | None = Field(default=None, max_length=2000, description="Why the change was made (kept with the version)")


class ClinicSettingsView(BaseModel):
    version: int = Field(description="0: the defaults, never saved; send it as If-Match to change them")
    created_at: datetime | None
    created_by: int | None
    created_by_username: str | None
    note: str | None
    data: ClinicSettingsData
    changes: list[dict[str, Any]]
    defaults: ClinicSettingsData
    library: dict[str, Any] = Field(description="The drug library in force (the default, tightened by the clinic)")
    default_library: dict[str, Any]
    libraries: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                                 description="Every care profile's library in force, by profile")


class VersionSummary(BaseModel):
    version: int
    created_at: datetime
    created_by_username: str | None
    note: str | None
    changes: list[dict[str, Any]]


# --- the library ---------------------------------------------------------------------------


def _library_kwargs(settings: DrugLibrarySettings) -> dict[str, Any]:
    return {
        "limits": {q: {k: v for k, v in b.model_dump().items() if v is not None} for q, b in settings.limits.items()},
        "concentrations_mg_per_ml": tuple(settings.concentrations_mg_per_ml) if settings.concentrations_mg_per_ml else None,
        "default_bolus_duration_min": settings.default_bolus_duration_min,
    }


def _is_default(settings: DrugLibrarySettings) -> bool:
    kwargs = _library_kwargs(settings)
    return not any(kwargs["limits"].values()) and kwargs["concentrations_mg_per_ml"] is None \
        and kwargs["default_bolus_duration_min"] is None


def library_problems(settings: DrugLibrarySettings, base: DrugLibrary = DEFAULT_LIBRARY,
                     prefix: str = "drug_library") -> dict[str, str]:
    """Where the clinic's library would loosen ``base`` (field → why); empty when it only tightens.

    Each quantity is checked on its own so the message can sit next to its fields
    (``drug_library.limits.<quantity>``); then the whole library is checked once more.
    """
    problems: dict[str, str] = {}
    kwargs = _library_kwargs(settings)
    for quantity, bounds in kwargs["limits"].items():
        if not bounds:
            continue
        try:
            tighten_library(base, limits={quantity: bounds})
        except LibraryLoosenedError as error:
            problems[f"{prefix}.limits.{quantity}"] = str(error)
    if kwargs["concentrations_mg_per_ml"] is not None:
        try:
            tighten_library(base, concentrations_mg_per_ml=kwargs["concentrations_mg_per_ml"])
        except LibraryLoosenedError as error:
            problems[f"{prefix}.concentrations_mg_per_ml"] = str(error)
    if not problems:
        try:
            tighten_library(base, **kwargs)
        except LibraryLoosenedError as error:
            field = f"{prefix}.default_bolus_duration_min" if "bolus push" in str(error) else prefix
            problems[field] = str(error)
    return problems


def all_library_problems(data: ClinicSettingsData) -> dict[str, str]:
    """:func:`library_problems` for every care profile's settings."""
    problems: dict[str, str] = {}
    for field, profile in LIBRARY_FIELDS.items():
        problems.update(library_problems(getattr(data, field), PROFILES[profile], field))
    return problems


def library_of(data: ClinicSettingsData, version: int, profile: str = "low_dose") -> DrugLibrary:
    """The drug library these settings put in force for one care profile (the profile's default
    when nothing is tightened).

    Should a later release tighten a default past what a clinic stored, the quantities that no
    longer fit are left at the (tighter) default rather than loosened.
    """
    field = next(f for f, p in LIBRARY_FIELDS.items() if p == profile)
    settings: DrugLibrarySettings = getattr(data, field)
    base = PROFILES[profile]
    if _is_default(settings):
        return base
    kwargs = _library_kwargs(settings)
    name = f"{base.name} (clinic settings v{version})"
    try:
        return tighten_library(base, name=name, **kwargs)
    except LibraryLoosenedError:
        problems = library_problems(settings, base, field)
        kept = {q: b for q, b in kwargs["limits"].items() if f"{field}.limits.{q}" not in problems}
        try:
            return tighten_library(base, name=name, limits=kept)
        except LibraryLoosenedError:
            return base


def libraries_of(data: ClinicSettingsData, version: int) -> dict[str, DrugLibrary]:
    """Every care profile's library in force, by profile id."""
    return {profile: library_of(data, version, profile) for profile in PROFILES}


# --- reading the current version -------------------------------------------------------------


def _latest(uow: Session) -> ClinicSettingsVersion | None:
    return uow.execute(select(ClinicSettingsVersion).order_by(ClinicSettingsVersion.version.desc())
                           .limit(1)).scalar_one_or_none()


def current(uow: Session) -> tuple[int, ClinicSettingsData]:
    """The settings in force and their version (0 and the defaults when none were ever saved)."""
    row = _latest(uow)
    if row is None:
        return 0, ClinicSettingsData()
    return row.version, ClinicSettingsData.model_validate(row.data)


def current_library(uow: Session) -> DrugLibrary:
    """The default (low-dose) drug library, as the clinic tightened it."""
    version, data = current(uow)
    return library_of(data, version)


def current_libraries(uow: Session) -> dict[str, DrugLibrary]:
    """Every care profile's library, as the clinic tightened it: what pump programs are judged on."""
    version, data = current(uow)
    return libraries_of(data, version)


def current_checklist_policy(uow: Session) -> ChecklistPolicy:
    """The pre-infusion checklist's numbers with the clinic's fasting times."""
    _, data = current(uow)
    hours = data.fasting_hours.model_dump()
    if hours == ASA_FASTING_HOURS:
        return DEFAULT_CHECKLIST_POLICY
    return ChecklistPolicy(fasting_hours=hours)


def current_bedside_bolus_rule(uow: Session) -> str:
    """Who may give an extra IV ketamine bolus at the bedside (design 4.3 v2, a clinic setting)."""
    return current(uow)[1].bedside_bolus


def vitals_interval_min(db: Database) -> int:
    """The clinic's routine minutes between vital signs (the console's timer)."""
    with db.reading() as uow:
        return current(uow)[1].vitals_interval_min


def pump_double_check(db: Database) -> bool:
    """Whether the console asks for the second clinician's check before the start."""
    with db.reading() as uow:
        return current_pump_double_check(uow)


def current_pump_double_check(uow: Session) -> bool:
    """Whether a second clinician must check the pump program before a start (default yes)."""
    return current(uow)[1].pump_double_check


def current_minimum_observation_min(uow: Session) -> float:
    return current(uow)[1].minimum_observation_min


def current_schedule_policy(uow: Session) -> SchedulePolicy:
    """The schedule's numbers in force (issue 13)."""
    return current(uow)[1].schedule.policy()


def current_booster_policy(uow: Session) -> BoosterPolicy:
    days = current(uow)[1].booster_min_interval_days
    if days == DEFAULT_BOOSTER_POLICY.min_interval_days:
        return DEFAULT_BOOSTER_POLICY
    return BoosterPolicy(min_interval_days=days)


def drug_library(db: Database) -> DrugLibrary:
    """The low-dose library in force, for pages that compute a program before anything is saved."""
    with db.reading() as uow:
        return current_library(uow)


def drug_libraries(db: Database) -> dict[str, DrugLibrary]:
    """Every care profile's library in force (the plan builder computes with the profile chosen)."""
    with db.reading() as uow:
        return current_libraries(uow)


def clinic_name(db: Database) -> str:
    with db.reading() as uow:
        return current(uow)[1].clinic_name


# --- the service calls -------------------------------------------------------------------------


def _view(uow: Session, row: ClinicSettingsVersion | None) -> ClinicSettingsView:
    if row is None:
        data, version = ClinicSettingsData(), 0
    else:
        data, version = ClinicSettingsData.model_validate(row.data), row.version
    return ClinicSettingsView(
        version=version, created_at=row.created_at if row else None, created_by=row.created_by if row else None,
        created_by_username=row.created_by_username if row else None, note=row.note if row else None,
        data=data, changes=list(row.changes) if row else [], defaults=ClinicSettingsData(),
        library=library_of(data, version).as_dict(), default_library=DEFAULT_LIBRARY.as_dict(),
        libraries={p: lib.as_dict() for p, lib in libraries_of(data, version).items()})


def get_settings(db: Database, actor: Actor) -> ClinicSettingsView:
    require_role(actor, *READ_ROLES)
    with db.reading() as uow:
        return _view(uow, _latest(uow))


def list_versions(db: Database, actor: Actor, *, limit: int = 50) -> list[VersionSummary]:
    """The history of the settings, newest first: who changed what, when, and why."""
    require_role(actor, *WRITE_ROLES)
    with db.reading() as uow:
        rows = uow.execute(select(ClinicSettingsVersion).order_by(ClinicSettingsVersion.version.desc())
                               .limit(max(1, min(limit, 200)))).scalars().all()
        return [VersionSummary(version=r.version, created_at=r.created_at, created_by_username=r.created_by_username,
                               note=r.note, changes=list(r.changes)) for r in rows]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def changes_between(old: ClinicSettingsData, new: ClinicSettingsData) -> list[dict[str, Any]]:
    """Every leaf that differs, as ``{"field", "from", "to"}`` (None: not set / the default)."""
    before = _flatten(old.model_dump(mode="json", exclude_none=True))
    after = _flatten(new.model_dump(mode="json", exclude_none=True))
    return [{"field": key, "from": before.get(key), "to": after.get(key)}
            for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]


def update_settings(db: Database, actor: Actor, expected_version: int | None, patch: ClinicSettingsPatch,
                    *, now: datetime | None = None) -> ClinicSettingsView:
    """Save a new version of the settings (admin, If-Match with the version read; 0 for the defaults)."""
    require_role(actor, *WRITE_ROLES)
    now = now or utcnow()
    with unit_of_work(db) as uow:
        version, old = current(uow)
        if expected_version is None:
            raise PreconditionRequired("send If-Match with the settings version you last read (0 for the defaults)")
        if expected_version != version:
            raise Conflict(f"version {expected_version} is stale: the clinic settings are at version {version}",
                           field="If-Match")
        merged = old.model_dump()
        for name in patch.model_fields_set - {"note"}:
            value = getattr(patch, name)
            if value is not None:
                merged[name] = value.model_dump() if isinstance(value, BaseModel) else value
        new = ClinicSettingsData.model_validate(merged)
        problems = all_library_problems(new)
        if problems:
            field, message = next(iter(problems.items()))
            raise ValidationFailed(f"the drug library may only be tightened: {message}", code="library_loosened",
                                   field=field)
        changes = changes_between(old, new)
        if not changes:
            raise ValidationFailed("nothing changed", code="no_change")
        row = ClinicSettingsVersion(version=version + 1, data=new.model_dump(mode="json"), changes=changes,
                                    note=patch.note, created_at=now, created_by=actor.user_id,
                                    created_by_username=actor.username)
        uow.add(row)
        uow.flush()  # a concurrent save of the same version fails here on the unique version (409)
        if old.booster_min_interval_days != new.booster_min_interval_days:
            from ketaclinic.services.follow_up_summaries import mark_all_stale

            mark_all_stale(uow)  # every patient's booster suggestion is worked out again before it is shown
        audit(uow, actor, "clinic_settings.update", "clinic_settings", row.version,
              {"version": row.version, "changes": changes, "note": patch.note})
        return _view(uow, row)
