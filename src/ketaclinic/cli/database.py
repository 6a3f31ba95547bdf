"""The one way a command opens the clinic's database: only when its schema is the one this program knows.

A command run against a database that ``ketaclinic migrate`` has not brought up to date (an old
``ketaclinic.db`` after an upgrade, an empty database, a database written by a newer version) used
to fail deep inside SQLAlchemy with a traceback about a missing table or column. Checked here, at the
edge, it is one clear refusal instead (exit 2, the contract's error shape): what the database is at,
what this program needs, and what to run. Nothing is read or written before the check.
"""

from __future__ import annotations

import typer
from sqlalchemy.exc import SQLAlchemyError

from ketaclinic.cli.io import CommandError, fail
from ketaclinic.records.db import Database, redacted
from ketaclinic.settings import Settings


def schema_problem(db: Database) -> CommandError | None:
    """Why this database cannot be used as it is, or None when its schema is at this program's head."""
    from alembic.script import ScriptDirectory

    from ketaclinic.records.migrate import alembic_config, current_revision, head_revision

    where = redacted(db.url)
    try:
        revision = current_revision(db.engine)
    except SQLAlchemyError as exc:
        reason = str(exc.orig if getattr(exc, "orig", None) is not None else exc).strip().splitlines()[0]
        return CommandError("database_unreachable", f"cannot read the database {where}: {reason}", "DATABASE_URL")
    head = head_revision()
    if revision == head:
        return None
    if revision is None:
        return CommandError(
            "database_not_migrated",
            f"the database {where} has no KetaClinic schema yet: run `ketaclinic migrate` first "
            f"(this version needs schema revision {head})", "DATABASE_URL")
    known = {script.revision for script in ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions()}
    if revision not in known:
        return CommandError(
            "database_newer_than_program",
            f"the database {where} is at schema revision {revision}, which this version of KetaClinic does not "
            f"know (it knows up to {head}): it was migrated by a newer version; run that version, or restore a "
            f"backup made for this one", "DATABASE_URL")
    return CommandError(
        "database_not_migrated",
        f"the database {where} is at schema revision {revision}, this version of KetaClinic needs {head}: "
        f"run `ketaclinic migrate` first (it upgrades in place and keeps every record)", "DATABASE_URL")


def open_migrated(settings: Settings, *, sqlite_busy_timeout_ms: int | None = None) -> Database:
    """The database of ``settings``, checked to be at this program's schema; refuse (exit 2) otherwise."""
    db = Database(settings.database_url, sqlite_busy_timeout_ms=sqlite_busy_timeout_ms or settings.sqlite_busy_timeout_ms)
    problem = schema_problem(db)
    if problem is not None:
        db.dispose()
        typer.echo(problem.message, err=True)  # a person at the terminal reads this line; scripts read the JSON
        fail(problem)
    return db
