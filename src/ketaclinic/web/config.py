"""The web UI's settings, as the pages and the session middleware use them.

They are read with every other setting by :class:`ketaclinic.settings.Settings` (same environment
names as before: ``KETACLINIC_WEB_IDLE_TIMEOUT_S`` default 900 s, ``KETACLINIC_WEB_IDLE_WARNING_S``
default 120 s, ``KETACLINIC_DEMO`` unset = ask the database, ``KETACLINIC_WEB_SECURE_COOKIE`` unset =
on in production only); this small frozen view is what ``app.state.web_config`` holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from ketaclinic.settings import Settings


@dataclass(frozen=True)
class WebConfig:
    idle_timeout_s: int = 900
    idle_warning_s: int = 120
    demo_banner: bool | None = None  # None: ask the database
    cookie_secure: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> WebConfig:
        return cls(idle_timeout_s=settings.web_idle_timeout_s, idle_warning_s=settings.web_idle_warning_s,
                   demo_banner=settings.demo, cookie_secure=settings.secure_cookie)
