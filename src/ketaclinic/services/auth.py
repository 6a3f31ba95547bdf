"""Passwords, sign-in with a growing throttle, and revocable tokens and web sessions (design.md 4.10).

Passwords are argon2id hashes (argon2-cffi defaults, OWASP password storage guidance).

A sign-in is a row of ``auth_sessions`` (records/users.py): the bearer token, or the web session id
kept in the signed cookie, is 256 random bits that the database stores only as their SHA-256. Every
request on every worker looks the row up with its user (one primary-key read): nothing lives in one
worker's memory (design.md 7), so a logout on one worker ends the token on all of them at once. A
row stands while it is not revoked, not expired, and carries the user's current ``token_version``;
a password change, a role change, deactivation and logout raise that number, ending every earlier
token and web session of the user. Raising it is a plain UPDATE that leaves the record's ``version``
alone, as does signing in (so an admin who signs in can still save their own record with the
``If-Match`` they read).

Failed sign-ins are throttled, never locked: per client address and per typed username (whether or
not the account exists), the failures beyond the free ones each double the wait before the next
attempt, up to a cap; an admin can lift an account's throttle (``unlock``). An unknown name costs
the same work (a dummy argon2 check), and gets the same answers, as a known one.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, object_session

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Database
from ketaclinic.records.users import AuthSession, LoginThrottle, User
from ketaclinic.services.common import audit, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import RateLimited, Unauthenticated
from ketaclinic.services.sites import scope_of, site_choices
from ketaclinic.services.staff import display_name
from ketaclinic.settings import DEFAULT_DEMO_PASSWORD, Settings, SettingsError

_hasher = PasswordHasher()
# Verified against when the username is unknown, so a wrong name costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("no such user: constant-time stand-in")
KINDS = ("api", "web")
MAX_TOKEN_CHARS = 200
DEMO_USERNAMES = ("admin", "physician", "nurse", "coordinator", "patient")
CREATE_USERS_HINT = "create real users with `ketaclinic users create --username NAME --role admin --password-stdin`"


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Swap the argon2 parameters (the test suite uses argon2's cheapest profile to stay fast)."""
    global _hasher, _DUMMY_HASH
    _hasher = hasher
    _DUMMY_HASH = hasher.hash("no such user: constant-time stand-in")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def actor_for(user: User, ip: str | None, site_id: int | None = None) -> Actor:
    """The actor of a signed-in ``user`` (loaded in a session), with the sites they work at (one query).

    ``site_id`` narrows the request to one of them (the header's site picker, ``X-Site-Id``), and the
    role is then the role at that site (services/sites.py: scope_of; SiteNotYours for another site)."""
    session = object_session(user)
    role, site_ids, picked, choices = user.role, (), None, ()
    if session is not None and user.role != "patient":
        choices = site_choices(session, user.id)
        role, site_ids, picked = scope_of(user.role, choices, site_id)
    return Actor(user_id=user.id, username=user.username, role=role, patient_id=user.patient_id, ip=ip,
                 name=display_name(user.username, user.full_name, user.credentials), site_ids=site_ids,
                 site_id=picked, sites=choices)


# --- production and the demo clinic ---------------------------------------------------------


def is_demo_password(settings: Settings, password: str) -> bool:
    return password in (DEFAULT_DEMO_PASSWORD, settings.demo_password.get_secret_value())


def demo_database(db: Database) -> bool:
    """Whether the synthetic demo clinic is seeded here (False when the schema is not there yet)."""
    from ketaclinic.services.patients import has_demo

    try:
        return bool(has_demo(db))
    except SQLAlchemyError:
        return False


def refuse_demo_database_in_production(db: Database, settings: Settings) -> None:
    """Start-up check: production never serves the demo clinic (design.md 4.10)."""
    if settings.env == "production" and demo_database(db):
        raise SettingsError("KETACLINIC_ENV=production refuses a database holding the synthetic demo clinic: "
                            f"use a new database (`ketaclinic migrate`) and {CREATE_USERS_HINT}")


# --- throttle -------------------------------------------------------------------------------


def _throttle_row(uow: Session, key: str, now: datetime) -> LoginThrottle:
    """The throttle row of ``key``, locked for this transaction (made on the first failure)."""
    query = select(LoginThrottle).where(LoginThrottle.key == key)
    if uow.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        uow.execute(insert(LoginThrottle).values(key=key, failures=0, last_failure_at=now)
                        .on_conflict_do_nothing(index_elements=["key"]))
        query = query.with_for_update()
    row = uow.execute(query).scalar_one_or_none()
    if row is None:  # SQLite: BEGIN IMMEDIATE already serialises writers
        row = LoginThrottle(key=key, failures=0, last_failure_at=now)
        uow.add(row)
    return row


def throttle_keys(username: str, ip: str | None) -> dict[str, str]:
    return {"account": f"user:{username[:150]}", "ip": f"ip:{ip or 'unknown'}"}


