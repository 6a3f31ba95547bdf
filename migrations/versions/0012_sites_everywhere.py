"""Issue 17 (sites, rest): the site in the audit log and wherever else a site must be recorded.

- ``inquiries.site_id`` (NOT NULL): the site a consultation request is for (the public form offers the
  group's open sites; absent, the default site). Existing inquiries go to the default site, the way
  migration 0011 moved patients and sessions (PostgreSQL: a temporary column default; SQLite: added
  nullable, filled, then declared NOT NULL in the stored definition).
- ``audit_log.site_id`` (nullable: sign-ins, users and settings belong to no site): the site an entry
  is about. The audit log is append-only and its rows are never rewritten: existing entries keep NULL,
  and the hash covers ``site_id`` only when it is set, so old entries verify as they did
  (records/audit.py).
- Indexes for what the dashboard and lists read (issue 17 "Scale"): today's sessions of a site
  (``site_id, scheduled_at``), the sessions under way (``state, site_id``), a session's alerts
  (``session_id, kind``), the signed plans (``status, patient_id``), the drafts waiting for a signature
  (``evaluations: status, id``), a site's waiting inquiries
  (``site_id, status, answer_by``) and a site's audit entries (``site_id, seq``).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | Sequence[str] | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_sessions_site_scheduled", "sessions", ["site_id", "scheduled_at"]),
    ("ix_sessions_state_site", "sessions", ["state", "site_id"]),
    ("ix_session_events_session_kind", "session_events", ["session_id", "kind"]),
    ("ix_plans_status_patient", "plans", ["status", "patient_id"]),
    ("ix_evaluations_status_id", "evaluations", ["status", "id"]),
    ("ix_inquiries_site_status_answer_by", "inquiries", ["site_id", "status", "answer_by"]),
    ("ix_audit_log_site_seq", "audit_log", ["site_id", "seq"]),
)


def _column(table: str, not_null: bool) -> str:
    return (f"site_id INTEGER{' NOT NULL' if not_null else ''} "
            f"CONSTRAINT fk_{table}_site_id_sites REFERENCES sites (id)")


def _rewrite_sqlite_table(table: str, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in the stored CREATE TABLE of ``table`` (as migration 0011 does)."""
    bind = op.get_bind()
    sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar_one()
    if sql.count(old) != 1:
        raise RuntimeError(f"{table}: cannot find {old!r} in its definition")
    schema_version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
                         (sql.replace(old, new), table))
    bind.exec_driver_sql(f"PRAGMA schema_version={int(schema_version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")


def upgrade() -> None:
    bind = op.get_bind()
    site_id = bind.exec_driver_sql("SELECT min(id) FROM sites").scalar_one()
    if site_id is None:
        raise RuntimeError("no site: migration 0011 makes the default site")
    if bind.dialect.name == "postgresql":
        op.add_column("inquiries", sa.Column("site_id", sa.Integer(), nullable=False,
                                             server_default=sa.text(str(int(site_id)))))
        op.alter_column("inquiries", "site_id", server_default=None)
        op.create_foreign_key("fk_inquiries_site_id_sites", "inquiries", "sites", ["site_id"], ["id"])
        op.add_column("audit_log", sa.Column("site_id", sa.Integer(), nullable=True))
        op.create_foreign_key("fk_audit_log_site_id_sites", "audit_log", "sites", ["site_id"], ["id"])
    else:
        op.execute(f"ALTER TABLE inquiries ADD COLUMN {_column('inquiries', False)}")
        op.execute(sa.text("UPDATE inquiries SET site_id = :site").bindparams(site=int(site_id)))
        missing = bind.exec_driver_sql("SELECT count(*) FROM inquiries WHERE site_id IS NULL").scalar_one()
        if missing:
            raise RuntimeError(f"inquiries: {missing} rows without a site")
        _rewrite_sqlite_table("inquiries", _column("inquiries", False), _column("inquiries", True))
        op.execute(f"ALTER TABLE audit_log ADD COLUMN {_column('audit_log', False)}")
    op.create_index(op.f("ix_inquiries_site_id"), "inquiries", ["site_id"], unique=False)
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index(op.f("ix_inquiries_site_id"), table_name="inquiries")
    if op.get_bind().dialect.name == "postgresql":
        for table in ("audit_log", "inquiries"):
            op.drop_constraint(f"fk_{table}_site_id_sites", table, type_="foreignkey")
            op.drop_column(table, "site_id")
    else:  # SQLite drops a column in place only when nothing constrains it: take the constraints off first
        _rewrite_sqlite_table("inquiries", _column("inquiries", True), "site_id INTEGER")
        _rewrite_sqlite_table("audit_log", _column("audit_log", False), "site_id INTEGER")
        for table in ("audit_log", "inquiries"):
            op.execute(f"ALTER TABLE {table} DROP COLUMN site_id")
