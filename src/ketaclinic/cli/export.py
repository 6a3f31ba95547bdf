"""``ketaclinic export``: a patient's record as a FHIR R4 Bundle, for another system or a referrer.

The operator signs in as a clinician (password on standard input), so the export is checked
against that account's rights and written to the audit log under its name, as an API export is.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ketaclinic.cli.io import emit
from ketaclinic.cli.report import PasswordStdin, Username, run_service, signed_in


def export(
    patient: Annotated[int, typer.Option("--patient", help="The patient's id")],
    username: Username,
    password_stdin: PasswordStdin = False,
) -> None:
    """Write a patient's record as a FHIR R4 Bundle (JSON) to standard output."""
    from ketaclinic.interop.fhir import export_patient

    with signed_in(username, password_stdin) as (db, actor):
        bundle = run_service(lambda: export_patient(db, actor, patient))
    emit(bundle)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