def _delay_s(settings: Settings, kind: str, failures: int) -> int:
    free = settings.login_free_failures if kind == "account" else settings.login_ip_free_failures
    cap = settings.login_delay_max_s if kind == "account" else settings.login_ip_delay_max_s
    beyond = failures - free
    if beyond <= 0:
        return 0
    return min(cap, settings.login_delay_base_s * 2 ** min(beyond - 1, 30))


def _record_failure(uow: Session, settings: Settings, now: datetime, username: str, ip: str | None) -> None:
    for kind, key in throttle_keys(username, ip).items():
        row = _throttle_row(uow, key, now)
        if row.failures and (now - row.last_failure_at).total_seconds() > settings.login_throttle_reset_s:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        delay = _delay_s(settings, kind, row.failures)
        if delay:
            row.blocked_until = now + timedelta(seconds=delay)
            audit(uow, Actor.public(ip), "auth.throttled", "login", None,
                  {"throttle": kind, "username": username[:64], "failures": row.failures, "delay_s": delay})


def throttle_until(db: Database, username: str) -> datetime | None:
    """Until when an account's sign-ins wait (None when they need not)."""
    with db.reading() as uow:
        row = uow.get(LoginThrottle, throttle_keys(username, None)["account"])
        return row.blocked_until if row is not None else None


def lift_throttle(uow: Session, username: str) -> bool:
    """Forget an account's failed sign-ins (the admin's unlock); True if there were any."""
    result = uow.execute(delete(LoginThrottle).where(LoginThrottle.key == throttle_keys(username, None)["account"]))
    return bool(result.rowcount)


# --- sign-in --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignIn:
    actor: Actor
    token: str  # the bearer token or web session id (only the caller ever sees it)
    expires_at: datetime


def _wrong() -> Unauthenticated:
    return Unauthenticated("wrong username or password", code="invalid_credentials")


def _check_credentials(uow: Session, settings: Settings, db: Database, *, username: str, password: str,
                       ip: str | None, now: datetime) -> tuple[User | None, Exception | None]:
    keys = list(throttle_keys(username, ip).values())
    rows = uow.execute(select(LoginThrottle).where(LoginThrottle.key.in_(keys))).scalars().all()
    waits = [int((row.blocked_until - now).total_seconds()) + 1 for row in rows
             if row.blocked_until is not None and row.blocked_until > now]
    if waits:
        audit(uow, Actor.public(ip), "auth.login_throttled", "login", None,
              {"username": username[:64], "retry_after_s": max(waits)})
        return None, RateLimited("too many failed sign-ins: wait and try again", retry_after_s=max(waits),
                                 code="login_throttled")
    user = uow.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active:
        verify_password(_DUMMY_HASH, password)
        ok = False
    else:
        ok = verify_password(user.password_hash, password)
    if ok and settings.env == "production" and (
            is_demo_password(settings, password) or (username in DEMO_USERNAMES and demo_database(db))):
        _record_failure(uow, settings, now, username, ip)
        audit(uow, Actor.public(ip), "auth.login_refused_demo", "user", user.id if user else None,
              {"username": username[:64]})
        return None, Unauthenticated("demo accounts and the demo password are refused in production: "
                                     + CREATE_USERS_HINT, code="demo_refused")
    if not ok:
        _record_failure(uow, settings, now, username, ip)
        audit(uow, Actor.public(ip), "auth.login_failed", "user", user.id if user else None,
              {"username": username[:64]})
        return None, _wrong()
    assert user is not None
    lift_throttle(uow, username)
    values: dict[str, object] = {"last_login_at": now}
    if _hasher.check_needs_rehash(user.password_hash):
        values["password_hash"] = hash_password(password)
    # A plain UPDATE: signing in is not an edit of the record, so its version (If-Match) stays.
    uow.execute(update(User).where(User.id == user.id).values(**values)
                    .execution_options(synchronize_session=False))
    return user, None


def sign_in(db: Database, settings: Settings, *, username: str, password: str, ip: str | None,
            kind: str = "api", now: datetime | None = None) -> SignIn:
    """Check a username and password and open a sign-in of ``kind`` (``api`` token or ``web`` session).

    Raises :class:`Unauthenticated` for any wrong credential (the same answer for an unknown user
    and a wrong password) and :class:`RateLimited` (``login_throttled``) while a throttle holds.
    """
    now = now or utcnow()
    with unit_of_work(db) as uow:
        user, failure = _check_credentials(uow, settings, db, username=username, password=password, ip=ip, now=now)
        if failure is None:
            assert user is not None
            actor = actor_for(user, ip)
            token, expires_at = _open(uow, user, kind=kind, ip=ip, now=now, lifetime_s=settings.token_lifetime_s)
            audit(uow, actor, "auth.login", "user", user.id, {"kind": kind, "session": _public_id(token)})
    if failure is not None:  # raised after the commit, so the failed attempt is counted and audited
        raise failure
    return SignIn(actor=actor, token=token, expires_at=expires_at)


