"""Revocable sign-ins and login throttles (issue 16, design 4.10).

``auth_sessions``: one row per bearer token or web session, keyed by the SHA-256 of its secret,
checked on every request. ``users.token_version``: raised to end every earlier sign-in of a user.
``login_throttles``: failed sign-ins per client address and per typed username, with the growing
delay that replaced the hard lock-out (``users.failed_logins`` and ``users.locked_until`` stay, unused,
so that SQLite need not rebuild the users table).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.records.db import UTCDateTime

revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))
    op.create_table("auth_sessions",
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('token_version', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('revoked_at', UTCDateTime(), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.CheckConstraint("kind IN ('api','web')", name=op.f('ck_auth_sessions_kind')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_auth_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_sessions'))
    )
    op.create_index(op.f('ix_auth_sessions_user_id'), 'auth_sessions', ['user_id'], unique=False)
    op.create_table("login_throttles",
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', UTCDateTime(), nullable=False),
    sa.Column('blocked_until', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttles'))
    )


def downgrade() -> None:
    op.drop_table("login_throttles")
    op.drop_index(op.f('ix_auth_sessions_user_id'), table_name='auth_sessions')
    op.drop_table("auth_sessions")
    if op.get_bind().dialect.name == "sqlite":  # SQLite >= 3.35 drops a column in place (no table rebuild)
        op.execute("ALTER TABLE users DROP COLUMN token_version")
    else:
        op.drop_column("users", "token_version")
