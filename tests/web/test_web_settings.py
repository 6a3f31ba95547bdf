"""The web's environment variables are ordinary settings (same names, same defaults, same clamping)."""

from __future__ import annotations

import pytest

from ketaclinic.settings import Settings
from ketaclinic.web.config import WebConfig

WEB_VARS = ("KETACLINIC_WEB_IDLE_TIMEOUT_S", "KETACLINIC_WEB_IDLE_WARNING_S", "KETACLINIC_DEMO",
            "KETACLINIC_WEB_SECURE_COOKIE", "KETACLINIC_ENV")


@pytest.fixture
def clean_env(monkeypatch):
    for name in WEB_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_are_fifteen_minutes_a_two_minute_warning_and_the_database_decides_the_banner(clean_env):
    config = WebConfig.from_settings(Settings())
    assert (config.idle_timeout_s, config.idle_warning_s, config.demo_banner, config.cookie_secure) == (900, 120, None, False)


def test_the_same_environment_names_are_read(clean_env):
    clean_env.setenv("KETACLINIC_WEB_IDLE_TIMEOUT_S", "5")
    clean_env.setenv("KETACLINIC_WEB_IDLE_WARNING_S", "3")
    clean_env.setenv("KETACLINIC_DEMO", "yes")
    clean_env.setenv("KETACLINIC_WEB_SECURE_COOKIE", "1")
    config = WebConfig.from_settings(Settings())
    assert (config.idle_timeout_s, config.idle_warning_s, config.demo_banner, config.cookie_secure) == (5, 3, True, True)


@pytest.mark.parametrize("timeout,warning,expected", [("1", "120", (2, 1)), ("10", "30", (10, 9)), ("10", "0", (10, 1))])
def test_idle_times_are_clamped_as_before(clean_env, timeout, warning, expected):
    clean_env.setenv("KETACLINIC_WEB_IDLE_TIMEOUT_S", timeout)
    clean_env.setenv("KETACLINIC_WEB_IDLE_WARNING_S", warning)
    settings = Settings()
    assert (settings.web_idle_timeout_s, settings.web_idle_warning_s) == expected


@pytest.mark.parametrize("value,expected", [("", None), ("0", False), ("off", False), ("on", True), ("TRUE", True)])
def test_the_demo_banner_switch(clean_env, value, expected):
    clean_env.setenv("KETACLINIC_DEMO", value)
    assert Settings().demo is expected


def test_the_cookie_is_secure_by_default_in_production_only(clean_env):
    key = "Zq3v9Xk2-Lm8Rt5Wp1_Yc7Nb4Hd6Gf0Js"
    assert Settings(env="production", secret_key=key).secure_cookie is True
    assert Settings(env="production", secret_key=key, web_secure_cookie="0").secure_cookie is False
    assert Settings(env="development").secure_cookie is False
