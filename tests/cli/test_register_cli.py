"""`ketaclinic register verify` (design 4.8): exit 0 on a balanced register, 1 naming the first break."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from ketaclinic.cli import app
from tests.services.test_register import stock, stopped_session

runner = CliRunner()


@pytest.fixture
def engine() -> str:
    return "sqlite"


def _verify(monkeypatch, url: str):
    monkeypatch.setenv("KETACLINIC_DATABASE_URL", url)
    result = runner.invoke(app, ["register", "verify"])
    return result.exit_code, json.loads(result.stdout)


def test_verify_passes_then_names_the_first_tampered_entry(db, clinic, database_url, monkeypatch):
    from ketaclinic.services import register as rg

    safe, _, receipt = stock(db, clinic)
    visit = stopped_session(db, clinic, safe, receipt)
    rg.waste(db, clinic.actors["nurse"], rg.WasteIn(session_id=visit.id), witness=clinic.actors["physician"])
    code, body = _verify(monkeypatch, database_url)
    assert code == 0 and body["ok"] and body["entries"] == 4 and body["first_break"] is None
    # someone edits the book around the application (the append-only trigger dropped first)
    with db.transaction() as session:
        session.execute(text("DROP TRIGGER register_entries_no_update"))
        session.execute(text("UPDATE register_entries SET amount_mg = 250 WHERE kind = 'dispense'"))
    code, body = _verify(monkeypatch, database_url)
    dispense_id = next(e.id for e in rg.list_entries(db, clinic.actors["nurse"]).items if e.kind == "dispense")
    assert code == 1 and not body["ok"]
    assert body["first_break"]["entry_id"] == dispense_id and "dispense" in body["first_break"]["message"]
