"""Passwords, log-in with lock-out, and the signed bearer token.

Passwords are argon2id hashes (argon2-cffi defaults, OWASP password storage guidance). The token
is an HMAC-signed payload (itsdangerous) carrying the user id, role and expiry: any worker that
shares the secret key can check it, so nothing lives in one worker's memory (design.md 7). Every
request still loads the user, so deactivating an account or changing its role takes effect at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from ketaclinic.records.db import Database, utcnow
from ketaclinic.records.users import User
from ketaclinic.services.common import audit, unit_of_work
from ketaclinic.services.context import Actor
from ketaclinic.services.errors import Locked, Unauthenticated
from ketaclinic.settings import Settings

_hasher = PasswordHasher()
# Verified against when the username is unknown, so a wrong name costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("no such user: constant-time stand-in")
TOKEN_SALT = "ketaclinic.access-token.v1"


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


def actor_for(user: User, ip: str | None) -> Actor:
    return Actor(user_id=user.id, username=user.username, role=user.role, patient_id=user.patient_id, ip=ip)


def authenticate(db: Database, settings: Settings, *, username: str, password: str, ip: str | None,
                 now: datetime | None = None) -> Actor:
    """Check a username and password; count failures and lock the account after too many.

    Raises :class:`Unauthenticated` for any wrong credential (the same answer for an unknown
    user and a wrong password) and :class:`Locked` while the account is locked.
    """
    now = now or utcnow()
    failure: Exception | None = None
    with unit_of_work(db) as session:
        user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is None or not user.active:
            verify_password(_DUMMY_HASH, password)
            audit(session, Actor.public(ip), "auth.login_failed", "user", None, {"username": username[:64]})
            failure = Unauthenticated("wrong username or password", code="invalid_credentials")
        elif user.locked_until is not None and user.locked_until > now:
            audit(session, Actor.public(ip), "auth.login_refused_locked", "user", user.id, {"username": username})
            failure = _locked(user.locked_until, now)
        elif not verify_password(user.password_hash, password):
            user.failed_logins += 1
            detail = {"username": username, "failed_logins": user.failed_logins}
            if user.failed_logins >= settings.lockout_failed_logins:
                user.locked_until = now + timedelta(minutes=settings.lockout_min)
                user.failed_logins = 0
                detail["locked_until"] = user.locked_until.isoformat()
            audit(session, Actor.public(ip), "auth.login_failed", "user", user.id, detail)
            failure = Unauthenticated("wrong username or password", code="invalid_credentials")
        else:
            user.failed_logins = 0
            user.locked_until = None
            user.last_login_at = now
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
            actor = actor_for(user, ip)
            audit(session, actor, "auth.login", "user", user.id)
    if failure is not None:  # raised after the commit, so the failed attempt is counted and audited
        raise failure
    return actor


def _locked(until: datetime, now: datetime) -> Locked:
    seconds = max(1, int((until - now).total_seconds()))
    return Locked("too many failed logins: the account is locked for a while", retry_after_s=seconds)


# --- tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    role: str
    expires_at: int  # unix seconds


def issue_token(secret: bytes, actor: Actor, *, now: datetime, lifetime_s: int) -> tuple[str, int]:
    """A signed token for ``actor`` valid ``lifetime_s`` from ``now``; returns (token, expires_at)."""
    if actor.user_id is None or actor.role is None:
        raise ValueError("only a user can hold a token")
    expires_at = int(now.timestamp()) + lifetime_s
    token = URLSafeSerializer(secret, salt=TOKEN_SALT).dumps({"u": actor.user_id, "r": actor.role, "e": expires_at})
    return token, expires_at


def read_token(secret: bytes, token: str, *, now: datetime) -> TokenClaims:
    """Check signature and expiry; raise :class:`Unauthenticated` if either fails."""
    try:
        data = URLSafeSerializer(secret, salt=TOKEN_SALT).loads(token)
        claims = TokenClaims(user_id=int(data["u"]), role=str(data["r"]), expires_at=int(data["e"]))
    except (BadSignature, KeyError, TypeError, ValueError):
        raise Unauthenticated("invalid token", code="invalid_token") from None
    if claims.expires_at <= int(now.timestamp()):
        raise Unauthenticated("the token has expired: log in again", code="token_expired")
    return claims


def actor_from_token(db: Database, secret: bytes, token: str, *, ip: str | None, now: datetime | None = None) -> Actor:
    """The actor a bearer token stands for, checked against the user as it is now."""
    claims = read_token(secret, token, now=now or utcnow())
    with db.reading() as session:
        user = session.get(User, claims.user_id)
        if user is None or not user.active or user.role != claims.role:
            raise Unauthenticated("the token no longer matches an active account", code="invalid_token")
        return actor_for(user, ip)
