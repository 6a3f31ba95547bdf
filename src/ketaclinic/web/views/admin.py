"""Admin: users and roles (with the names and credentials they sign with), portal invitations and password
reset links, the drug library and clinic settings (versioned; the library only tightens), the audit log in
words with filters, and the sites of the group with who works where (issue 17)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from ketaclinic.clinical.dosing import DEFAULT_LIBRARY
from ketaclinic.clinical.drug_library import ADJUNCTS
from ketaclinic.services import audit_log as audit_log_service
from ketaclinic.services import clinic_settings as settings_service
from ketaclinic.services import invitations as invitation_service
from ketaclinic.services import patients as patient_service
from ketaclinic.services import sites as site_service
from ketaclinic.services import users as user_service
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import NotFound, ServiceError
from ketaclinic.web.deps import check_csrf, db_of, errors_of, need, redirect, render, settings_of

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
ROLES = ("admin", "physician", "nurse", "coordinator", "patient")


STAFF_ROLES = ("admin", "physician", "nurse", "coordinator")
CREDENTIALS_HELP = "For example MD, DO, RN, NP; several separated by commas. Shown after the name on signatures."


USERS_PAGE = 50  # accounts a page (issue 17: keyset, with a search; patients' portal accounts can be 100,000)
KINDS = (("", "All accounts"), ("staff", "Staff"), ("patient", "Patient portal"))


def _users_page(request: Request, actor: Actor, values: dict | None = None, errors: dict | None = None,
                status: int = 200, *, q: str = "", kind: str = "", cursor: str | None = None) -> Response:
    db = db_of(request)
    only: Literal["staff", "patient"] | None = "staff" if kind == "staff" else "patient" if kind == "patient" else None
    kind = only or ""
    errors = dict(errors or {})
    try:
        page = user_service.list_users(db, actor, limit=USERS_PAGE, cursor=cursor or None, q=q or None, kind=only)
    except ServiceError:  # a cursor this server did not give: from the start
        errors.setdefault("__all__", "That page link is not valid any more: the list starts again from the top.")
        page = user_service.list_users(db, actor, limit=USERS_PAGE, q=q or None, kind=only)
    filters = {k: v for k, v in (("q", q), ("kind", kind)) if v}
    return render(request, "admin/users.html", {
        "users": page.items, "roles": ROLES, "role_options": [(r, r) for r in STAFF_ROLES],
        "values": values or {"role": "nurse"}, "errors": errors, "credentials_help": CREDENTIALS_HELP,
        "without_account": invitation_service.without_portal_account(db, actor), "q": q, "kind": kind,
        "kinds": KINDS, "page_size": USERS_PAGE, "first_page": not cursor, "filters": urlencode(filters),
        "next_page": urlencode({**filters, "cursor": page.next_cursor}) if page.next_cursor else None}, status=status)


@router.get("/admin/users")
def users(request: Request, actor: Annotated[Actor, Depends(need("admin"))], q: str | None = None,
          kind: str | None = None, cursor: str | None = None) -> Response:
    return _users_page(request, actor, q=(q or "").strip()[:64], kind=kind or "", cursor=cursor)


@router.post("/admin/users")
async def create_user(request: Request, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    """A staff account; patients get theirs by invitation (issue 12), not by a typed patient id."""
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in ("username", "role", "password", "full_name", "credentials")}
    try:
        if values["role"] not in STAFF_ROLES:
            raise ServiceError("patients get their portal account by invitation (below)", field="role")
        data = user_service.UserCreate(username=values["username"], role=values["role"], password=values["password"],
                                       full_name=values["full_name"] or None, credentials=values["credentials"] or None)
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


def _user_of(request: Request, actor: Actor, user_id: int) -> user_service.UserView:
    return user_service.get_user(db_of(request), actor, user_id)


def _name_page(request: Request, actor: Actor, user: user_service.UserView, values: dict, errors: dict,
               status: int = 200) -> Response:
    return render(request, "admin/user_name.html", {"user": user, "values": values, "errors": errors,
                                                    "credentials_help": CREDENTIALS_HELP}, status=status)


@router.get("/admin/users/{user_id}/name")
def user_name(request: Request, user_id: int, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    user = _user_of(request, actor, user_id)
    return _name_page(request, actor, user, {"full_name": user.full_name or "", "credentials": user.credentials or "",
                                             "npi": user.npi or ""}, {})


@router.post("/admin/users/{user_id}/name")
async def save_user_name(request: Request, user_id: int, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in ("full_name", "credentials", "npi")}
    user = _user_of(request, actor, user_id)
    try:
        version = int(str(form.get("version") or "0")) if str(form.get("version") or "0").isdigit() else 0
        view = user_service.update_user(db_of(request), actor, user_id, version, user_service.UserUpdate(
            full_name=values["full_name"] or None, credentials=values["credentials"] or None,
            npi=values["npi"] or None))
    except (ValidationError, ServiceError) as exc:
        errors = errors_of(exc)
        if "If-Match" in errors:
            errors = {"__all__": "Someone else changed this account meanwhile: reload the page and save again."}
        return _name_page(request, actor, user, values, errors, 422)
    return redirect(request, "/admin/users", f"Saved: {view.username} signs as “{view.display_name}”.")


def _link_page(request: Request, issued: invitation_service.LinkIssued) -> Response:
    url = str(request.base_url).rstrip("/") + issued.path
    return render(request, "admin/link_issued.html", {"issued": issued, "url": url}, status=201,
                  headers={"Cache-Control": "no-store"})


@router.post("/admin/users/{user_id}/reset-link")
def reset_link(request: Request, user_id: int, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    try:
        issued = invitation_service.issue_password_reset(db_of(request), actor, user_id)
    except ServiceError as exc:
        return _users_page(request, actor, None, {"__all__": exc.message[:1].upper() + exc.message[1:] + "."}, exc.status)
    return _link_page(request, issued)


def _invite_page(request: Request, actor: Actor, values: dict, errors: dict, status: int = 200) -> Response:
    """The invitation form (issue 17): a search finds the patient (never a list of the whole clinic); the
    chosen one (``patient_id``) is shown, still changeable by another search."""
    db = db_of(request)
    chosen_id = values.get("patient_id") or ""
    chosen = None
    if chosen_id.isdigit() and len(chosen_id) < 10:
        chosen = next(iter(invitation_service.find_invitable(db, actor, patient_id=int(chosen_id)).items), None)
    errors = dict(errors)
    if chosen_id and chosen is None and "patient_id" not in errors:
        errors["patient_id"] = ("That patient cannot be invited here: they already have a portal account, or are "
                                "not a patient of your sites. Find the patient below.")
    q = (values.get("q") or "").strip()[:100]
    found = invitation_service.find_invitable(db, actor, q=q) if q else None
    search_errors = {"q": errors["patient_id"]} if "patient_id" in errors and chosen is None else {}
    if "patient_id" in errors and chosen is not None:
        errors["__all__"] = errors.pop("patient_id")
    return render(request, "admin/invite.html", {
        "chosen": chosen, "q": q, "found": found.items if found else [], "more": bool(found and found.more),
        "limit": patient_service.SEARCH_LIMIT, "search_help": patient_service.SEARCH_HELP,
        "href_of": lambda p: f"/invitations/new?patient_id={p.id}", "values": values, "errors": errors,
        "search_errors": search_errors}, status=status)


@router.get("/invitations/new")
def new_invitation(request: Request, actor: Annotated[Actor, Depends(need(*invitation_service.INVITE_ROLES))],
                   patient_id: str | None = None, q: str | None = None) -> Response:
    return _invite_page(request, actor, {"patient_id": (patient_id or "").strip(), "q": q or ""}, {})


@router.post("/invitations")
async def create_invitation(request: Request,
                            actor: Annotated[Actor, Depends(need(*invitation_service.INVITE_ROLES))]) -> Response:
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in ("patient_id", "username")}
    try:
        if not values["patient_id"].isdigit():
            raise ServiceError("choose the patient to invite", field="patient_id")
        data = invitation_service.InvitationIn(patient_id=int(values["patient_id"]), username=values["username"] or None)
        issued = invitation_service.issue_invitation(db_of(request), actor, data)
    except (ValidationError, ServiceError) as exc:
        return _invite_page(request, actor, values, errors_of(exc), 422)
    return _link_page(request, issued)


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
        "version": view.version if version is None else version, "can_edit": actor.role == "admin",
        "library": ADJUNCTS}, status=status)  # the adjunct and rescue drugs (issue 14: clinical/drug_library.py)


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
def audit_log(request: Request, actor: Annotated[Actor, Depends(need("admin"))], user_id: str | None = None,
              patient_id: str | None = None, action: str | None = None, since: str | None = None,
              until: str | None = None, cursor: str | None = None, site_id: str | None = None,
              patient_q: str | None = None) -> Response:
    """The audit log in words (issue 12): who, what, which record (linked); filters (the site too: issue 17);
    50 a page, keyset. The patient is found by a search (``patient_q``: name, number, birth date), never
    picked from a list of the whole clinic (issue 17); one match is taken at once, several are offered."""
    values = {"user_id": user_id or "", "patient_id": patient_id or "", "action": action or "", "since": since or "",
              "until": until or "", "site_id": site_id or "", "patient_q": (patient_q or "").strip()[:100]}
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for key in ("since", "until"):
        days[key] = None
        if values[key]:
            try:
                days[key] = date.fromisoformat(values[key])
            except ValueError:
                errors[key] = "Pick a day in the calendar (or type it like 2026-01-31)."
    ids: dict[str, int | None] = {}
    for key in ("user_id", "patient_id", "site_id"):
        ids[key] = int(values[key]) if values[key].isdigit() and len(values[key]) < 10 else None
        if values[key] and ids[key] is None and not (key == "patient_id" and values["patient_q"]):
            errors[key] = "Choose from the list." if key != "patient_id" else "Find the patient by name, number or birth date."
    db = db_of(request)
    matches: list = []
    more = False
    chosen = None
    if values["patient_q"]:  # a new search replaces the patient chosen before
        matches, more = audit_log_service.find_patients(db, actor, q=values["patient_q"])
        if len(matches) == 1 and not more:  # the one patient: taken (the field empties, the choice shows)
            chosen, matches, values["patient_q"] = matches[0], [], ""
        ids["patient_id"], values["patient_id"] = (chosen.id, str(chosen.id)) if chosen else (None, "")
        if not matches and chosen is None:
            errors["patient_id"] = f"No patient matches “{values['patient_q']}”: check the spelling, or search by birth date or number."
    elif ids["patient_id"] is not None:
        chosen = next(iter(audit_log_service.find_patients(db, actor, patient_id=ids["patient_id"])[0]), None)
        if chosen is None:
            errors["patient_id"] = "No such patient: find the patient by name, number or birth date."
    since_at, until_at = audit_log_service.day_bounds(days["since"], days["until"], settings_of(request).timezone)
    page = audit_log_service.ReadablePage(items=[], next_cursor=None, size=audit_log_service.PAGE_SIZE)
    if not errors and not matches:
        try:
            page = audit_log_service.read_audit_log(db, actor, audit_log_service.AuditQuery(
                user_id=ids["user_id"], patient_id=ids["patient_id"], action=values["action"][:64] or None,
                since=since_at, until=until_at, site_id=ids["site_id"]), cursor=cursor or None)
        except ServiceError as exc:
            errors[exc.field if exc.field in values else "__all__"] = exc.message[:1].upper() + exc.message[1:] + "."
    kept = {k: v for k, v in values.items() if v and k != "patient_q"}
    query = urlencode(kept)
    without_patient = urlencode({k: v for k, v in kept.items() if k != "patient_id"})
    return render(request, "admin/audit.html", {
        "entries": page.items, "next_cursor": page.next_cursor, "page_size": page.size, "values": values,
        "errors": errors, "choices": audit_log_service.filter_choices(db, actor, user_id=ids["user_id"]),
        "query": query, "first_page": not cursor, "chosen_patient": chosen, "matches": matches, "more": more,
        "limit": patient_service.SEARCH_LIMIT, "search_help": patient_service.SEARCH_HELP,
        "without_patient": without_patient,
        "href_of": lambda p: "/admin/audit?" + urlencode({**{k: v for k, v in kept.items() if k != "patient_id"},
                                                         "patient_id": p.id})})


# --- sites of the group (issue 17) -------------------------------------------------------------

SITE_FIELDS = ("name", "code", "timezone", "address")


def _sites_page(request: Request, actor: Actor, values: dict | None = None, errors: dict | None = None,
                status: int = 200) -> Response:
    db = db_of(request)
    staff = [u for u in user_service.list_users(db, actor, limit=200, kind="staff").items if u.active]
    return render(request, "admin/sites.html", {
        "sites": site_service.list_sites(db, actor, members=True), "staff": staff, "site_roles": STAFF_ROLES,
        "values": values or {}, "errors": errors or {}, "clinic_timezone": settings_of(request).clinic_timezone},
        status=status)


def _site_problem(site_name: str, exc: Exception) -> dict[str, str]:
    """One line above the table for a change made in a site's row (its form has no room for messages)."""
    if isinstance(exc, ServiceError) and exc.field == "If-Match":
        return {"__all__": f"{site_name}: someone else changed this site meanwhile. Nothing was saved: "
                           "check the site below and save again."}
    message = "; ".join(errors_of(exc).values())
    return {"__all__": f"{site_name}: nothing was saved. {message[:1].upper() + message[1:]}"}


