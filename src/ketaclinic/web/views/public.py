"""The public consultation request (no sign-in): stored through the inquiries service, nothing else."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.services import inquiries as inquiry_service
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import ServiceError
from ketaclinic.web.deps import check_csrf, client_ip, db_of, errors_of, rate_limit, render, settings_of

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)

CONDITION_OPTIONS = [("", "Choose the closest, or leave blank")] + [
    (c.name, c.name) for c in CONDITIONS.values()] + [("Not sure / something else", "Not sure / something else")]
FIELDS = ("name", "phone", "email", "preferred_contact", "condition", "message", "consent_to_contact", "site_id")


def site_options(request: Request) -> list[tuple[str, str]]:
    """The group's open sites for the form (issue 17); empty with one site (no question to ask)."""
    sites = inquiry_service.public_sites(db_of(request))
    if len(sites) < 2:
        return []
    return [("", "No preference (the main site)")] + [
        (str(s.id), f"{s.name} — {s.address}" if s.address else s.name) for s in sites]


@router.get("/request-consultation")
def consultation_form(request: Request) -> Response:
    return render(request, "public/consultation.html", {"conditions": CONDITION_OPTIONS, "sites": site_options(request),
                                                         "values": {"preferred_contact": "phone"}})


@router.post("/request-consultation")
async def consultation_submit(request: Request) -> Response:
    form = await request.form()
    values = {name: (form.get(name) or "").strip() for name in FIELDS if name != "consent_to_contact"}
    values["consent_to_contact"] = form.get("consent_to_contact") == "yes"
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "Tell us your name so we know whom to ask for."
    if values["preferred_contact"] not in ("phone", "email"):
        errors["preferred_contact"] = "Choose how you would like us to contact you."
    elif not values[values["preferred_contact"]]:
        which = values["preferred_contact"]
        errors[which] = f"Give {'a phone number' if which == 'phone' else 'an e-mail address'} so we can contact you that way."
    if values["phone"] and sum(ch.isdigit() for ch in values["phone"]) < 7:
        errors["phone"] = "This does not look like a phone number: include the area code."
    if values["email"] and ("@" not in values["email"] or "." not in values["email"].split("@")[-1]):
        errors["email"] = "This does not look like an e-mail address (name@example.org)."
    if not values["consent_to_contact"]:
        errors["consent_to_contact"] = "We can only answer if you agree to be contacted."
    context = {"conditions": CONDITION_OPTIONS, "values": values, "sites": site_options(request)}
    site = values["site_id"]
    if site and not (site.isdigit() and len(site) < 10 and any(value == site for value, _ in context["sites"])):
        errors["site_id"] = "Choose one of the clinic's sites, or no preference."
    if errors:
        return render(request, "public/consultation.html", {**context, "errors": errors}, status=422)
    settings = settings_of(request)
    if not rate_limit(request, "inquiry", settings.inquiry_rate_limit, settings.inquiry_rate_window_s):
        return render(request, "public/consultation.html", {**context, "errors": {
            "__all__": "Too many requests were sent from this device. Please wait an hour, or call the clinic."}},
            status=429)
    try:
        data = inquiry_service.InquiryIn(
            name=values["name"], phone=values["phone"] or None, email=values["email"] or None,
            preferred_contact=values["preferred_contact"], condition=values["condition"] or None,
            message=values["message"], consent_to_contact=True, site_id=int(site) if site else None)
        receipt = inquiry_service.submit_inquiry(db_of(request), settings, Actor.public(client_ip(request)), data)
    except (ValidationError, ServiceError) as exc:
        return render(request, "public/consultation.html", {**context, "errors": errors_of(exc)}, status=422)
    local = receipt.answer_by.astimezone(settings.timezone)
    return render(request, "public/thanks.html", {"answer_by": local, "name": values["name"],
                                                  "channel": values["preferred_contact"]})
