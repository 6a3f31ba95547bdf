"""Issue 15 (questionnaires): reminders for due questionnaires through the message outbox.

``outbox_messages`` gains the kind ``questionnaire_due`` with ``instrument`` and ``due_on`` (the date the
questionnaire fell due, in the clinic's zone); such a message has no appointment, so ``appointment_id`` and
``appointment_start_at`` become optional (a check keeps them required for every appointment kind).
``uq_outbox_messages_questionnaire_once`` on (patient, kind, instrument, due date) makes "once per patient,
instrument and due date" a property of the database (appointment messages leave ``instrument`` NULL, and
NULLs never collide). ``message_template_versions`` accepts the new kind (the admin edits its wording).

SQLite rebuilds both tables (batch mode); the rebuild drops the append-only triggers of
``message_template_versions``, so they are created again.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.records.triggers import append_only, drop_append_only

revision: str = '0020'
down_revision: str | Sequence[str] | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = "kind IN ('confirmation','reminder_first','reminder_second','no_show','cancellation')"
NEW_KINDS = "kind IN ('confirmation','reminder_first','reminder_second','no_show','cancellation','questionnaire_due')"
SUBJECT = ("(kind = 'questionnaire_due' AND instrument IS NOT NULL AND due_on IS NOT NULL) OR "
           "(kind <> 'questionnaire_due' AND appointment_id IS NOT NULL AND appointment_start_at IS NOT NULL)")


def _kinds(table: str, kinds: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(op.f(f'ck_{table}_kind'), type_='check')
        batch_op.create_check_constraint(op.f(f'ck_{table}_kind'), kinds)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('instrument', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('due_on', sa.Date(), nullable=True))
        batch_op.alter_column('appointment_id', existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column('appointment_start_at', existing_type=sa.DateTime(), nullable=True)
        batch_op.drop_constraint(op.f('ck_outbox_messages_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_outbox_messages_kind'), NEW_KINDS)
        batch_op.create_check_constraint(op.f('ck_outbox_messages_subject'), SUBJECT)
        batch_op.create_unique_constraint('uq_outbox_messages_questionnaire_once',
                                          ['patient_id', 'kind', 'instrument', 'due_on'])
    for statement in drop_append_only(dialect, 'message_template_versions'):
        op.execute(statement)
    _kinds('message_template_versions', NEW_KINDS)
    for statement in append_only(dialect, 'message_template_versions'):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute("DELETE FROM outbox_messages WHERE kind = 'questionnaire_due'")
    for statement in drop_append_only(dialect, 'message_template_versions'):
        op.execute(statement)
    op.execute("DELETE FROM message_template_versions WHERE kind = 'questionnaire_due'")
    _kinds('message_template_versions', OLD_KINDS)
    for statement in append_only(dialect, 'message_template_versions'):
        op.execute(statement)
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_constraint('uq_outbox_messages_questionnaire_once', type_='unique')
        batch_op.drop_constraint(op.f('ck_outbox_messages_subject'), type_='check')
        batch_op.drop_constraint(op.f('ck_outbox_messages_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_outbox_messages_kind'), OLD_KINDS)
        batch_op.alter_column('appointment_start_at', existing_type=sa.DateTime(), nullable=False)
        batch_op.alter_column('appointment_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('due_on')
        batch_op.drop_column('instrument')
