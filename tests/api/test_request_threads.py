"""The request handlers run on a small thread pool (settings.request_threads, issue 17's saturation run)."""

from __future__ import annotations

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from ketaclinic.api.app import create_app
from ketaclinic.settings import Settings


@pytest.fixture
def engine() -> str:
    return "sqlite"


def _threads_of(client: TestClient) -> int:
    return client.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens)


def test_the_server_runs_its_handlers_on_the_configured_threads(settings, db):
    with TestClient(create_app(settings.model_copy(update={"request_threads": 3}), db=db)) as client:
        assert _threads_of(client) == 3
        assert client.get("/healthz").status_code == 200
    with TestClient(create_app(settings, db=db)) as client:
        assert _threads_of(client) == Settings.model_fields["request_threads"].default == 4  # not AnyIO's 40


def test_a_thread_count_outside_1_to_64_is_refused(monkeypatch):
    for bad in ("0", "65"):
        monkeypatch.setenv("KETACLINIC_REQUEST_THREADS", bad)
        with pytest.raises(ValidationError, match="request_threads"):
            Settings()
