"""Log-in with its throttle, tokens, rate limits, and the inquiry workflow."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ketaclinic.records.inquiries import Inquiry
from ketaclinic.records.patients import Patient
from ketaclinic.records.users import User
from ketaclinic.services import ratelimit
from ketaclinic.services.auth import actor_from_token, authenticate, issue_token
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import (
    Conflict,
    PreconditionRequired,
    RateLimited,
    Unauthenticated,
    ValidationFailed,
)
from ketaclinic.services.inquiries import (
    AnswerIn,
    CloseIn,
    ConvertIn,
    InquiryIn,
    answer_inquiry,
    close_inquiry,
    convert_inquiry,
    list_inquiries,
    submit_inquiry,
)
from ketaclinic.services.patients import PatientIn
from tests.conftest import PASSWORD

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_failed_logins_throttle_with_growing_delays_never_a_hard_lock(db, settings, clinic):
    """Issue 16.3: beyond the free failures each one doubles the wait; after it, the right password works."""
    free = settings.login_free_failures
    for _ in range(free + 1):
        with pytest.raises(Unauthenticated):
            authenticate(db, settings, username="nurse", password="wrong", ip="1.1.1.1", now=NOW)
    with pytest.raises(RateLimited) as waiting:
        authenticate(db, settings, username="nurse", password=PASSWORD, ip="1.1.1.1", now=NOW)
    assert waiting.value.code == "login_throttled" and waiting.value.retry_after_s == 2
    later = NOW + timedelta(seconds=waiting.value.retry_after_s)
    assert authenticate(db, settings, username="nurse", password=PASSWORD, ip="1.1.1.1", now=later).role == "nurse"


def test_unknown_user_and_wrong_password_look_the_same(db, settings, clinic):
    with pytest.raises(Unauthenticated) as unknown:
        authenticate(db, settings, username="nobody", password="x", ip=None, now=NOW)
    with pytest.raises(Unauthenticated) as wrong:
        authenticate(db, settings, username="nurse", password="x", ip=None, now=NOW)
    assert (unknown.value.code, unknown.value.message) == (wrong.value.code, wrong.value.message)


def test_tokens_expire_and_resist_tampering(db, clinic):
    token, _ = issue_token(db, clinic.actors["nurse"], now=NOW, lifetime_s=60)
    assert actor_from_token(db, token, ip=None, now=NOW + timedelta(seconds=59)).role == "nurse"
    with pytest.raises(Unauthenticated) as expired:
        actor_from_token(db, token, ip=None, now=NOW + timedelta(seconds=61))
    assert expired.value.code == "token_expired"
    for forged in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "", "x" * 5000):
        with pytest.raises(Unauthenticated):
            actor_from_token(db, forged, ip=None, now=NOW)
    with pytest.raises(Unauthenticated):  # a web session id is not a bearer token
        actor_from_token(db, token, ip=None, kind="web", now=NOW)


def test_rate_limit_counts_in_the_database(db):
    decisions = [ratelimit.hit(db, "login:9.9.9.9", limit=3, window_s=60, now=NOW) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert ratelimit.hit(db, "login:8.8.8.8", limit=3, window_s=60, now=NOW).allowed
    assert ratelimit.hit(db, "login:9.9.9.9", limit=3, window_s=60, now=NOW + timedelta(seconds=61)).allowed


FORM = InquiryIn(name="Synthetic Asker", phone="+1 555 0199", preferred_contact="phone", condition="crps",
                 message="Could ketamine help?", consent_to_contact=True)


def test_public_inquiry_stores_the_request_and_nothing_else(db, settings, clinic):
    with db.reading() as s:
        users, patients = s.scalar(select(func.count(User.id))), s.scalar(select(func.count(Patient.id)))
    receipt = submit_inquiry(db, settings, Actor.public("5.5.5.5"), FORM, now=NOW)
    assert receipt.answer_by.date().isoformat() == "2026-01-06"
    with db.reading() as s:
        assert s.scalar(select(func.count(User.id))) == users
        assert s.scalar(select(func.count(Patient.id))) == patients
        assert s.scalar(select(func.count(Inquiry.id))) == 1
    with pytest.raises(ValidationFailed):
        submit_inquiry(db, settings, Actor.public(None), FORM.model_copy(update={"consent_to_contact": False}))
    with pytest.raises(ValidationFailed):
        submit_inquiry(db, settings, Actor.public(None), FORM.model_copy(update={"phone": None}))


def test_inquiry_workflow(db, settings, clinic):
    coordinator = clinic.actors["coordinator"]
    submit_inquiry(db, settings, Actor.public("5.5.5.5"), FORM, now=NOW)
    [item] = list_inquiries(db, coordinator, now=NOW + timedelta(days=3)).items
    assert item.overdue and item.status == "new"
    with pytest.raises(PreconditionRequired):
        answer_inquiry(db, coordinator, item.id, None, AnswerIn(note="called back"))
    answered = answer_inquiry(db, coordinator, item.id, 1, AnswerIn(note="called back"), now=NOW)
    assert answered.status == "answered" and answered.answered_by == coordinator.user_id and not answered.overdue
    result = convert_inquiry(db, coordinator, item.id, answered.version, ConvertIn(patient=PatientIn(
        given_name="Synthetic", family_name="Asker", birth_date="1975-05-05", sex="female")))
    assert result.inquiry.status == "converted" and result.patient.phone == "+1 555 0199"
    with pytest.raises(Conflict) as done:
        close_inquiry(db, coordinator, item.id, result.inquiry.version, CloseIn(reason="x"))
    assert done.value.code == "invalid_transition"
