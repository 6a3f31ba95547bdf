"""Every setting KetaClinic reads, each with a safe default (design.md sections 4.6 and 7).

Settings come from the environment with the ``KETACLINIC_`` prefix (``KETACLINIC_ENV``,
``KETACLINIC_SECRET_KEY`` ...). The database URL is also read from plain ``DATABASE_URL``,
the name every hosting platform uses.

Defaults suit one clinic on one machine (SQLite next to the working directory). In
production (``KETACLINIC_ENV=production``) the app refuses to start without an explicit secret
key, and the demo password ``demo-clinic`` is refused.
"""

from __future__ import annotations

import math
import os
import secrets
from collections import Counter
from functools import cached_property
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DEMO_PASSWORD = "demo-clinic"
MIN_SECRET_ENTROPY_BITS = 90
MAKE_SECRET = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


def estimated_entropy_bits(secret: str) -> float:
    """A cautious estimate of a secret's entropy, in bits.

    The length times the Shannon entropy of its characters, scaled down by how much of it repeats
    (the share of distinct 4-character runs). It cannot prove a secret random, but it refuses the
    guessable ones: ``"a" * 32`` scores 0, ``"password" * 5`` about 24, ``"0123456789" * 4`` about 36,
    while ``secrets.token_urlsafe(48)`` scores about 330 and a random 32-character hex key about 120.
    """
    if not secret:
        return 0.0
    counts = Counter(secret)
    n = len(secret)
    per_char = -sum(c / n * math.log2(c / n) for c in counts.values())
    runs = [secret[i:i + 4] for i in range(max(1, n - 3))]
    return per_char * n * len(set(runs)) / len(runs)


class SettingsError(ValueError):
    """A setting is missing or unsafe for the environment it is used in."""