def authenticate(db: Database, settings: Settings, *, username: str, password: str, ip: str | None,
                 now: datetime | None = None) -> Actor:
    """Check a username and password without opening a sign-in (same throttle and answers as :func:`sign_in`)."""
    now = now or utcnow()
    with unit_of_work(db) as uow:
        user, failure = _check_credentials(uow, settings, db, username=username, password=password, ip=ip, now=now)
        if failure is None:
            assert user is not None
            actor = actor_for(user, ip)
    if failure is not None:
        raise failure
    return actor


# --- tokens and web sessions ----------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _public_id(token: str) -> str:
    """A short name of a sign-in for the audit log (a prefix of its digest: never the secret)."""
    return _digest(token)[:16]


def _open(uow: Session, user: User, *, kind: str, ip: str | None, now: datetime, lifetime_s: int) -> tuple[str, datetime]:
    if kind not in KINDS:
        raise ValueError(f"unknown sign-in kind {kind!r}")
    # This user's finished sign-ins are of no use any more; drop them as new ones are made.
    uow.execute(delete(AuthSession).where(AuthSession.user_id == user.id, AuthSession.expires_at < now))
    token = secrets.token_urlsafe(32)  # 256 random bits: two sign-ins in the same instant still differ
    expires_at = now + timedelta(seconds=lifetime_s)
    uow.add(AuthSession(id=_digest(token), user_id=user.id, kind=kind, token_version=user.token_version,
                            created_at=now, expires_at=expires_at, revoked_at=None, ip=(ip or "")[:64] or None))
    uow.flush()
    return token, expires_at


def issue_token(db: Database, actor: Actor, *, now: datetime | None = None, lifetime_s: int = 8 * 3600,
                kind: str = "api") -> tuple[str, int]:
    """Open a sign-in for ``actor``'s user without a password (tests, tools); returns (token, expires_at unix s)."""
    if actor.user_id is None or actor.role is None:
        raise ValueError("only a user can hold a token")
    now = now or utcnow()
    with db.transaction() as uow:
        user = uow.get(User, actor.user_id)
        if user is None:
            raise ValueError("no such user")
        token, expires_at = _open(uow, user, kind=kind, ip=actor.ip, now=now, lifetime_s=lifetime_s)
    return token, int(expires_at.timestamp())


def _invalid() -> Unauthenticated:
    return Unauthenticated("invalid token", code="invalid_token")


def _load(uow: Session, token: str, kind: str) -> tuple[AuthSession, User] | None:
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    row = uow.execute(select(AuthSession, User).join(User, User.id == AuthSession.user_id)
                          .where(AuthSession.id == _digest(token))).first()
    if row is None or row[0].kind != kind:
        return None
    return row[0], row[1]


def actor_from_token(db: Database, token: str, *, ip: str | None, kind: str = "api", now: datetime | None = None,
                     site_id: int | None = None) -> Actor:
    """The actor a bearer token (or web session id) stands for, checked against the database now;
    ``site_id``: the site the request works at (:func:`actor_for`)."""
    now = now or utcnow()
    with db.lookup() as uow:  # the token's row, then the user's sites: no snapshot needed between them
        found = _load(uow, token, kind)
        if found is None:
            raise _invalid()
        auth, user = found
        if auth.revoked_at is not None or auth.token_version != user.token_version or not user.active:
            raise Unauthenticated("the sign-in has ended: log in again", code="invalid_token")
        if auth.expires_at <= now:
            raise Unauthenticated("the token has expired: log in again", code="token_expired")
        return actor_for(user, ip, site_id)


def end_sign_ins(uow: Session, user_id: int, now: datetime | None = None) -> None:
    """End every sign-in (token and web session) the user holds now; the record's version is untouched."""
    uow.execute(update(User).where(User.id == user_id).values(token_version=User.token_version + 1)
                    .execution_options(synchronize_session=False))
    uow.execute(update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
                    .values(revoked_at=now or utcnow()).execution_options(synchronize_session=False))


def logout(db: Database, token: str, *, ip: str | None, kind: str = "api", now: datetime | None = None) -> bool:
    """Revoke the sign-in ``token`` and every earlier one of the same user (design.md 4.10).

    Returns False when the token was not a live sign-in (nothing to end).
    """
    now = now or utcnow()
    with unit_of_work(db) as uow:
        found = _load(uow, token, kind)
        if found is None:
            return False
        auth, user = found
        live = auth.revoked_at is None and auth.token_version == user.token_version and auth.expires_at > now
        if not live:
            return False
        end_sign_ins(uow, user.id, now)
        audit(uow, actor_for(user, ip), "auth.logout", "user", user.id, {"kind": kind, "session": _public_id(token)})
    return True
