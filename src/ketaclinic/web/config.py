"""Settings of the web UI that the shared ``Settings`` does not hold (read from the environment).

``KETACLINIC_WEB_IDLE_TIMEOUT_S`` (default 900 s = 15 min) logs a user out after that much
inactivity; ``KETACLINIC_WEB_IDLE_WARNING_S`` (default 120 s) is how long before that the page
warns. The browser tests set a few seconds. ``KETACLINIC_DEMO`` forces the synthetic-data banner
on (``1``) or off (``0``); left unset, the banner follows whether the demo clinic is seeded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class WebConfig:
    idle_timeout_s: int = 900
    idle_warning_s: int = 120
    demo_banner: bool | None = None  # None: ask the database
    cookie_secure: bool = False

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, *, production: bool = False) -> WebConfig:
        env = dict(os.environ if env is None else env)
        timeout = max(2, int(env.get("KETACLINIC_WEB_IDLE_TIMEOUT_S", "900")))
        warning = int(env.get("KETACLINIC_WEB_IDLE_WARNING_S", "120"))
        warning = max(1, min(warning, timeout - 1))
        demo = env.get("KETACLINIC_DEMO")
        banner = None if demo is None or demo == "" else demo.strip().lower() in ("1", "true", "yes", "on")
        secure = env.get("KETACLINIC_WEB_SECURE_COOKIE", "1" if production else "0").lower() in ("1", "true", "yes")
        return cls(idle_timeout_s=timeout, idle_warning_s=warning, demo_banner=banner, cookie_secure=secure)
