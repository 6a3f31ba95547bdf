"""``ketaclinic export``: a patient's record as a FHIR R4 Bundle, for another system or a referrer.

The operator signs in as a clinician (password on standard input), so the export is checked
against that account's rights and written to the audit log under its name, as an API export is.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ketaclinic.cli.io import CommandError, emit, fail


def export(
    patient: Annotated[int, typer.Option("--patient", help="The patient's id")],
    username: Annotated[str, typer.Option("--username", help="A physician's login (the export is audited under it)")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input")] = False,
) -> None:
    """Write a patient's record as a FHIR R4 Bundle (JSON) to standard output."""
    from ketaclinic.cli.records import _settings
    from ketaclinic.interop.fhir import export_patient
    from ketaclinic.records.db import Database
    from ketaclinic.services.auth import authenticate
    from ketaclinic.services.errors import ServiceError

    if not password_stdin:
        fail(CommandError("password_required", "pass --password-stdin and give the password on standard input", "password"))
    password = sys.stdin.readline().rstrip("\r\n")
    settings = _settings()
    db = Database(settings.database_url)
    try:
        actor = authenticate(db, settings, username=username, password=password, ip="local")
        bundle = export_patient(db, actor, patient)
    except ServiceError as exc:
        fail(CommandError(exc.code, exc.message, exc.field))
    finally:
        db.dispose()
    emit(bundle)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
