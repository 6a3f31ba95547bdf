"""Every route × every role against ONE policy table. A new route without an entry here fails.

Allowed roles must get past authorization (any status but 401/403); everyone else gets 403, and
an anonymous caller 401. Public routes answer anyone.
"""

import pytest
from fastapi import APIRouter

from ketaclinic.api.app import UndeclaredRouteError, _enforce_policy, iter_api_routes, route_rule

PUBLIC = "public"
ALL = {"admin", "physician", "nurse", "coordinator", "patient"}
CHART_READERS = {"physician", "nurse", "coordinator", "patient"}
QUEUE_READERS = {"coordinator", "physician", "admin"}
QUEUE_WORKERS = {"coordinator", "physician"}
CLINICIANS = {"physician", "nurse"}
SCHEDULERS = {"physician", "nurse", "coordinator"}
DIARY = {"physician", "nurse", "patient"}

POLICY = {
    ("GET", "/healthz"): PUBLIC,
    ("POST", "/api/v1/auth/token"): PUBLIC,
    ("GET", "/api/v1/auth/me"): ALL,
    ("GET", "/api/v1/patients"): CHART_READERS,
    ("POST", "/api/v1/patients"): {"physician", "coordinator"},
    ("GET", "/api/v1/patients/{patient_id}"): CHART_READERS,
    ("PATCH", "/api/v1/patients/{patient_id}"): {"physician", "nurse", "coordinator"},
    ("GET", "/api/v1/patients/{patient_id}/weights"): {"physician", "nurse", "patient"},
    ("POST", "/api/v1/patients/{patient_id}/weights"): {"physician", "nurse"},
    ("GET", "/api/v1/patients/{patient_id}/versions"): {"physician", "coordinator"},
    ("POST", "/api/v1/inquiries"): PUBLIC,
    ("GET", "/api/v1/inquiries/sites"): PUBLIC,
    ("GET", "/api/v1/inquiries"): QUEUE_READERS,
    ("GET", "/api/v1/inquiries/{inquiry_id}"): QUEUE_READERS,
    ("POST", "/api/v1/inquiries/{inquiry_id}/answer"): QUEUE_WORKERS,
    ("POST", "/api/v1/inquiries/{inquiry_id}/schedule"): QUEUE_WORKERS,
    ("POST", "/api/v1/inquiries/{inquiry_id}/convert"): QUEUE_WORKERS,
    ("POST", "/api/v1/inquiries/{inquiry_id}/close"): QUEUE_WORKERS,
    ("POST", "/api/v1/referrals"): {"physician", "coordinator"},
    ("GET", "/api/v1/referrals/{import_id}"): {"physician", "nurse", "coordinator"},
    ("POST", "/api/v1/patients/{patient_id}/referrals"): {"physician"},
    ("GET", "/api/v1/audit"): {"admin"},
    ("GET", "/api/v1/audit/verify"): {"admin"},
    ("GET", "/api/v1/users"): {"admin"},
    ("POST", "/api/v1/users"): {"admin"},
    ("PATCH", "/api/v1/users/{user_id}"): {"admin"},
    # clinical routes (design.md 5): physicians and nurses; the physician signs; coordinators schedule;
    # patients see their own diary, visits and reports
    ("GET", "/api/v1/evaluations"): CLINICIANS,
    ("POST", "/api/v1/evaluations"): CLINICIANS,
    ("GET", "/api/v1/evaluations/{evaluation_id}"): CLINICIANS,
    ("PATCH", "/api/v1/evaluations/{evaluation_id}"): CLINICIANS,
    ("POST", "/api/v1/evaluations/{evaluation_id}/sign"): {"physician"},
    ("POST", "/api/v1/evaluations/{evaluation_id}/amend"): {"physician"},
    ("GET", "/api/v1/plans"): CLINICIANS,
    ("POST", "/api/v1/plans"): CLINICIANS,
    ("GET", "/api/v1/plans/{plan_id}"): CLINICIANS,
    ("PATCH", "/api/v1/plans/{plan_id}"): CLINICIANS,
    ("POST", "/api/v1/plans/{plan_id}/sign"): {"physician"},
    ("GET", "/api/v1/plans/{plan_id}/preview"): CLINICIANS,
    ("GET", "/api/v1/sessions"): CHART_READERS,
    ("POST", "/api/v1/sessions"): SCHEDULERS,
    ("GET", "/api/v1/sessions/{session_id}"): CHART_READERS,
    ("POST", "/api/v1/sessions/{session_id}/check-in"): CLINICIANS,
    ("POST", "/api/v1/sessions/{session_id}/checklist"): CLINICIANS,
    ("POST", "/api/v1/sessions/{session_id}/checklist/override"): {"physician"},
    ("POST", "/api/v1/sessions/{session_id}/start"): CLINICIANS,
    ("POST", "/api/v1/sessions/{session_id}/stop"): CLINICIANS,
    ("POST", "/api/v1/sessions/{session_id}/discharge-assessment"): CLINICIANS,
    ("POST", "/api/v1/sessions/{session_id}/discharge"): CLINICIANS,
    ("POST", "/api/v1/sessions/{session_id}/cancel"): SCHEDULERS,
    ("GET", "/api/v1/sessions/{session_id}/events"): CLINICIANS,
    ("POST", "/api/v1/sessions/{session_id}/events"): CLINICIANS,
    ("GET", "/api/v1/diary"): DIARY,
    ("POST", "/api/v1/diary"): DIARY,
    ("GET", "/api/v1/diary/booster"): DIARY,
    ("GET", "/api/v1/outcomes"): CLINICIANS,
    ("GET", "/api/v1/outcomes/patients/{patient_id}"): DIARY,
    ("GET", "/api/v1/patients/{patient_id}/fhir"): {"physician", "patient"},
    # printable documents (PDF): the patient's own summary; the clinic's outcome report for a date range
    ("GET", "/api/v1/patients/{patient_id}/summary.pdf"): DIARY,
    ("GET", "/api/v1/outcomes/report.pdf"): CLINICIANS,
    # letters to the referring physician (a patient: their own) and the session record (clinicians)
    ("GET", "/api/v1/evaluations/{evaluation_id}/letter.pdf"): DIARY,
    ("GET", "/api/v1/patients/{patient_id}/course-letter.pdf"): DIARY,
    ("GET", "/api/v1/sessions/{session_id}/record.pdf"): CLINICIANS,
    # clinic settings (design.md 5): the admin changes them; clinicians read the drug library in force
    ("GET", "/api/v1/clinic-settings"): {"admin", "physician", "nurse"},
    ("PATCH", "/api/v1/clinic-settings"): {"admin"},
    # the de-identified research export: a governance act of the admin (data steward), audited
    ("POST", "/api/v1/research/exports"): {"admin"},
    # issue 12: allergies on the chart (clinicians); portal invitations (admin, coordinator: design.md 5)
    # and password resets (admin) by one-time link; using a link is public (its secret is the credential)
    ("GET", "/api/v1/patients/{patient_id}/allergies"): CLINICIANS,
    ("POST", "/api/v1/patients/{patient_id}/allergies"): CLINICIANS,
    ("POST", "/api/v1/allergies/{allergy_id}/amend"): CLINICIANS,
    # issue 15: questionnaires (patients answer their own; the coordinator sees none)
    ("GET", "/api/v1/questionnaires/instruments"): {"admin", "physician", "nurse", "patient"},
    ("POST", "/api/v1/questionnaires/instruments"): {"admin"},
    ("GET", "/api/v1/patients/{patient_id}/questionnaires"): DIARY,
    ("POST", "/api/v1/patients/{patient_id}/questionnaires"): DIARY,
    ("GET", "/api/v1/questionnaire-responses/{response_id}"): DIARY,
    ("POST", "/api/v1/questionnaire-responses/{response_id}"): DIARY,
    ("POST", "/api/v1/questionnaire-responses/{response_id}/answers"): DIARY,
    ("GET", "/api/v1/questionnaire-alerts"): CLINICIANS,
    ("POST", "/api/v1/questionnaire-alerts/{alert_id}/acknowledge"): {"physician"},
    # issue 14 (medication record): physicians write and stop PRN orders; clinicians read them and give doses
    ("GET", "/api/v1/plans/{plan_id}/prn-orders"): CLINICIANS,
    ("POST", "/api/v1/plans/{plan_id}/prn-orders"): {"physician"},
    ("POST", "/api/v1/prn-orders/{order_id}/stop"): {"physician"},
    ("GET", "/api/v1/sessions/{session_id}/prn"): CLINICIANS,
    ("POST", "/api/v1/sessions/{session_id}/prn-doses"): CLINICIANS,
    ("POST", "/api/v1/users/invitations"): {"admin", "coordinator"},
    ("POST", "/api/v1/users/{user_id}/password-reset"): {"admin"},
    ("GET", "/api/v1/sites"): {"admin", "physician", "nurse", "coordinator"},
    # billing (issue 15): the coordinator runs it; the admin keeps the price lists; the physician picks the E/M level
    ("GET", "/api/v1/sites/{site_id}/price-list"): {"admin", "coordinator"},
    ("PUT", "/api/v1/sites/{site_id}/price-list"): {"admin"},
    # issue 14: the controlled-substance register (coordinators and patients: nothing)
    ("GET", "/api/v1/register/balances"): {"admin", "physician", "nurse"},
    ("GET", "/api/v1/register/entries"): {"admin", "physician", "nurse"},
    ("GET", "/api/v1/register/products"): {"admin", "physician", "nurse"},
    ("POST", "/api/v1/register/products"): {"admin"},
    ("GET", "/api/v1/register/locations"): {"admin", "physician", "nurse"},
    ("POST", "/api/v1/register/locations"): {"admin"},
    ("GET", "/api/v1/register/lots"): {"admin", "physician", "nurse"},
    ("POST", "/api/v1/register/receipts"): {"physician", "admin"},
    ("POST", "/api/v1/register/dispenses"): {"physician", "nurse"},
    ("POST", "/api/v1/register/administrations"): {"physician", "nurse"},
    ("POST", "/api/v1/register/wastes"): {"physician", "nurse"},
    ("POST", "/api/v1/register/returns"): {"admin", "physician", "nurse"},
    ("POST", "/api/v1/register/transfers"): {"physician", "nurse"},
    ("POST", "/api/v1/register/counts"): {"physician", "nurse"},
    ("GET", "/api/v1/register/discrepancies"): {"admin", "physician", "nurse"},
    ("POST", "/api/v1/register/counts/{count_id}/resolve"): {"physician", "admin"},
    ("POST", "/api/v1/register/adjustments"): {"physician", "admin"},
    ("POST", "/api/v1/register/losses"): {"physician", "admin"},
    ("POST", "/api/v1/register/entries/{entry_id}/correct"): {"admin", "physician", "nurse"},
    ("GET", "/api/v1/register/sessions/{session_id}"): {"physician", "nurse"},
    ("GET", "/api/v1/register/locations/{location_id}/count-sheet"): {"admin", "physician", "nurse"},
    ("GET", "/api/v1/register/expiring"): {"admin", "physician", "nurse"},
    ("GET", "/api/v1/register/verify"): {"admin"},
    ("GET", "/api/v1/register/reports/{report}"): {"admin", "physician", "nurse"},
    ("POST", "/api/v1/evaluations/{evaluation_id}/em-code"): {"physician"},
    ("GET", "/api/v1/invoices"): {"coordinator"},
    ("POST", "/api/v1/invoices"): {"coordinator"},
    ("GET", "/api/v1/invoices/{number}"): {"coordinator"},
    ("POST", "/api/v1/invoices/{number}/void"): {"coordinator"},
    ("POST", "/api/v1/invoices/{number}/payments"): {"coordinator"},
    ("POST", "/api/v1/invoices/{number}/refunds"): {"coordinator"},
    ("POST", "/api/v1/payments/{payment_id}/reverse"): {"coordinator"},
    ("GET", "/api/v1/invoices/{number}/superbill.pdf"): {"coordinator"},
    ("GET", "/api/v1/invoices/{number}/receipt.pdf"): {"coordinator"},
    ("GET", "/api/v1/patients/{patient_id}/billing"): {"coordinator"},
    ("GET", "/api/v1/billing/export.csv"): {"coordinator"},
    ("POST", "/api/v1/sites"): {"admin"},
    ("GET", "/api/v1/sites/{site_id}"): {"admin"},
    ("PATCH", "/api/v1/sites/{site_id}"): {"admin"},
    ("PUT", "/api/v1/sites/{site_id}/members/{user_id}"): {"admin"},
    ("DELETE", "/api/v1/sites/{site_id}/members/{user_id}"): {"admin"},
    # the schedule (issue 13): coordinators and physicians book; staff read; patients read their own
    ("GET", "/api/v1/chairs"): {"admin", "physician", "nurse", "coordinator"},
    ("POST", "/api/v1/chairs"): {"admin", "coordinator"},
    ("PATCH", "/api/v1/chairs/{chair_id}"): {"admin", "coordinator"},
    ("GET", "/api/v1/sites/{site_id}/hours"): {"admin", "physician", "nurse", "coordinator"},
    ("PUT", "/api/v1/staff/{user_id}/hours"): {"admin", "coordinator"},
    ("GET", "/api/v1/staff-absences"): {"admin", "physician", "nurse", "coordinator"},
    ("POST", "/api/v1/staff-absences"): {"admin", "coordinator"},
    ("DELETE", "/api/v1/staff-absences/{absence_id}"): {"admin", "coordinator"},
    ("POST", "/api/v1/appointments"): {"coordinator", "physician"},
    ("POST", "/api/v1/appointments/proposals"): {"coordinator", "physician"},
    ("GET", "/api/v1/appointments"): {"coordinator", "physician", "nurse", "patient"},
    ("GET", "/api/v1/appointments/{appointment_id}"): {"coordinator", "physician", "nurse", "patient"},
    ("POST", "/api/v1/appointments/{appointment_id}/reschedule"): {"coordinator", "physician"},
    ("POST", "/api/v1/appointments/{appointment_id}/cancel"): {"coordinator", "physician"},
    ("POST", "/api/v1/appointments/{appointment_id}/no-show"): {"coordinator", "physician", "nurse"},
    ("GET", "/api/v1/waiting-list"): {"coordinator", "physician", "nurse"},
    ("POST", "/api/v1/waiting-list"): {"coordinator", "physician"},
    ("POST", "/api/v1/waiting-list/{entry_id}/remove"): {"coordinator", "physician"},
    # consent and reminders (issue 13): everyone signed in reads the document; the patient signs (or staff hold
    # the tablet); the admin keeps the document versions, the message templates and the outbox
    ("GET", "/api/v1/consent-documents/current"): ALL,
    ("GET", "/api/v1/consent-documents"): {"admin", "physician", "nurse", "coordinator"},
    ("GET", "/api/v1/consent-documents/{version}"): ALL,
    ("POST", "/api/v1/consent-documents"): {"admin"},
    ("GET", "/api/v1/patients/{patient_id}/consent"): ALL,
    ("POST", "/api/v1/patients/{patient_id}/consent"): {"patient", "physician", "nurse", "coordinator"},
    ("POST", "/api/v1/consent-signatures/{signature_id}/withdraw"): {"patient", "physician", "nurse"},
    ("GET", "/api/v1/consent-signatures/{signature_id}/signed.pdf"): ALL,
    ("GET", "/api/v1/consent-signatures/{signature_id}/fhir"): ALL,
    ("GET", "/api/v1/patients/{patient_id}/contact-preferences"): {"patient", "physician", "nurse", "coordinator"},
    ("PUT", "/api/v1/patients/{patient_id}/contact-preferences"): {"patient", "physician", "nurse", "coordinator"},
    ("GET", "/api/v1/outbox"): {"admin"},
    ("POST", "/api/v1/outbox/{message_id}/retry"): {"admin"},
    ("GET", "/api/v1/message-templates"): {"admin"},
    ("PUT", "/api/v1/message-templates/{kind}"): {"admin"},
    ("POST", "/api/v1/account/invitation"): PUBLIC,
    ("POST", "/api/v1/account/password-reset"): PUBLIC,
}
# Last: logging out ends the caller's sign-ins (design 4.10), so every other route is tried before it.
POLICY[("POST", "/api/v1/auth/logout")] = ALL


