"""The one way a command opens the clinic's database: only when its schema is the one this program knows.

A command run against a database that ``ketaclinic migrate`` has not brought up to date (an old
``ketaclinic.db`` after an upgrade, an empty database, a database written by a newer version) used
to fail deep inside SQLAlchemy with a traceback about a missing table or column. Checked here, at the
edge, it is one clear refusal instead (exit 2, the contract's error shape): what the database is at,
what this program needs, and what to run. Nothing is read or written before the check.
"""

from __future__ import annotations

import typer

from ketaclinic.cli.io import CommandError, fail
from ketaclinic.records.db import Database, redacted
from ketaclinic.records.migrate import schema_state
from ketaclinic.settings import Settings


def schema_problem(db: Database) -> CommandError | None:
    """Why this database cannot be used as it is, or None when its schema is at this program's head."""
    state = schema_state(db.engine)
    where = redacted(db.url)
    if state.at_head:
        return None
    if state.unreadable is not None:
        return CommandError("database_unreachable", f"cannot read the database {where}: {state.unreadable}",
                            "DATABASE_URL")
    if state.current is None:
        return CommandError(
            "database_not_migrated",
            f"the database {where} has no KetaClinic schema yet: run `ketaclinic migrate` first "
            f"(this version needs schema revision {state.head})", "DATABASE_URL")
    if not state.known:
        return CommandError(
            "database_newer_than_program",
            f"the database {where} is at schema revision {state.current}, which this version of KetaClinic does "
            f"not know (it knows up to {state.head}): it was migrated by a newer version; run that version, or "
            f"restore a backup made for this one", "DATABASE_URL")
    return CommandError(
        "database_not_migrated",
        f"the database {where} is at schema revision {state.current}, this version of KetaClinic needs "
        f"{state.head}: run `ketaclinic migrate` first (it upgrades in place and keeps every record)", "DATABASE_URL")


def open_migrated(settings: Settings) -> Database:
    """The database of ``settings``, checked to be at this program's schema; refuse (exit 2) otherwise."""
    db = Database(settings.database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    problem = schema_problem(db)
    if problem is not None:
        db.dispose()
        typer.echo(problem.message, err=True)  # a person at the terminal reads this line; scripts read the JSON
        fail(problem)
    return db
