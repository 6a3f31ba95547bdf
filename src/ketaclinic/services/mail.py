"""Sending a message: the transports (issue 13). E-mail over SMTP is built in; SMS plugs in.

A transport has a ``channel`` (``"email"``, ``"sms"``) and ``send(message)``; it raises
:class:`TransportError` with ``permanent=True`` when retrying cannot help (the server refused the
recipient with a 5xx code) and ``permanent=False`` for anything that may pass later (connection refused,
time-out, a 4xx answer). The outbox worker (services/reminders.py) retries the second kind with back-off.

**E-mail** (:class:`SmtpTransport`): ``KETACLINIC_SMTP_URL`` = ``smtp://[user:password@]host[:port]``
(port 25 by default; STARTTLS whenever the server offers it, and ``?starttls=require`` refuses a server that
does not) or ``smtps://host[:port]`` (TLS from the first byte, port 465). Certificates are verified with the
system's trust store. One connection per batch; the ``Message-ID`` is the outbox row's, so a receiving
system that de-duplicates by Message-ID drops the one copy a crash between "accepted" and "recorded" can cause.

**SMS, or another provider**: write a class with ``channel = "sms"`` and ``send(message)`` (``message.to`` is
the patient's phone number, ``message.text`` the body), and register it once at start-up::

    from ketaclinic.services import mail
    mail.register_transport("sms", lambda settings: MyProvider(api_key=...))

Outbox rows with ``channel = 'sms'`` then go through it; without a provider they fail visibly
("no transport for sms") on the admin's outbox page rather than vanish.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from ketaclinic.settings import Settings


class TransportError(Exception):
    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "text/calendar; method=REQUEST"
    data: bytes


@dataclass(frozen=True)
class OutgoingMessage:
    to: str
    subject: str
    text: str
    message_id: str  # "<outbox-12@ketaclinic>"
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)


class Transport(Protocol):
    channel: str

    def send(self, message: OutgoingMessage) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    implicit_tls: bool
    require_starttls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("KETACLINIC_SMTP_URL must look like smtp://host:port or smtps://host:port")
        implicit = parts.scheme == "smtps"
        options = parse_qs(parts.query)
        return cls(host=parts.hostname, port=parts.port or (465 if implicit else 25), implicit_tls=implicit,
                   require_starttls=options.get("starttls", [""])[0] == "require",
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password else None)


def email_message(message: OutgoingMessage, sender: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = message.message_id
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it
    mail.set_content(message.text)
    for attachment in message.attachments:
        maintype, _, rest = attachment.content_type.partition("/")
        subtype, *params = [p.strip() for p in rest.split(";")]
        extra = dict(p.split("=", 1) for p in params if "=" in p)
        mail.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename,
                            params=extra)
    return mail


class SmtpTransport:
    """E-mail through one SMTP connection (opened on the first send, reused for the batch)."""

    channel = "email"

    def __init__(self, url: str, sender: str, timeout_s: float = 30, tls: ssl.SSLContext | None = None):
        self.config = SmtpConfig.parse(url)
        self.sender = sender
        self.timeout_s = timeout_s
        self.tls = tls or ssl.create_default_context()
        self._smtp: smtplib.SMTP | None = None
        self.used_starttls = False

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        try:
            if c.implicit_tls:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(c.host, c.port, timeout=self.timeout_s, context=self.tls)
            else:
                smtp = smtplib.SMTP(c.host, c.port, timeout=self.timeout_s)
            smtp.ehlo()
            if not c.implicit_tls:
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=self.tls)
                    smtp.ehlo()
                    self.used_starttls = True
                elif c.require_starttls:
                    smtp.close()
                    raise TransportError(f"{c.host}:{c.port} does not offer STARTTLS (required by the URL)")
            if c.username:
                smtp.login(c.username, c.password or "")
        except (OSError, smtplib.SMTPException) as error:
            raise TransportError(f"cannot reach the mail server {c.host}:{c.port}: {error}") from None
        return smtp

    def send(self, message: OutgoingMessage) -> None:
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            refused = self._smtp.send_message(email_message(message, self.sender))
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            raise TransportError(f"the mail server refused {message.to}: {error.recipients}",
                                 permanent=all(500 <= c < 600 for c in codes)) from None
        except smtplib.SMTPResponseException as error:
            self.close()
            raise TransportError(f"the mail server answered {error.smtp_code} {error.smtp_error!r}",
                                 permanent=500 <= error.smtp_code < 600 and error.smtp_code != 554) from None
        except (OSError, smtplib.SMTPException) as error:
            self.close()
            raise TransportError(f"sending failed: {error}") from None
        if refused:
            raise TransportError(f"the mail server refused {message.to}: {refused}", permanent=True)

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None


TransportFactory = Callable[[Settings], Transport | None]


def _email(settings: Settings) -> Transport | None:
    if settings.smtp_url is None:
        return None
    return SmtpTransport(settings.smtp_url.get_secret_value(), settings.smtp_from, settings.smtp_timeout_s)


_FACTORIES: dict[str, TransportFactory] = {"email": _email}


def register_transport(channel: str, factory: TransportFactory) -> None:
    """Plug in a provider for ``channel`` (``"sms"``; or replace the e-mail one)."""
    _FACTORIES[channel] = factory


def transports(settings: Settings) -> dict[str, Transport]:
    """The transports configured now, by channel (e-mail only when KETACLINIC_SMTP_URL is set)."""
    out: dict[str, Transport] = {}
    for channel, factory in _FACTORIES.items():
        transport = factory(settings)
        if transport is not None:
            out[channel] = transport
    return out
