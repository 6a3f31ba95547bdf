"""The admin's research export page: what leaves and how, a form whose POST downloads the ZIP; no one else may open it."""

from __future__ import annotations

import asyncio
import io
import json
import re
import zipfile
from datetime import timedelta

import pytest

from ketaclinic.interop import research
from ketaclinic.services import research_export as export_service
from ketaclinic.services.audit import AuditFilter, list_audit
from ketaclinic.web.views import research_export as research_view
from tests.api.test_research_api import five_treated
from tests.interop.flows import T0, completed, signed_plan
from tests.web.conftest import csrf_of

PAGE = "/admin/research-export"


def test_the_page_explains_the_export_and_the_admin_navigation_links_it(signed_in):
    web = signed_in("admin")
    page = web.get(PAGE)
    assert page.status_code == 200
    html = page.text
    assert f'href="{PAGE}"' in html, "in the admin navigation"
    for words in ("Safe Harbor", "164.514(b)(2)", "shifted", "90+", "CMS cell size suppression policy", "lot numbers",
                  'name="format"', 'name="k"', 'name="condition"', 'name="start"', 'name="end"', 'value="11"'):
        assert words in html, words
    assert all(f"<code>{c.name}</code>" in html for columns in research.TABLES.values() for c in columns)
    assert html.count("<tr><td>") >= 18, "the 18 identifiers"
    text = re.sub(r"\s+", " ", html)
    assert "cannot be linked" not in text and "cannot be joined by id, yet" in text, "exports can be matched by content"
    for words in ("the same in every export", "whole number of weeks", "last 14 days", "Overlapping cohorts",
                  "5-kg bands", "number of sessions", "removed from every table", "Implausible values",
                  "the month it was made in"):
        assert words in text, words


def test_the_post_downloads_the_zip_off_the_event_loop_and_is_audited(signed_in, db, clinic, monkeypatch):
    """The review's s14_loop: the export ran inside the async handler, so every other request waited for it
    (seconds on a large clinic). The real export runs here; the spy only notes where it ran."""
    five_treated(db, clinic)
    ran_on_loop: list[bool] = []

    def spy(*args, **kwargs):
        try:
            asyncio.get_running_loop()
            ran_on_loop.append(True)
        except RuntimeError:  # no event loop in this thread: a worker thread
            ran_on_loop.append(False)
        return export_service.research_export(*args, **kwargs)

    monkeypatch.setattr(research_view, "research_export", spy)
    web = signed_in("admin")
    token = csrf_of(web.get(PAGE).text)
    response = web.post(PAGE, data={"format": "csv", "k": "5", "condition": "crps", "start": "", "end": "",
                                    "csrf_token": token})
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert ran_on_loop == [False], "the export must run in the thread pool, not on the event loop"
    assert re.fullmatch(r'attachment; filename="ketaclinic-research-\d{4}-\d{2}\.zip"',
                        response.headers["content-disposition"])
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert json.loads(archive.read("manifest.json"))["cohort"]["condition"] == "crps"
        assert "patients.csv" in archive.namelist()
    entry = list_audit(db, clinic.actors["admin"], AuditFilter(action="research.export"), limit=1).items[0]
    assert entry.username == "admin" and entry.detail["k"] == 5


def test_bad_values_come_back_next_to_their_fields(signed_in, db, clinic):
    completed(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), T0 + timedelta(days=2))
    web = signed_in("admin")
    token = csrf_of(web.get(PAGE).text)
    bad = web.post(PAGE, data={"format": "csv", "k": "3", "start": "2026-03-01", "end": "2026-01-01", "csrf_token": token})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")
    errors = dict(re.findall(r'<p class="error" id="e-([a-z_]+)">([^<]*)</p>', bad.text))
    assert "at least 5" in errors["k"] and "on or before" in errors["end"]
    assert 'value="3"' in bad.text, "the typed values are kept"
    small = web.post(PAGE, data={"format": "parquet", "k": "11", "csrf_token": token})
    assert small.status_code == 422 and "fewer than k = 11" in small.text and "has 1 patient" not in small.text
    empty = web.post(PAGE, data={"format": "csv", "k": "5", "condition": "migraine", "csrf_token": token})
    assert empty.status_code == 422 and "the cohort is empty" in empty.text


@pytest.mark.parametrize("role", ["physician", "nurse", "coordinator", "patient"])
def test_other_roles_get_the_403_page(signed_in, role):
    web = signed_in(role)
    page = web.get(PAGE)
    assert page.status_code == 403 and "Not available to your role" in page.text
    token = re.search(r'data-csrf="([^"]+)"', page.text).group(1)  # a valid token: the role is what is refused
    post = web.post(PAGE, data={"format": "csv", "k": "11", "csrf_token": token})
    assert post.status_code == 403 and post.headers["content-type"].startswith("text/html")
    assert "Not available to your role" in post.text
    home = web.get("/dashboard" if role != "patient" else "/me")
    assert home.status_code == 200 and f'href="{PAGE}"' not in home.text


def test_a_post_without_the_csrf_token_is_refused(signed_in):
    web = signed_in("admin")
    response = web.post(PAGE, data={"format": "csv", "k": "11"})
    assert response.status_code == 403 and "The form had expired" in response.text
