"""The schema comes from the migrations, on both engines, and matches the models."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from ketaclinic.records.migrate import current_revision, head_revision
from ketaclinic.records.models import metadata


def test_migrations_reach_head_and_match_the_models(db):
    assert current_revision(db.engine) == head_revision()
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []
    tables = set(inspect(db.engine).get_table_names())
    assert set(metadata.tables) <= tables


def test_migrations_up_down_up(database_url):
    from alembic import command

    from ketaclinic.records.db import make_engine
    from ketaclinic.records.migrate import alembic_config, upgrade

    command.downgrade(alembic_config(database_url), "base")
    engine = make_engine(database_url)
    assert "patients" not in inspect(engine).get_table_names()
    engine.dispose()
    assert upgrade(database_url) == head_revision()


def test_sqlite_pragmas(db, engine):
    with db.engine.connect() as connection:
        if engine == "sqlite":
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
        else:
            assert "PostgreSQL" in connection.execute(text("SELECT version()")).scalar()