def _routes(app):
    """The API's routes (the web pages have their own table in tests/web/test_access_web.py)."""
    for path, route in iter_api_routes(app.routes):
        if not (path.startswith("/api/v1") or path == "/healthz"):
            continue
        for method in route.methods - {"HEAD", "OPTIONS"}:
            yield method, path, route


@pytest.mark.parametrize("engine", ["sqlite"])
def test_every_route_has_exactly_the_rule_in_the_table(app):
    seen = {(method, path) for method, path, _ in _routes(app)}
    assert seen - set(POLICY) == set(), "routes without an entry in POLICY (add one, with the roles it allows)"
    assert set(POLICY) - seen == set(), "POLICY names routes that do not exist"
    for method, path, route in _routes(app):
        if not path.startswith("/api/v1"):
            continue
        rule = route_rule(route)
        declared = PUBLIC if rule.public else set(rule.roles)
        assert declared == POLICY[(method, path)], f"{method} {path}"


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_route_without_a_rule_stops_the_app(app):
    extra = APIRouter(prefix="/api/v1")

    @extra.get("/forgotten")
    def forgotten() -> dict:
        return {}

    app.include_router(extra)
    with pytest.raises(UndeclaredRouteError):
        _enforce_policy(app)


def test_every_route_for_every_role(client, headers, clinic, settings, db):
    from ketaclinic.services.context import Actor
    from ketaclinic.services.inquiries import InquiryIn, submit_inquiry

    submit_inquiry(db, settings, Actor.public(None), InquiryIn(name="Synthetic", email="s@example.org",
                   preferred_contact="email", consent_to_contact=True))
    params = {"patient_id": clinic.own_patient_id, "inquiry_id": 1, "user_id": clinic.actors["admin"].user_id,
              "evaluation_id": 1, "plan_id": 1, "session_id": 1, "import_id": 1,
              "allergy_id": 1, "site_id": 1, "chair_id": 1, "absence_id": 1, "appointment_id": 1, "entry_id": 1, "response_id": 1, "alert_id": 1,
              "number": "MAIN-000001", "payment_id": 1, "count_id": 1, "location_id": 1, "report": "dispensing-log",
              "version": 1, "signature_id": 1, "message_id": 1, "kind": "confirmation", "order_id": 1}
    failures = []
    for (method, path), allowed in POLICY.items():
        url = path.format(**params)
        for role in [None, *sorted(ALL)]:
            kwargs = {"headers": headers[role]}
            if method in ("POST", "PATCH"):
                kwargs["json"] = {}
            status = client.request(method, url, **kwargs).status_code
            if allowed == PUBLIC or (role is not None and role in allowed):
                ok = status not in (401, 403)
            else:
                ok = status == (401 if role is None else 403)
            if not ok:
                failures.append(f"{method} {path} as {role}: {status}")
    assert failures == []
