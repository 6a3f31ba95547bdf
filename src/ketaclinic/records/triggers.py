"""The database's own refusal to change an append-only table or a sealed record.

The ORM guard (:mod:`ketaclinic.records.guards`) refuses first; the trigger also stops a change
made around the application (a console, another program). Migrations create the triggers
(:func:`append_only`); PostgreSQL's trigger function ``ketaclinic_refuse_change()`` is created by
migration 0001.

A restore brings back the backup's schema, and a database can lose a trigger to anyone with
write access, so :func:`check_guards` lists what is missing or altered and :func:`repair_guards`
puts every guard back (``ketaclinic restore`` always, ``ketaclinic migrate`` when needed). The
expected guards come from the models: every table whose model is append-only
(``__append_only__``) and every sealed model (``__sealed__ = (column, states)``), so a new
append-only table is covered without touching this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, inspect, text

REFUSE_FUNCTION = """
CREATE OR REPLACE FUNCTION ketaclinic_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: % refused (append-only, signed or closed record)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END $$
"""


def append_only(dialect: str, table: str) -> list[str]:
    """SQL that makes ``table`` refuse UPDATE and DELETE."""
    if dialect == "sqlite":
        return [f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END" for verb in ("UPDATE", "DELETE")]
    if dialect == "postgresql":
        return [f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION ketaclinic_refuse_change()"]
    return []


def drop_append_only(dialect: str, table: str) -> list[str]:
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_{verb}" for verb in ("update", "delete")]
    if dialect == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"]
    return []


def sealed_condition(column: str, states: tuple[str, ...]) -> str:
    """``OLD.status = 'signed'`` / ``OLD.state IN ('discharged', 'cancelled')`` (as migration 0001 wrote them)."""
    if len(states) == 1:
        return f"OLD.{column} = '{states[0]}'"
    return f"OLD.{column} IN ({', '.join(repr(s) for s in states)})"


@dataclass(frozen=True)
class Guard:
    """One trigger: its name, the table it guards and the SQL that creates it."""

    name: str
    table: str
    create: str
    drop: str


_SEALED_PARTS: dict[str, tuple[str, tuple[str, ...]]] = {}


def sealed(dialect: str, table: str, column: str, states: tuple[str, ...]) -> list[Guard]:
    condition = sealed_condition(column, states)
    _SEALED_PARTS[table] = (column.lower(), tuple(s.lower() for s in states))
    if dialect == "sqlite":
        return [Guard(f"{table}_sealed_no_{verb.lower()}", table,
                      f"CREATE TRIGGER {table}_sealed_no_{verb.lower()} BEFORE {verb} ON {table} "
                      f"WHEN {condition} BEGIN SELECT RAISE(ABORT, '{table}: signed or closed records are never changed'); END",
                      f"DROP TRIGGER IF EXISTS {table}_sealed_no_{verb.lower()}")
                for verb in ("UPDATE", "DELETE")]
    if dialect == "postgresql":
        return [Guard(f"{table}_sealed", table,
                      f"CREATE TRIGGER {table}_sealed BEFORE UPDATE OR DELETE ON {table} "
                      f"FOR EACH ROW WHEN ({condition}) EXECUTE FUNCTION ketaclinic_refuse_change()",
                      f"DROP TRIGGER IF EXISTS {table}_sealed ON {table}")]
    return []


def _append_only_guards(dialect: str, table: str) -> list[Guard]:
    creates = append_only(dialect, table)
    drops = drop_append_only(dialect, table)
    names = [f"{table}_no_{verb}" for verb in ("update", "delete")] if dialect == "sqlite" else [f"{table}_append_only"]
    return [Guard(name, table, create, drop) for name, create, drop in zip(names, creates, drops, strict=True)]


def expected_guards(dialect: str) -> list[Guard]:
    """Every trigger the schema should have, derived from the models."""
    from ketaclinic.records.models import Base

    guards: list[Guard] = []
    for mapper in sorted(Base.registry.mappers, key=lambda m: m.class_.__tablename__):
        cls = mapper.class_
        table = cls.__tablename__
        if getattr(cls, "__append_only__", False):
            guards += _append_only_guards(dialect, table)
        seal = getattr(cls, "__sealed__", None)
        if seal is not None:
            guards += sealed(dialect, table, seal[0], tuple(seal[1]))
    return guards


def _normal(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip().rstrip(";").lower()


def _installed(connection: Connection) -> dict[str, str]:
    """Trigger name → a comparable definition of what is installed now."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        rows = connection.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
        return {name: _normal(sql or "") for name, sql in rows}
    if dialect == "postgresql":
        rows = connection.execute(text(
            "SELECT t.tgname, t.tgenabled, p.proname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
            "JOIN pg_proc p ON p.oid = t.tgfoid WHERE NOT t.tgisinternal")).all()
        return {name: f"{enabled}|{function}|{_normal(definition)}" for name, enabled, function, definition in rows}
    return {}


def _function_intact(connection: Connection) -> bool:
    source = connection.execute(text(
        "SELECT prosrc FROM pg_proc WHERE proname = 'ketaclinic_refuse_change'")).scalar_one_or_none()
    return source is not None and "RAISE EXCEPTION" in source.upper()


def _pg_definition_matches(guard: Guard, definition: str) -> bool:
    """PostgreSQL rewrites a trigger's text (``pg_get_triggerdef``); compare the parts that matter."""
    head = f"create trigger {guard.name} before delete or update on public.{guard.table} for each row "
    tail = "execute function ketaclinic_refuse_change()"
    if not (definition.startswith(head) and definition.endswith(tail)):
        return False
    middle = definition[len(head):-len(tail)].strip()
    if guard.name.endswith("_append_only"):
        return middle == ""
    column, states = _SEALED_PARTS.get(guard.table, ("", ()))
    return middle.startswith("when (") and f"old.{column}" in middle and all(f"'{s}'" in middle for s in states) \
        and len(re.findall(r"'([a-z_]+)'", middle)) == len(states)


def check_guards(connection: Connection) -> list[str]:
    """What is wrong with the guards now: ``"<trigger>: missing"``, ``"... altered"``, ``"... disabled"``.

    Only tables that exist are checked (a database at an older revision lacks later tables).
    """
    dialect = connection.dialect.name
    tables = set(inspect(connection).get_table_names())
    installed = _installed(connection)
    problems: list[str] = []
    if dialect == "postgresql" and not _function_intact(connection):
        problems.append("ketaclinic_refuse_change(): missing or altered")
    for guard in expected_guards(dialect):
        if guard.table not in tables:
            continue
        found = installed.get(guard.name)
        if found is None:
            problems.append(f"{guard.name}: missing")
        elif dialect == "sqlite" and found != _normal(guard.create):
            problems.append(f"{guard.name}: altered")
        elif dialect == "postgresql":
            enabled, _function, definition = found.split("|", 2)
            if enabled == "D":
                problems.append(f"{guard.name}: disabled")
            elif not _pg_definition_matches(guard, definition):
                problems.append(f"{guard.name}: altered")
    return problems


def repair_guards(connection: Connection) -> list[str]:
    """Drop and recreate every guard (and PostgreSQL's trigger function); return what was wrong before.

    Runs in the caller's transaction: the guards come back all together or not at all.
    """
    problems = check_guards(connection)
    dialect = connection.dialect.name
    tables = set(inspect(connection).get_table_names())
    if dialect == "postgresql":
        connection.execute(text(REFUSE_FUNCTION))
    for guard in expected_guards(dialect):
        if guard.table not in tables:
            continue
        connection.execute(text(guard.drop))
        connection.execute(text(guard.create))
    return problems
