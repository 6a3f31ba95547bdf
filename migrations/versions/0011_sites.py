"""Issue 17: sites of a clinic group, the staff who work at each, and the site of every patient and session.

``sites``: one clinic location each (name and short code unique; an IANA time zone, or none to keep
the clinic's). ``staff_sites``: the role a staff member has at a site. ``patients.site_id`` and
``sessions.site_id`` (NOT NULL): the site a patient belongs to and where a session happens.

The migration makes one default site ("Main site", code ``MAIN``), puts every existing patient and
session in it and makes every existing non-patient user a member of it with their current role.

The new NOT NULL foreign keys are added without copying the tables:
- PostgreSQL adds each column with the default site as a temporary default (filled from the catalog,
  so the sealed-session trigger never sees an UPDATE), then drops the default.
- SQLite cannot add a NOT NULL column with a REFERENCES clause while foreign keys are on, and a table
  rebuild would need them off, which is impossible inside the migration's transaction. So the column is
  added nullable, filled (the sealed-session triggers are dropped for that UPDATE and put back), and
  then declared NOT NULL by editing the table's stored definition (SQLite's documented ``writable_schema``
  procedure, with the schema version raised so every connection re-reads it), after checking that no row
  is null.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from ketaclinic.records.db import UTCDateTime
from ketaclinic.records.triggers import sealed

revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("patients", "sessions")
SEALED_SESSIONS = ("state", ("discharged", "cancelled"))


def _nullable_column(table: str) -> str:
    return f"site_id INTEGER CONSTRAINT fk_{table}_site_id_sites REFERENCES sites (id)"


def _not_null_column(table: str) -> str:
    return f"site_id INTEGER NOT NULL CONSTRAINT fk_{table}_site_id_sites REFERENCES sites (id)"


def _rewrite_sqlite_table(table: str, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in the stored CREATE TABLE of ``table`` (once; refused otherwise)."""
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


def _sealed_guards(dialect: str) -> list:
    return sealed(dialect, "sessions", SEALED_SESSIONS[0], SEALED_SESSIONS[1])


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    op.create_table("sites",
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('address', sa.String(length=500), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_sites_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sites')),
    sa.UniqueConstraint('code', name=op.f('uq_sites_code')),
    sa.UniqueConstraint('name', name=op.f('uq_sites_name'))
    )
    op.create_table("staff_sites",
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("role IN ('admin','physician','nurse','coordinator')", name=op.f('ck_staff_sites_role')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_staff_sites_created_by_users')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_staff_sites_site_id_sites')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_staff_sites_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_sites')),
    sa.UniqueConstraint('user_id', 'site_id', name='uq_staff_sites_user_site')
    )
    op.create_index(op.f('ix_staff_sites_site_id'), 'staff_sites', ['site_id'], unique=False)

    now = datetime.now(UTC)
    sites = sa.table("sites", sa.column("id", sa.Integer), sa.column("version", sa.Integer),
                     sa.column("created_at", UTCDateTime()), sa.column("name", sa.String),
                     sa.column("code", sa.String), sa.column("active", sa.Boolean))
    site_id = int(bind.execute(sa.insert(sites).values(version=1, created_at=now, name="Main site", code="MAIN",
                                                       active=True).returning(sites.c.id)).scalar_one())
    staff_sites = sa.table("staff_sites", sa.column("user_id", sa.Integer), sa.column("site_id", sa.Integer),
                           sa.column("role", sa.String), sa.column("created_at", UTCDateTime()))
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("role", sa.String))
    for user_id, role in bind.execute(sa.select(users.c.id, users.c.role).where(users.c.role != "patient")
                                      .order_by(users.c.id)).all():
        bind.execute(sa.insert(staff_sites).values(user_id=user_id, site_id=site_id, role=role, created_at=now))

    if dialect == "postgresql":
        for table in TABLES:
            op.add_column(table, sa.Column("site_id", sa.Integer(), nullable=False,
                                           server_default=sa.text(str(site_id))))
            op.alter_column(table, "site_id", server_default=None)
            op.create_foreign_key(f"fk_{table}_site_id_sites", table, "sites", ["site_id"], ["id"])
    else:
        guards = _sealed_guards(dialect)
        for guard in guards:
            op.execute(guard.drop)
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ADD COLUMN {_nullable_column(table)}")
            op.execute(sa.text(f"UPDATE {table} SET site_id = :site").bindparams(site=site_id))
            missing = bind.exec_driver_sql(f"SELECT count(*) FROM {table} WHERE site_id IS NULL").scalar_one()
            if missing:
                raise RuntimeError(f"{table}: {missing} rows without a site")
            _rewrite_sqlite_table(table, _nullable_column(table), _not_null_column(table))
        for guard in guards:
            op.execute(guard.create)
    for table in TABLES:
        op.create_index(op.f(f"ix_{table}_site_id"), table, ["site_id"], unique=False)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in TABLES:
        op.drop_index(op.f(f"ix_{table}_site_id"), table_name=table)
    if dialect == "postgresql":
        for table in TABLES:
            op.drop_constraint(f"fk_{table}_site_id_sites", table, type_="foreignkey")
            op.drop_column(table, "site_id")
    else:  # SQLite drops a column in place only when nothing constrains it: take the constraints off first
        for table in TABLES:
            _rewrite_sqlite_table(table, _not_null_column(table), "site_id INTEGER")
            op.execute(f"ALTER TABLE {table} DROP COLUMN site_id")
    op.drop_index(op.f('ix_staff_sites_site_id'), table_name='staff_sites')
    op.drop_table("staff_sites")
    op.drop_table("sites")
