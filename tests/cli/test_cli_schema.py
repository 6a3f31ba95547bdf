"""Every command that opens the clinic's database refuses one that is not at this program's schema.

Exit 2 with the contract's error shape naming the revision and the command to run, never a
SQLAlchemy traceback, and nothing written. (Before, `ketaclinic register verify` against an old
``ketaclinic.db`` died with "no such table: register_entries".)
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ketaclinic.cli import app
from ketaclinic.records.migrate import head_revision, upgrade

runner = CliRunner()

# each command that reads or writes the database, with what it needs on standard input
COMMANDS: list[tuple[list[str], str]] = [
    (["register", "verify"], ""),
    (["audit", "verify"], ""),
    (["users", "create", "--username", "admin2", "--role", "admin", "--password-stdin"], "a long enough password 1\n"),
    (["report", "outcomes", "--username", "admin", "--password-stdin", "--out", "/dev/null"], "whatever password\n"),
    (["demo"], ""),
    (["worker", "--once"], ""),
    (["serve", "--no-worker", "--port", "1"], ""),
]


def run(monkeypatch: pytest.MonkeyPatch, url: str, argv: list[str], stdin: str) -> tuple[int, dict, str]:
    monkeypatch.setenv("KETACLINIC_DATABASE_URL", url)
    result = runner.invoke(app, argv, input=stdin)
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


@pytest.mark.parametrize("argv, stdin", COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_an_empty_database_is_refused_with_the_command_to_run(tmp_path, monkeypatch, argv, stdin):
    path = tmp_path / "empty.db"
    code, body, stderr = run(monkeypatch, f"sqlite:///{path}", argv, stdin)
    assert code == 2, body
    assert body["error"]["code"] == "database_not_migrated"
    assert "ketaclinic migrate" in body["error"]["message"] and head_revision() in body["error"]["message"]
    assert body["error"]["field"] == "DATABASE_URL"
    assert "ketaclinic migrate" in stderr  # the person at the terminal reads it too
    assert tables(path) == set()  # nothing created behind the refusal


@pytest.mark.parametrize("argv, stdin", COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_a_database_behind_this_version_is_refused_naming_both_revisions(tmp_path, monkeypatch, argv, stdin):
    path = tmp_path / "old.db"
    upgrade(f"sqlite:///{path}", "0014")  # a clinic's database from before the register and billing
    before = tables(path)
    code, body, _ = run(monkeypatch, f"sqlite:///{path}", argv, stdin)
    assert code == 2, body
    assert body["error"]["code"] == "database_not_migrated"
    assert "0014" in body["error"]["message"] and head_revision() in body["error"]["message"]
    assert tables(path) == before  # not migrated, not half-written behind the user's back


def test_a_database_from_a_newer_version_is_refused_as_such(tmp_path, monkeypatch):
    path = tmp_path / "newer.db"
    upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    code, body, _ = run(monkeypatch, f"sqlite:///{path}", ["register", "verify"], "")
    assert code == 2 and body["error"]["code"] == "database_newer_than_program"
    assert "9999" in body["error"]["message"] and "newer version" in body["error"]["message"]


def test_after_migrate_the_same_command_runs(tmp_path, monkeypatch):
    path = tmp_path / "clinic.db"
    upgrade(f"sqlite:///{path}", "0014")
    monkeypatch.setenv("KETACLINIC_DATABASE_URL", f"sqlite:///{path}")
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    code, body, _ = run(monkeypatch, f"sqlite:///{path}", ["register", "verify"], "")
    assert code == 0 and body["ok"] is True


def test_a_database_that_cannot_be_reached_is_named_without_a_traceback(monkeypatch):
    code, body, _ = run(monkeypatch, "postgresql://nobody@127.0.0.1:1/nothing", ["register", "verify"], "")
    assert code == 2 and body["error"]["code"] == "database_unreachable"
    assert "127.0.0.1:1" in body["error"]["message"]
