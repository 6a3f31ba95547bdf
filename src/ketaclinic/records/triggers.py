"""The database's own refusal to change an append-only table (migrations call these).

The ORM guard (:mod:`ketaclinic.records.guards`) refuses first; the trigger also stops a change
made around the application (a console, another program). PostgreSQL's trigger function
``ketaclinic_refuse_change()`` is created by migration 0001.
"""

from __future__ import annotations


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
