"""Apply the Alembic migrations (``ketaclinic migrate``; the tests build every schema this way too)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ketaclinic.records.db import normalize_url

REPO_ROOT = Path(__file__).resolve().parents[3]
MIGRATIONS_DIR = REPO_ROOT / "migrations"


def alembic_config(url: str) -> Config:
    config = Config(str(REPO_ROOT / "alembic.ini")) if (REPO_ROOT / "alembic.ini").exists() else Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(url: str, revision: str = "head") -> str:
    """Upgrade the database at ``url``; return the revision it is now at."""
    config = alembic_config(url)
    command.upgrade(config, revision)
    return head_revision()


def ensure_guards(url: str) -> list[str]:
    """Check the append-only and sealed-record triggers and put back any missing or altered one.

    Returns what was wrong (empty when every guard was in place). ``ketaclinic migrate`` runs this
    after the upgrade: a database restored from an old backup or edited by hand gets its guards back.
    """
    from ketaclinic.records.db import make_engine
    from ketaclinic.records.triggers import check_guards, repair_guards

    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            if not check_guards(connection):
                return []
            return repair_guards(connection)
    finally:
        engine.dispose()


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return str(script.get_current_head())


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands against this program's migrations (the CLI's edge check)."""

    current: str | None  # the database's revision; None when it has no KetaClinic schema yet
    head: str  # the revision this program needs
    known: bool  # whether this program's migrations know ``current`` (False: written by a newer version)
    unreadable: str | None = None  # why the database could not be read at all

    @property
    def at_head(self) -> bool:
        return self.unreadable is None and self.current == self.head


def schema_state(engine: Engine) -> SchemaState:
    """The database's schema revision beside this program's head; reads only (never creates a table)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = str(script.get_current_head())
    try:
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        reason = str(exc.orig if getattr(exc, "orig", None) is not None else exc).strip().splitlines()[0]
        return SchemaState(current=None, head=head, known=False, unreadable=reason)
    known = current is None or current in {revision.revision for revision in script.walk_revisions()}
    return SchemaState(current=current, head=head, known=known)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
