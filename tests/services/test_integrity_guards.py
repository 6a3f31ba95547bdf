"""Issue 16 item 12: the integrity guards each have a test that fails when the guard is removed.

- a stale If-Match for **every** service entry point that takes ``expected_version`` (found by scanning
  src/; a new one without a scenario here fails :func:`test_every_versioned_entry_point_has_a_stale_test`);
- an audit tamper test for **every** column of the audit log (records/audit.py);
- ``update_user``: role, password, deactivation (and its own stale version).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from ketaclinic.records import audit as audit_log
from ketaclinic.records.audit import AuditEntry, append, entry_hash, verify_chain
from ketaclinic.records.users import User
from ketaclinic.services import clinic_settings as cs
from ketaclinic.services import evaluations as ev
from ketaclinic.services import inquiries as iq
from ketaclinic.services import patients as pt
from ketaclinic.services import plans as pl
from ketaclinic.services import sessions as ss
from ketaclinic.services import users as us
from ketaclinic.services.auth import verify_password
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Conflict
from tests.interop.flows import (
    DISCHARGE,
    SCREENING,
    T0,
    checked_in,
    checklist,
    running,
    signed_evaluation,
    signed_plan,
)

SERVICES = Path(__file__).resolve().parents[2] / "src" / "ketaclinic" / "services"
AT = T0 + timedelta(days=7)


def versioned_entry_points() -> set[str]:
    """``module.function`` of every public service function with an ``expected_version`` parameter."""
    found = set()
    for path in sorted(SERVICES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_") and node.name != "check_version":
                names = [a.arg for a in node.args.args + node.args.kwonlyargs]
                if "expected_version" in names:
                    found.add(f"{path.stem}.{node.name}")
    return found


def check_version_sites() -> set[str]:
    """``module.function`` of every function that calls ``check_version`` (helpers included)."""
    found = set()
    for path in sorted(SERVICES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name != "check_version":
                for call in ast.walk(node):
                    if isinstance(call, ast.Call) and getattr(call.func, "id", getattr(call.func, "attr", None)) == "check_version":
                        found.add(f"{path.stem}.{node.name}")
    return found


# --- one stale call per entry point: (record's current version, the call with a given version) -------------------

def _wrong(version: int) -> int:
    return version - 1 if version > 1 else version + 1


def _patient(db, clinic):
    view = pt.get_patient(db, clinic.actors["coordinator"], clinic.other_patient_id)
    return view.version, lambda v: pt.update_patient(db, clinic.actors["coordinator"], view.id, v,
                                                     pt.PatientPatch(phone="+1 555 0199"))


def _draft_evaluation(db, clinic):
    return ev.create_evaluation(db, clinic.actors["nurse"], ev.EvaluationIn(patient_id=clinic.own_patient_id,
                                                                            screening=SCREENING), now=T0)


def _update_evaluation(db, clinic):
    draft = _draft_evaluation(db, clinic)
    return draft.version, lambda v: ev.update_evaluation(db, clinic.actors["nurse"], draft.id, v,
                                                         ev.EvaluationPatch(notes="edited"), now=T0)


def _sign_evaluation(db, clinic):
    draft = _draft_evaluation(db, clinic)
    return draft.version, lambda v: ev.sign_evaluation(db, clinic.actors["physician"], draft.id, v,
                                                       now=T0 + timedelta(hours=1))


def _draft_plan(db, clinic):
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    return pl.create_plan(db, clinic.actors["physician"], pl.PlanIn.model_validate(
        {"patient_id": clinic.own_patient_id, "evaluation_id": evaluation.id, "protocol": "outpatient_infusion"}),
        now=T0 + timedelta(hours=2))


def _update_plan(db, clinic):
    draft = _draft_plan(db, clinic)
    return draft.version, lambda v: pl.update_plan(db, clinic.actors["physician"], draft.id, v,
                                                   pl.PlanPatch(protocol="outpatient_infusion"), now=T0 + timedelta(hours=2))


def _sign_plan(db, clinic):
    draft = _draft_plan(db, clinic)
    return draft.version, lambda v: pl.sign_plan(db, clinic.actors["physician"], draft.id, v, now=T0 + timedelta(hours=3))


def _scheduled(db, clinic):
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    return ss.schedule_session(db, clinic.actors["nurse"], ss.SessionIn(patient_id=plan.patient_id, plan_id=plan.id,
                                                                        scheduled_at=AT), now=AT - timedelta(days=2))


def _check_in(db, clinic):
    visit = _scheduled(db, clinic)
    return visit.version, lambda v: ss.check_in(db, clinic.actors["nurse"], visit.id, v, ss.CheckInIn(),
                                                now=AT - timedelta(minutes=20))


def _record_checklist(db, clinic):
    visit = _scheduled(db, clinic)
    visit = ss.check_in(db, clinic.actors["nurse"], visit.id, visit.version, ss.CheckInIn(), now=AT - timedelta(minutes=20))
    return visit.version, lambda v: ss.record_checklist(db, clinic.actors["nurse"], visit.id, v,
                                                        checklist(AT - timedelta(minutes=15)), now=AT - timedelta(minutes=10))


def _override_checklist(db, clinic):
    visit = _scheduled(db, clinic)
    nurse = clinic.actors["nurse"]
    visit = ss.check_in(db, nurse, visit.id, visit.version, ss.CheckInIn(), now=AT - timedelta(minutes=20))
    low = {**SCREENING["vitals"], "spo2_pct": 90}
    visit = ss.record_checklist(db, nurse, visit.id, visit.version, checklist(AT - timedelta(minutes=15), baseline_vitals=low),
                                now=AT - timedelta(minutes=10))
    return visit.version, lambda v: ss.override_checklist(db, clinic.actors["physician"], visit.id, v,
                                                          ss.ChecklistOverrideIn(reason="physician present; agreed"),
                                                          now=AT - timedelta(minutes=5))


def _start(db, clinic):
    visit = checked_in(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), AT)
    return visit.version, lambda v: ss.start_session(db, clinic.actors["nurse"], visit.id, v,
                                                     ss.StartIn(ketamine_lot_number="SYN-LOT"), now=AT,
                                                     double_check=clinic.actors["physician"])


def _stop(db, clinic):
    visit = running(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), AT)
    return visit.version, lambda v: ss.stop_infusion(db, clinic.actors["nurse"], visit.id, v, now=AT + timedelta(minutes=120))


def _cancel(db, clinic):
    visit = _scheduled(db, clinic)
    return visit.version, lambda v: ss.cancel_session(db, clinic.actors["nurse"], visit.id, v,
                                                      ss.CancelIn(reason="patient unwell"), now=AT - timedelta(days=1))


def _discharge(db, clinic):
    nurse = clinic.actors["nurse"]
    visit = running(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), AT)
    from tests.interop.flows import NORMAL_VITALS, event

    event(db, nurse, visit.id, NORMAL_VITALS, AT + timedelta(minutes=15))
    visit = ss.get_session(db, nurse, visit.id)
    visit = ss.stop_infusion(db, nurse, visit.id, visit.version, now=AT + timedelta(minutes=120))
    return visit.version, lambda v: ss.discharge_session(db, nurse, visit.id, v, ss.DischargeIn.model_validate(DISCHARGE),
                                                         now=AT + timedelta(minutes=185))


def _inquiry(db, clinic, settings):
    iq.submit_inquiry(db, settings, Actor.public("1.2.3.4"), iq.InquiryIn(
        name="Synthetic Asker", email="a@example.org", preferred_contact="email", message="hello", consent_to_contact=True))
    return iq.list_inquiries(db, clinic.actors["coordinator"]).items[0]


def _inquiry_step(call: Callable) -> Callable:
    def scenario(db, clinic, settings):
        inquiry = _inquiry(db, clinic, settings)
        return inquiry.version, lambda v: call(db, clinic.actors["coordinator"], inquiry.id, v)
    return scenario


def _update_user(db, clinic):
    nurse = clinic.actors["nurse"]
    view = us.update_user(db, clinic.actors["admin"], nurse.user_id, _user_version(db, nurse.user_id),
                          us.UserUpdate(active=True))
    return view.version, lambda v: us.update_user(db, clinic.actors["admin"], nurse.user_id, v,
                                                  us.UserUpdate(role="coordinator"))


def _update_settings(db, clinic):
    current = cs.get_settings(db, clinic.actors["admin"])
    return current.version, lambda v: cs.update_settings(db, clinic.actors["admin"], v,
                                                         cs.ClinicSettingsPatch(clinic_name="Synthetic Clinic (edited)", note="stale edit"))


def _update_site(db, clinic):
    from ketaclinic.services import sites as st

    admin = clinic.actors["admin"]
    site = st.create_site(db, admin, st.SiteIn(name="North", code="NORTH"))
    return site.version, lambda v: st.update_site(db, admin, site.id, v, st.SitePatch(address="1 High St"))


def _publish_consent(db, clinic):
    from ketaclinic.clinical.consent import DEFAULT_BODY
    from ketaclinic.services import consent as cn

    admin = clinic.actors["admin"]
    return 1, lambda v: cn.publish_document(db, admin, v, cn.DocumentIn(title="Consent (edited)", body=DEFAULT_BODY))


def _save_template(db, clinic):
    from ketaclinic.services import reminders as rm

    admin = clinic.actors["admin"]
    return 0, lambda v: rm.save_template(db, admin, "confirmation", v, rm.TemplateIn(subject="Booked {{ when }}",
                                                                                     body="See you {{ when }}."))


def _appointment(db, clinic):
    """An infusion booked on the schedule (issue 13), as the coordinator would."""
    from ketaclinic.services import appointments as ap
    from tests.services.schedule_support import NOW, at, ready_clinic

    ready_clinic(db, clinic)
    booked = ap.book(db, clinic.actors["coordinator"], ap.AppointmentIn(
        patient_id=clinic.own_patient_id, kind="infusion", start=at(4, 8)), now=NOW).items[0]
    return ap, booked, NOW


def _reschedule(db, clinic):
    from tests.services.schedule_support import at

    ap, booked, now = _appointment(db, clinic)
    return booked.version, lambda v: ap.reschedule(db, clinic.actors["coordinator"], booked.id, v,
                                                   ap.RescheduleIn(start=at(5, 8)), now=now)


def _cancel_appointment(db, clinic):
    ap, booked, now = _appointment(db, clinic)
    return booked.version, lambda v: ap.cancel(db, clinic.actors["coordinator"], booked.id, v,
                                               ap.CancelIn(reason="patient asked"), now=now)


def _no_show(db, clinic):
    from datetime import timedelta as td

    ap, booked, now = _appointment(db, clinic)
    return booked.version, lambda v: ap.mark_no_show(db, clinic.actors["coordinator"], booked.id, v, ap.NoShowIn(),
                                                     now=booked.start + td(hours=1))


def _waiting_list(db, clinic):
    from ketaclinic.services import appointments as ap

    entry = ap.add_to_waiting_list(db, clinic.actors["coordinator"], ap.WaitingIn(
        patient_id=clinic.own_patient_id, kind="evaluation"))
    return entry.version, lambda v: ap.remove_from_waiting_list(db, clinic.actors["coordinator"], entry.id, v)


def _update_chair(db, clinic):
    from ketaclinic.services import chairs as ch
    from ketaclinic.services.sites import default_site_id

    with db.reading() as uow:
        site = default_site_id(uow)
    chair = ch.create_chair(db, clinic.actors["admin"], ch.ChairIn(site_id=site, name="Chair 1"))
    return chair.version, lambda v: ch.update_chair(db, clinic.actors["admin"], chair.id, v,
                                                    ch.ChairPatch(name="Window chair"))


def _save_price_list(db, clinic):
    from ketaclinic.clinical.billing_prices import PriceListData
    from ketaclinic.services import billing as bl
    from ketaclinic.services.sites import default_site_id

    with db.reading() as uow:
        site = default_site_id(uow)
    return 0, lambda v: bl.save_price_list(db, clinic.actors["admin"], site, v,
                                           bl.PriceListIn(prices=PriceListData(no_show_fee_cents=2500)))


SCENARIOS: dict[str, Callable] = {
    "patients.update_patient": _patient,
    "evaluations.update_evaluation": _update_evaluation,
    "evaluations.sign_evaluation": _sign_evaluation,
    "plans.update_plan": _update_plan,
    "plans.sign_plan": _sign_plan,
    "sessions.check_in": _check_in,
    "sessions.record_checklist": _record_checklist,
    "sessions.override_checklist": _override_checklist,
    "sessions.start_session": _start,
    "sessions.stop_infusion": _stop,
    "sessions.cancel_session": _cancel,
    "sessions.discharge_session": _discharge,
    "inquiries.answer_inquiry": _inquiry_step(lambda db, a, i, v: iq.answer_inquiry(db, a, i, v, iq.AnswerIn(note="called"))),
    "inquiries.schedule_inquiry": _inquiry_step(lambda db, a, i, v: iq.schedule_inquiry(
        db, a, i, v, iq.ScheduleIn(scheduled_for=datetime.now(UTC) + timedelta(days=3)))),
    "inquiries.convert_inquiry": _inquiry_step(lambda db, a, i, v: iq.convert_inquiry(db, a, i, v, iq.ConvertIn(
        patient=pt.PatientIn(given_name="Synthetic", family_name="Asker", birth_date="1975-05-05", sex="female")))),
    "inquiries.close_inquiry": _inquiry_step(lambda db, a, i, v: iq.close_inquiry(db, a, i, v, iq.CloseIn(reason="no reply"))),
    "users.update_user": _update_user,
    "clinic_settings.update_settings": _update_settings,
    "sites.update_site": _update_site,
    "consent.publish_document": _publish_consent,  # issue 13
    "reminders.save_template": _save_template,
    "appointments.reschedule": _reschedule,  # issue 13
    "appointments.cancel": _cancel_appointment,
    "appointments.mark_no_show": _no_show,
    "appointments.remove_from_waiting_list": _waiting_list,
    "chairs.update_chair": _update_chair,
    "billing.save_price_list": _save_price_list,  # issue 15
}
# helpers that call check_version for the entry points above (their callers' scenarios cover them)
HELPERS = {"sessions._move": {"sessions.check_in", "sessions.stop_infusion", "sessions.cancel_session"},
           "inquiries._step": {"inquiries.answer_inquiry", "inquiries.schedule_inquiry", "inquiries.convert_inquiry",
                               "inquiries.close_inquiry"}}


def _user_version(db, user_id):
    with db.reading() as s:
        return s.get(User, user_id).version


def test_every_versioned_entry_point_has_a_stale_test():
    assert versioned_entry_points() == set(SCENARIOS), "add a stale If-Match scenario for each new entry point"
    sites = check_version_sites()
    unknown = sites - set(SCENARIOS) - set(HELPERS)
    assert not unknown, f"check_version in {sorted(unknown)}: add a scenario (or name the helper and its callers)"
    assert all(callers <= set(SCENARIOS) for callers in HELPERS.values())


def _scenario_args(name, db, clinic, settings):
    scenario = SCENARIOS[name]
    return scenario(db, clinic, settings) if name.startswith("inquiries.") else scenario(db, clinic)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_stale_if_match_is_refused_and_changes_nothing(db, clinic, settings, name):
    version, call = _scenario_args(name, db, clinic, settings)
    with pytest.raises(Conflict) as stale:
        call(_wrong(version))
    assert stale.value.code == "stale_version", stale.value.message
    assert stale.value.field == "If-Match"
    call(version)  # the same call with the current version goes through


# --- the audit hash covers every column ----------------------------------------------------------------------------

def test_every_audit_column_is_hashed():
    columns = {c.name for c in inspect(AuditEntry).columns}
    assert set(audit_log.HASHED_COLUMNS) == columns - {"hash"}


BASE = {"seq": 2, "at": datetime(2026, 1, 1, 12, tzinfo=UTC), "user_id": 1, "username": "nurse", "role": "nurse",
        "action": "patient.read", "record_type": "patient", "record_id": "7", "ip": "10.0.0.1", "detail": "{}",
        "prev_hash": "a" * 64}
CHANGED = {"seq": 3, "at": datetime(2026, 1, 1, 12, 0, 0, 1, tzinfo=UTC), "user_id": 2, "username": "nurse2",
           "role": "admin", "action": "patient.update", "record_type": "plan", "record_id": "8", "ip": "10.0.0.2",
           "detail": '{"i":1}', "prev_hash": "b" * 64, "site_id": 1}  # site 1: the default site (migration 0011)


@pytest.mark.parametrize("column", audit_log.HASHED_COLUMNS)
def test_changing_any_column_changes_the_hash(column):
    assert entry_hash(**{**BASE, column: CHANGED[column]}) != entry_hash(**BASE)


def _fill(db, n=4):
    with db.transaction() as s:
        for i in range(n):
            append(s, action="patient.read", username="nurse", role="nurse", record_type="patient", record_id=i,
                   ip="10.0.0.1", detail={"i": i})


DROP_GUARDS = {"sqlite": ["DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"],
               "postgresql": ["DROP TRIGGER audit_log_append_only ON audit_log"]}


@pytest.mark.parametrize("column", [c for c in audit_log.HASHED_COLUMNS if c != "seq"])
def test_tampering_with_any_audit_column_is_found(db, engine, clinic, column):
    _fill(db)
    with db.reading() as s:
        before = s.get(AuditEntry, 2)
        seq_of_two = s.execute(select(AuditEntry.seq).where(AuditEntry.seq == 2)).scalar_one()
    assert seq_of_two == 2
    value = CHANGED[column]
    if column == "user_id":
        value = clinic.actors["admin"].user_id  # a real user (foreign key)
    if column == "site_id":  # a site named, cleared or moved: all change the hash (records/audit.entry_hash)
        value = None if before.site_id else 1
    if column == "at":
        value = before.at + timedelta(seconds=1)
        value = value if engine == "postgresql" else value.astimezone(UTC).replace(tzinfo=None)
    with db.engine.begin() as connection:
        for sql in DROP_GUARDS[engine]:
            connection.execute(text(sql))
        connection.execute(text(f"UPDATE audit_log SET {column} = :value WHERE seq = 2"), {"value": value})
    with db.reading() as s:
        report = verify_chain(s)
    assert not report.intact
    assert report.first_break.seq == 2 and report.first_break.kind == "changed", report.first_break


def test_renumbering_an_audit_entry_is_found(db, engine):
    _fill(db)
    with db.engine.begin() as connection:
        for sql in DROP_GUARDS[engine]:
            connection.execute(text(sql))
        connection.execute(text("UPDATE audit_log SET seq = 40 WHERE seq = 4"))
    with db.reading() as s:
        report = verify_chain(s)
    assert not report.intact and report.first_break.seq in (4, 40)


# --- update_user -------------------------------------------------------------------------------------------------

def _user(db, user_id):
    with db.reading() as s:
        return s.get(User, user_id)


def _last_audit(db):
    with db.reading() as s:
        return s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()


def test_update_user_changes_the_role(db, clinic):
    admin, nurse = clinic.actors["admin"], clinic.actors["nurse"]
    view = us.update_user(db, admin, nurse.user_id, _user_version(db, nurse.user_id), us.UserUpdate(role="coordinator"))
    assert view.role == "coordinator" and _user(db, nurse.user_id).role == "coordinator"
    entry = _last_audit(db)
    assert entry.action == "user.update" and "role" in json.loads(entry.detail)["changed"]


def test_update_user_changes_the_password(db, clinic):
    admin, nurse = clinic.actors["admin"], clinic.actors["nurse"]
    us.update_user(db, admin, nurse.user_id, _user_version(db, nurse.user_id),
                   us.UserUpdate(password="a-new-long-password-4711"))
    stored = _user(db, nurse.user_id).password_hash
    assert verify_password(stored, "a-new-long-password-4711")
    from tests.conftest import PASSWORD

    assert not verify_password(stored, PASSWORD)
    assert "password" in json.loads(_last_audit(db).detail)["changed"]


def test_update_user_deactivates_and_reactivates(db, clinic):
    admin, nurse = clinic.actors["admin"], clinic.actors["nurse"]
    view = us.update_user(db, admin, nurse.user_id, _user_version(db, nurse.user_id), us.UserUpdate(active=False))
    assert view.active is False and _user(db, nurse.user_id).active is False
    assert "active" in json.loads(_last_audit(db).detail)["changed"]
    view = us.update_user(db, admin, nurse.user_id, view.version, us.UserUpdate(active=True))
    assert view.active is True


def test_update_user_with_a_stale_version_changes_nothing(db, clinic):
    admin, nurse = clinic.actors["admin"], clinic.actors["nurse"]
    version = _user_version(db, nurse.user_id)
    with pytest.raises(Conflict) as stale:
        us.update_user(db, admin, nurse.user_id, _wrong(version), us.UserUpdate(role="physician"))
    assert stale.value.code == "stale_version"
    assert _user(db, nurse.user_id).role == "nurse" and _user_version(db, nurse.user_id) == version


def test_checking_the_chain_from_the_app_is_for_admins_and_is_audited(db, clinic):
    from sqlalchemy import select

    from ketaclinic.records.audit import AuditEntry
    from ketaclinic.services import audit as audit_service
    from ketaclinic.services.errors import Forbidden

    with pytest.raises(Forbidden):
        audit_service.verify_as(db, clinic.actors["physician"])
    assert audit_service.verify_as(db, clinic.actors["admin"]).intact
    with db.reading() as uow:
        actions = uow.execute(select(AuditEntry.action).order_by(AuditEntry.seq.desc()).limit(1)).scalars().all()
    assert actions == ["audit.verify"]