class Settings(BaseSettings):
    """The clinic's configuration. Build with ``Settings()`` (environment) or keyword overrides."""

    model_config = SettingsConfigDict(env_prefix="KETACLINIC_", extra="ignore", populate_by_name=True)

    env: Literal["development", "test", "production"] = "development"
    database_url: str = Field(
        default="sqlite:///./ketaclinic.db",
        validation_alias=AliasChoices("KETACLINIC_DATABASE_URL", "DATABASE_URL", "database_url"),
    )
    # Tokens: an HMAC-signed bearer token, verifiable by any worker that shares the key.
    secret_key: SecretStr | None = None
    secret_key_file: Path = Path("./.ketaclinic-secret-key")
    token_lifetime_s: int = Field(default=8 * 3600, ge=60, le=7 * 24 * 3600)  # one clinic shift
    # Login throttle (no hard lock-out): per typed username and per client address, the failures
    # beyond the free ones each double the wait before the next attempt (1 s, 2 s, 4 s ... up to the
    # cap); failures are forgotten after login_throttle_reset_s without one. An admin can unlock.
    login_free_failures: int = Field(default=3, ge=1)  # per account (known or unknown name)
    login_ip_free_failures: int = Field(default=10, ge=1)  # per client address
    login_delay_base_s: int = Field(default=1, ge=1)
    login_delay_max_s: int = Field(default=300, ge=1)  # per account: a guesser cannot lock anyone out for long
    login_ip_delay_max_s: int = Field(default=900, ge=1)
    login_throttle_reset_s: int = Field(default=900, ge=1)
    # KETACLINIC_TRUSTED_PROXIES: comma-separated addresses or networks (CIDR) of reverse proxies whose
    # X-Forwarded-For / X-Forwarded-Proto are believed. Empty (the default): no forwarded header is.
    trusted_proxies: str = ""
    # Rate limits, fixed windows counted in the database (shared by every worker).
    login_rate_limit: int = Field(default=20, ge=1)  # attempts per client address per window
    login_rate_window_s: int = Field(default=60, ge=1)
    inquiry_rate_limit: int = Field(default=5, ge=1)  # public form posts per client address per window
    inquiry_rate_window_s: int = Field(default=3600, ge=1)
    # The clinic's own clock, used for "one business day" deadlines.
    clinic_timezone: str = "UTC"
    demo_password: SecretStr = SecretStr(DEFAULT_DEMO_PASSWORD)
    # SQLite waits this long for a lock before giving up (milliseconds).
    sqlite_busy_timeout_ms: int = Field(default=15000, ge=0)
    # Web UI. KETACLINIC_WEB_IDLE_TIMEOUT_S: inactivity that signs a user out (900 s = 15 min, issue 6;
    # at least 2 s); KETACLINIC_WEB_IDLE_WARNING_S: how long before that the page warns (120 s; kept
    # between 1 s and the time-out less 1 s). The browser tests set a few seconds.
    web_idle_timeout_s: int = 900
    web_idle_warning_s: int = 120
    # KETACLINIC_DEMO: force the synthetic-data banner on (1/true/yes/on) or off (anything else);
    # unset or empty, the banner follows whether the demo clinic is seeded.
    demo: bool | None = None
    # KETACLINIC_WEB_SECURE_COOKIE: the session cookie is Secure (HTTPS only); unset, on in production only.
    web_secure_cookie: bool | None = None
    # Reminders (issue 13, services/mail.py): KETACLINIC_SMTP_URL is smtp://[user:password@]host[:port] (STARTTLS
    # whenever the server offers it; ?starttls=require refuses a server that does not) or smtps:// (TLS from the
    # first byte). Unset: nothing is sent and the messages wait (the admin's outbox page says so).
    smtp_url: SecretStr | None = None
    smtp_from: str = "KetaClinic <no-reply@ketaclinic.invalid>"
    smtp_timeout_s: float = Field(default=30, gt=0, le=300)
    # The outbox worker: how long a claimed message is held before another worker may take it again (longer
    # than one SMTP send), how often it looks for due messages, and the retries with back-off.
    outbox_lease_s: float = Field(default=300, gt=0)
    outbox_poll_s: float = Field(default=15, gt=0)
    outbox_batch: int = Field(default=20, ge=1, le=500)
    outbox_max_attempts: int = Field(default=8, ge=1, le=50)
    outbox_backoff_base_s: float = Field(default=60, gt=0)
    outbox_backoff_max_s: float = Field(default=6 * 3600, gt=0)
    # Threads per server process that run the request handlers (KETACLINIC_REQUEST_THREADS; AnyIO's default is
    # 40). The handlers are short and CPU-bound under the GIL: with 40 threads, the thread that holds the audit
    # chain's lock at commit waits behind dozens of others for the GIL at each database round trip, and two
    # workers served 80 req/s on this 2-core machine; with 4, 130 req/s (benchmarks/scale.py, issue 17).
    # Requests beyond the threads wait in the event loop, not in the database's lock queue.
    request_threads: int = Field(default=4, ge=1, le=64)
    # Questionnaire reminders (issue 15): the clinic's address as patients reach it (KETACLINIC_PUBLIC_URL, e.g.
    # https://clinic.example.org), for the portal link in the message; how often a worker looks for due questionnaires.
    public_url: str | None = None
    questionnaire_reminder_scan_s: float = Field(default=3600, gt=0)

    @field_validator("demo", mode="before")
    @classmethod
    def _demo_flag(cls, value: object) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        return None if text == "" else text in ("1", "true", "yes", "on")

    @field_validator("web_secure_cookie", mode="before")
    @classmethod
    def _secure_flag(cls, value: object) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        return None if text == "" else text in ("1", "true", "yes")

    @model_validator(mode="after")
    def _idle_times_make_sense(self) -> Settings:
        self.web_idle_timeout_s = max(2, self.web_idle_timeout_s)
        self.web_idle_warning_s = max(1, min(self.web_idle_warning_s, self.web_idle_timeout_s - 1))
        return self

    @property
    def secure_cookie(self) -> bool:
        """Whether the web session cookie is sent over HTTPS only (default: in production)."""
        return self.env == "production" if self.web_secure_cookie is None else self.web_secure_cookie

    @model_validator(mode="after")
    def _production_needs_a_secret(self) -> Settings:
        if self.env == "production":
            if self.secret_key is None or len(self.secret_key.get_secret_value()) < 32:
                raise SettingsError("KETACLINIC_SECRET_KEY (at least 32 characters) is required when "
                                    f"KETACLINIC_ENV=production; make one with: {MAKE_SECRET}")
            if estimated_entropy_bits(self.secret_key.get_secret_value()) < MIN_SECRET_ENTROPY_BITS:
                raise SettingsError("KETACLINIC_SECRET_KEY has too little entropy (repeated or patterned "
                                    f"characters); make a random one with: {MAKE_SECRET}")
        ZoneInfo(self.clinic_timezone)  # fail early on an unknown zone
        _ = self.trusted_proxy_networks  # fail early on an unreadable proxy address
        return self

    @property  # not cached: model_copy(update=...) would carry a cached value over
    def trusted_proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """KETACLINIC_TRUSTED_PROXIES as networks (a bare address is a /32 or /128)."""
        out = []
        for part in self.trusted_proxies.replace(";", ",").split(","):
            part = part.strip()
            if part:
                try:
                    out.append(ip_network(part, strict=False))
                except ValueError:
                    raise SettingsError(f"KETACLINIC_TRUSTED_PROXIES: {part!r} is not an address or network") from None
        return tuple(out)

    @cached_property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.clinic_timezone)

    def resolved_secret_key(self) -> bytes:
        """The key that signs tokens.

        Explicit key if given; otherwise (development and tests only) a random key kept in
        ``secret_key_file`` so that restarts and several local workers agree on it.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        if self.env == "production":  # unreachable through the validator; kept as a guard
            raise SettingsError("KETACLINIC_SECRET_KEY is required in production")
        path = self.secret_key_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = secrets.token_urlsafe(48)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another worker wrote it first
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(key)
        return path.read_text().strip().encode()

    def demo_password_for_seeding(self) -> str:
        """The demo users' password; the well-known default is refused in production."""
        value = self.demo_password.get_secret_value()
        if self.env == "production" and value == DEFAULT_DEMO_PASSWORD:
            raise SettingsError("the default demo password is refused when KETACLINIC_ENV=production")
        return value


def get_settings() -> Settings:
    """Settings from the environment (a fresh read each call, so tests can change it)."""
    return Settings()