@router.get("/admin/sites")
def sites(request: Request, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    return _sites_page(request, actor)


@router.post("/admin/sites")
async def create_site(request: Request, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in SITE_FIELDS}
    try:
        data = site_service.SiteIn(name=values["name"], code=values["code"], timezone=values["timezone"] or None,
                                   address=values["address"] or None)
        view = site_service.create_site(db_of(request), actor, data)
    except (ValidationError, ServiceError) as exc:
        return _sites_page(request, actor, values, errors_of(exc), 422)
    return redirect(request, "/admin/sites", f"Site {view.name} ({view.code}) added.")


def _site_name(request: Request, actor: Actor, site_id: int) -> str:
    found = next((s for s in site_service.list_sites(db_of(request), actor) if s.id == site_id), None)
    if found is None:
        raise NotFound("site not found")
    return found.name


@router.post("/admin/sites/{site_id}")
async def update_site(request: Request, site_id: int, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    form = await request.form()
    name = _site_name(request, actor, site_id)
    values = {k: str(form.get(k) or "").strip() for k in SITE_FIELDS}
    version = int(str(form.get("version"))) if str(form.get("version") or "").isdigit() else 0
    try:
        patch = site_service.SitePatch(name=values["name"], code=values["code"], timezone=values["timezone"] or None,
                                       address=values["address"] or None, active=form.get("active") == "yes")
        view = site_service.update_site(db_of(request), actor, site_id, version, patch)
    except (ValidationError, ServiceError) as exc:
        return _sites_page(request, actor, None, _site_problem(name, exc), 409 if isinstance(exc, ServiceError)
                           and exc.status == 409 else 422)
    return redirect(request, "/admin/sites", f"Site {view.name} saved.")


@router.post("/admin/sites/{site_id}/members")
async def site_member(request: Request, site_id: int, actor: Annotated[Actor, Depends(need("admin"))]) -> Response:
    """Add a staff member to the site with a role, change their role there, or take them off the site."""
    form = await request.form()
    name = _site_name(request, actor, site_id)
    user_id = str(form.get("user_id") or "")
    change = str(form.get("change") or "set")
    try:
        if not user_id.isdigit() or len(user_id) > 9:
            raise ServiceError("choose a staff member", field="user_id")
        if change == "remove":
            site_service.remove_member(db_of(request), actor, site_id, int(user_id))
            done = "no longer works there"
        else:
            view = site_service.set_member(db_of(request), actor, site_id, int(user_id),
                                           site_service.MemberIn(role=str(form.get("role") or "")))
            role = next((m.role for m in view.members if m.user_id == int(user_id)), "")
            done = f"works there as {role}"
    except (ValidationError, ServiceError) as exc:
        status = exc.status if isinstance(exc, ServiceError) and exc.status in (404, 409) else 422
        return _sites_page(request, actor, None, _site_problem(name, exc), status)
    try:
        username = user_service.get_user(db_of(request), actor, int(user_id)).username
    except ServiceError:
        username = f"user {user_id}"
    return redirect(request, "/admin/sites", f"{name}: {username} {done}.")
