"""Admin: users and roles, the drug library and clinic settings (versioned; the library only tightens),
the audit log with filters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from ketaclinic.clinical.dosing import DEFAULT_LIBRARY
from ketaclinic.services import audit as audit_service
from ketaclinic.services import clinic_settings as settings_service
from ketaclinic.services import users as user_service
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ServiceError
from ketaclinic.web.deps import check_csrf, db_of, errors_of, need, redirect, render

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
ROLES = ("admin", "physician", "nurse", "coordinator", "patient")


def _users_page(request: Request, actor: Actor, values: dict | None = None, errors: dict | None = None,
                status: int = 200) -> Response:
    users = user_service.list_users(db_of(request), actor, limit=200).items
    return render(request, "admin/users.html", {"users": users, "roles": ROLES, "role_options": [(r, r) for r in ROLES], "values": values or {"role": "nurse"},
                                                "errors": errors or {}}, status=status)


@router.get("/admin/users")
def users(request: Request, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    return _users_page(request, actor)


@router.post("/admin/users")
async def create_user(request: Request, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in ("username", "role", "password", "patient_id")}
    try:
        data = user_service.UserCreate(username=values["username"], role=values["role"], password=values["password"],
                                       patient_id=int(values["patient_id"]) if values["patient_id"].isdigit() else None)
        user_service.create_user(db_of(request), actor, data)
    except (ValidationError, ServiceError) as exc:
        values["password"] = ""
        return _users_page(request, actor, values, errors_of(exc), 422)
    return redirect(request, "/admin/users", f"Account {values['username']} created.")


@router.post("/admin/users/{user_id}")
async def update_user(request: Request, user_id: int, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    form = await request.form()
    change = str(form.get("change") or "")
    data = {"role": {"role": form.get("role")}, "deactivate": {"active": False}, "activate": {"active": True},
            "unlock": {"unlock": True}}.get(change)
    if data is None:
        return _users_page(request, actor, None, {"__all__": "Unknown change."}, 422)
    try:
        user_service.update_user(db_of(request), actor, user_id, int(form.get("version") or 0),
                                 user_service.UserUpdate(**data))
    except (ValidationError, ServiceError) as exc:
        return _users_page(request, actor, None, errors_of(exc), 422)
    return redirect(request, "/admin/users", "Account updated.")


BOUND_LABELS = (("soft_min", "Soft minimum"), ("soft_max", "Soft maximum"), ("hard_min", "Hard minimum"),
                ("hard_max", "Hard maximum"))
STALE = ("Someone else changed the clinic settings while you were editing (now version {version}). "
         "Your values are kept below: check them against the current ones and save again.")


def _fmt(value: object) -> str:
    return "" if value is None else f"{float(value):g}"


def _library_values(data: settings_service.ClinicSettingsData) -> dict[str, str]:
    """The form's values from the clinic's stored library (blank: the default applies)."""
    lib = data.drug_library
    values = {f"lim-{q}-{b}": _fmt(getattr(bounds, b)) for q, bounds in lib.limits.items() for b, _ in BOUND_LABELS}
    chosen = lib.concentrations_mg_per_ml or list(DEFAULT_LIBRARY.concentrations_mg_per_ml)
    values.update({f"conc-{c:g}": "yes" for c in chosen})
    values["default_bolus_duration_min"] = _fmt(lib.default_bolus_duration_min)
    return values


def _number(text: str, key: str, errors: dict[str, str]) -> float | None:
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        errors[key] = "Must be a number (or blank for the default)."
        return None
    if value != value or value in (float("inf"), float("-inf")) or value < 0:
        errors[key] = "Must be a number of 0 or more (or blank for the default)."
        return None
    return value


def library_from_form(form) -> tuple[dict[str, str], settings_service.DrugLibrarySettings | None, dict[str, str]]:
    """The typed values (to show again), the library they make, and the errors next to each field."""
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    limits: dict[str, dict[str, float]] = {}
    for lim in DEFAULT_LIBRARY.limits():
        for bound, _ in BOUND_LABELS:
            key = f"lim-{lim.quantity}-{bound}"
            values[key] = str(form.get(key) or "").strip()
            number = _number(values[key], key, errors)
            if number is not None:
                limits.setdefault(lim.quantity, {})[bound] = number
    concentrations = [c for c in DEFAULT_LIBRARY.concentrations_mg_per_ml if form.get(f"conc-{c:g}") == "yes"]
    values.update({f"conc-{c:g}": "yes" for c in concentrations})
    if not concentrations:
        errors["drug_library.concentrations_mg_per_ml"] = "Keep at least one concentration."
    values["default_bolus_duration_min"] = str(form.get("default_bolus_duration_min") or "").strip()
    bolus = _number(values["default_bolus_duration_min"], "default_bolus_duration_min", errors)
    values["note"] = str(form.get("note") or "").strip()
    if errors:
        return values, None, errors
    all_concentrations = len(concentrations) == len(DEFAULT_LIBRARY.concentrations_mg_per_ml)
    try:
        library = settings_service.DrugLibrarySettings.model_validate({
            "limits": limits, "concentrations_mg_per_ml": None if all_concentrations else concentrations,
            "default_bolus_duration_min": bolus})
    except ValidationError as exc:
        return values, None, {"__all__": "; ".join(e["msg"] for e in exc.errors())}
    for key, message in settings_service.library_problems(library).items():
        errors[key.removeprefix("drug_library.limits.") if key.startswith("drug_library.limits.") else key] = (
            "Not allowed: the clinic may only tighten the default library. " + message)
    if "drug_library.default_bolus_duration_min" in errors:
        errors["default_bolus_duration_min"] = errors.pop("drug_library.default_bolus_duration_min")
    return values, library, errors


def _library_page(request: Request, actor: Actor, values: dict | None = None, errors: dict | None = None,
                  status: int = 200, version: int | None = None) -> Response:
    view = settings_service.get_settings(db_of(request), actor)
    clinic = {lim["quantity"]: lim for lim in view.library["limits"]}
    rows = []
    for lim in DEFAULT_LIBRARY.as_dict()["limits"]:
        rows.append({**lim, "clinic": clinic.get(lim["quantity"], lim)})
    return render(request, "admin/drug_library.html", {
        "view": view, "rows": rows, "bound_labels": BOUND_LABELS, "default": DEFAULT_LIBRARY.as_dict(),
        "values": values if values is not None else _library_values(view.data), "errors": errors or {},
        "version": view.version if version is None else version, "can_edit": actor.role == "admin"}, status=status)


@router.get("/admin/drug-library")
def drug_library(request: Request, actor: Annotated[Actor, Depends(need("admin", "physician"))]) -> Response:
    return _library_page(request, actor)


@router.post("/admin/drug-library")
async def save_drug_library(request: Request, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    form = await request.form()
    version = int(form.get("version") or 0) if str(form.get("version") or "0").isdigit() else 0
    values, library, errors = library_from_form(form)
    if errors or library is None:
        return _library_page(request, actor, values, errors, 422, version)
    try:
        view = settings_service.update_settings(db_of(request), actor, version, settings_service.ClinicSettingsPatch(
            drug_library=library, note=values["note"] or None))
    except ServiceError as exc:
        if exc.status == 409:
            current = settings_service.get_settings(db_of(request), actor).version
            return _library_page(request, actor, values, {"__all__": STALE.format(version=current)}, 409, version)
        if exc.code == "no_change":
            return redirect(request, "/admin/drug-library", "Nothing changed: the library is as it was.")
        return _library_page(request, actor, values, errors_of(exc), 422, version)
    return redirect(request, "/admin/drug-library",
                    f"Drug library saved (clinic settings version {view.version}): new plans and rate changes use it.")


SETTINGS_FIELDS = ("clinic_name", "minimum_observation_min", "booster_min_interval_days", "note",
                   *(f"fasting_{k}" for k in settings_service.ASA_FASTING_HOURS))


def _settings_values(data: settings_service.ClinicSettingsData) -> dict[str, str]:
    values = {"clinic_name": data.clinic_name, "minimum_observation_min": _fmt(data.minimum_observation_min),
              "booster_min_interval_days": str(data.booster_min_interval_days), "note": ""}
    values.update({f"fasting_{k}": _fmt(v) for k, v in data.fasting_hours.model_dump().items()})
    return values


def _settings_page(request: Request, actor: Actor, values: dict | None = None, errors: dict | None = None,
                   status: int = 200, version: int | None = None) -> Response:
    db = db_of(request)
    view = settings_service.get_settings(db, actor)
    return render(request, "admin/settings.html", {
        "view": view, "values": values if values is not None else _settings_values(view.data), "errors": errors or {},
        "version": view.version if version is None else version, "asa": settings_service.ASA_FASTING_HOURS,
        "history": settings_service.list_versions(db, actor, limit=20)}, status=status)


@router.get("/admin/settings")
def clinic_settings(request: Request, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    return _settings_page(request, actor)


@router.post("/admin/settings")
async def save_clinic_settings(request: Request, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    form = await request.form()
    version = int(form.get("version") or 0) if str(form.get("version") or "0").isdigit() else 0
    values = {k: str(form.get(k) or "").strip() for k in SETTINGS_FIELDS}
    body = {"clinic_name": values["clinic_name"], "minimum_observation_min": values["minimum_observation_min"] or None,
            "booster_min_interval_days": values["booster_min_interval_days"] or None, "note": values["note"] or None,
            "fasting_hours": {k: values[f"fasting_{k}"] or v for k, v in settings_service.ASA_FASTING_HOURS.items()}}
    try:
        patch = settings_service.ClinicSettingsPatch.model_validate({k: v for k, v in body.items() if v is not None})
        view = settings_service.update_settings(db_of(request), actor, version, patch)
    except ValidationError as exc:
        errors = {}
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            key = f"fasting_{loc[1]}" if loc[0] == "fasting_hours" and len(loc) > 1 else loc[0]
            errors.setdefault(key, err["msg"].removeprefix("Value error, "))
        return _settings_page(request, actor, values, errors, 422, version)
    except ServiceError as exc:
        if exc.status == 409:
            current = settings_service.get_settings(db_of(request), actor).version
            return _settings_page(request, actor, values, {"__all__": STALE.format(version=current)}, 409, version)
        if exc.code == "no_change":
            return redirect(request, "/admin/settings", "Nothing changed.")
        return _settings_page(request, actor, values, errors_of(exc), 422, version)
    return redirect(request, "/admin/settings", f"Clinic settings saved (version {view.version}).")


@router.get("/admin/audit")
def audit_log(request: Request, actor: Annotated[Actor, Depends(need("admin"))], username: str | None = None,
              action: str | None = None, record_type: str | None = None, record_id: str | None = None,
              since: str | None = None, cursor: str | None = None) -> Response:
    values = {"username": username or "", "action": action or "", "record_type": record_type or "",
              "record_id": record_id or "", "since": since or ""}
    errors: dict[str, str] = {}
    since_dt = None
    if since:
        try:
            since_dt = datetime.fromisoformat(since)
        except ValueError:
            errors["since"] = "Use a date like 2026-01-31."
    filters = audit_service.AuditFilter(username=username or None, action=action or None, record_type=record_type or None,
                                        record_id=record_id or None, since=since_dt)
    page = audit_service.list_audit(db_of(request), actor, filters, limit=100, cursor=cursor or None)
    return render(request, "admin/audit.html", {"entries": page.items, "next_cursor": page.next_cursor,
                                                "values": values, "errors": errors})
