"""Commands of the records layer: ``migrate``, ``serve``, ``audit verify``, ``backup``, ``restore``, ``users create``.

Each writes one JSON document to standard output; refusals exit 2 with the contract's error
shape (``audit verify`` exits 1 when the chain is broken). The database comes from
``DATABASE_URL`` / ``KETACLINIC_DATABASE_URL``. (``ketaclinic demo`` lives in its own module.)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from ketaclinic.cli.io import CommandError, emit, error_from_validation, fail
from ketaclinic.settings import Settings, SettingsError


def _settings() -> Settings:
    try:
        return Settings()
    except (ValidationError, SettingsError) as exc:
        if isinstance(exc, ValidationError):  # the setting and the reason in words, never pydantic's URL
            from ketaclinic.services.types import explain

            message, field = explain(exc.errors(include_url=False)[0])
            fail(CommandError("invalid_settings", message, field))
        fail(CommandError("invalid_settings", str(exc).strip(), None))


def migrate() -> None:
    """Apply every database migration (Alembic upgrade head), then check and repair the append-only triggers."""
    from ketaclinic.records.db import redacted
    from ketaclinic.records.migrate import ensure_guards, upgrade

    settings = _settings()
    revision = upgrade(settings.database_url)
    repaired = ensure_guards(settings.database_url)
    from ketaclinic.records.db import Database
    from ketaclinic.services.course_summaries import rebuild_if_empty

    db = Database(settings.database_url)
    try:  # a database with history before migration 0019 gets its outcome summaries (issue 17)
        summaries = rebuild_if_empty(db)
    finally:
        db.dispose()
    emit({"migrated": True, "revision": revision, "database": redacted(settings.database_url),
          "guards": {"intact": not repaired, "repaired": repaired}, "course_summaries_built": summaries})


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (stateless; share the database)")] = 1,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Do not run the outbox worker (reminders) in this "
                                            "process: `ketaclinic worker` runs it elsewhere")] = False,
) -> None:
    """Serve the web UI and the API."""
    import uvicorn

    from ketaclinic.cli.database import open_migrated
    from ketaclinic.services.auth import refuse_demo_database_in_production

    settings = _settings()
    settings.resolved_secret_key()  # make the dev key once, before workers race for it
    db = open_migrated(settings)  # an old or empty database: one clear refusal, not a traceback per request
    try:
        refuse_demo_database_in_production(db, settings)  # one line here, not a traceback per worker
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        fail(CommandError("demo_database_refused", str(exc), "DATABASE_URL"))
    finally:
        db.dispose()
    # Forwarded headers are the app's business (KETACLINIC_TRUSTED_PROXIES, api.security): uvicorn's own
    # handling would believe any local process.
    if not no_worker:  # issue 13: the outbox worker in a thread of this process (services/worker.py)
        from ketaclinic.services.worker import start_in_thread

        start_in_thread(settings)
    uvicorn.run("ketaclinic.api.app:create_app_from_env", factory=True, host=host, port=port, workers=workers,
                proxy_headers=False, log_level="info")


audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit chain: exit 0 when intact, 1 naming the first broken entry."""
    from ketaclinic.cli.database import open_migrated
    from ketaclinic.services.audit import verify

    settings = _settings()
    db = open_migrated(settings)
    try:
        report = verify(db)
    finally:
        db.dispose()
    emit(report.as_dict())
    if not report.intact:
        raise typer.Exit(code=1)


def backup(file: Annotated[Path, typer.Argument(help="Where to write the backup")]) -> None:
    """A consistent copy of the database (SQLite backup API, or pg_dump)."""
    from ketaclinic.records.backup import BackupError
    from ketaclinic.records.backup import backup as do_backup

    settings = _settings()
    try:
        emit({"backup": do_backup(settings.database_url, file)})
    except BackupError as exc:
        fail(CommandError("backup_failed", str(exc), "file"))


def restore(
    file: Annotated[Path, typer.Argument(help="A file written by `ketaclinic backup`")],
    accept_broken_chain: Annotated[bool, typer.Option(
        "--accept-broken-chain",
        help="Restore even when the backup's audit chain is broken (written to the audit log)")] = False,
) -> None:
    """Check the backup's audit chain, replace the database's content with it, reinstall the triggers.

    A backup whose audit chain is broken is refused (exit 1, nothing replaced) unless
    --accept-broken-chain is given; the acceptance is then recorded in the audit log.
    """
    import getpass

    from ketaclinic.records.backup import BackupError, BrokenChainError
    from ketaclinic.records.backup import restore as do_restore
    from ketaclinic.records.db import Database
    from ketaclinic.services.audit import verify

    settings = _settings()
    try:
        operator = getpass.getuser()
    except (KeyError, OSError):
        operator = "unknown"
    try:
        result = do_restore(settings.database_url, file, accept_broken_chain=accept_broken_chain,
                            operator=f"system:restore:{operator}")
    except BrokenChainError as exc:
        emit({**CommandError("broken_chain", str(exc), "file").as_json(), "backup_chain": exc.report.as_dict()})
        raise typer.Exit(code=1) from None
    except BackupError as exc:
        fail(CommandError("restore_failed", str(exc), "file"))
    db = Database(settings.database_url)
    try:
        report = verify(db)
    finally:
        db.dispose()
    emit({"restore": result, "audit": report.as_dict()})


users_app = typer.Typer(help="User accounts.", no_args_is_help=True)


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="Login name")],
    role: Annotated[str, typer.Option(help="admin | physician | nurse | coordinator | patient")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input")] = False,
    patient_id: Annotated[int | None, typer.Option(help="For a patient account: the patient it belongs to")] = None,
) -> None:
    """Create an account (the first admin is made this way)."""
    from ketaclinic.cli.database import open_migrated
    from ketaclinic.services.context import Actor
    from ketaclinic.services.errors import ServiceError
    from ketaclinic.services.users import UserCreate, create_user

    if not password_stdin:
        fail(CommandError("password_required", "pass --password-stdin and give the password on standard input", "password"))
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        data = UserCreate(username=username, role=role, password=password, patient_id=patient_id)  # type: ignore[arg-type]
    except ValidationError as exc:
        fail(error_from_validation(exc))
    settings = _settings()
    db = open_migrated(settings)
    try:
        view = create_user(db, Actor.system("users create"), data)
    except ServiceError as exc:
        fail(CommandError(exc.code, exc.message, exc.field))
    finally:
        db.dispose()
    emit({"user": view.model_dump(mode="json")})


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate)
    app.command("serve")(serve)
    app.command("backup")(backup)
    app.command("restore")(restore)
    app.add_typer(audit_app, name="audit")
    app.add_typer(users_app, name="users")
