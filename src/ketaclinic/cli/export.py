"""``ketaclinic export fhir`` and ``ketaclinic import fhir``: FHIR R4 Bundles in and out, from the terminal.

The operator signs in (password on standard input), so each transfer is checked against that
account's rights and written to the audit log under its name, as through the API.
``ketaclinic export --patient N`` (without ``fhir``) still works: FHIR is the only export format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ketaclinic.cli.io import CommandError, emit, fail
from ketaclinic.cli.report import PasswordStdin, Username, run_service, signed_in

PatientOption = Annotated[int | None, typer.Option("--patient", help="The patient's id")]
UsernameOption = Annotated[str | None, typer.Option("--username", help="Your login (the transfer is audited under it)")]

export_app = typer.Typer(help="Export a patient's record (FHIR R4 Bundle, JSON on standard output).")
import_app = typer.Typer(help="Import a referral (FHIR R4 Bundle) into a new chart.", no_args_is_help=True)


def _export(patient: int | None, username: str | None, password_stdin: bool) -> None:
    from ketaclinic.services.fhir import export_patient

    if patient is None or username is None:
        fail(CommandError("missing_option", "give --patient ID and --username NAME (and --password-stdin)",
                          "patient" if patient is None else "username"))
    with signed_in(username, password_stdin) as (db, actor):
        bundle = run_service(lambda: export_patient(db, actor, patient))
    emit(bundle)


@export_app.callback(invoke_without_command=True)
def export(ctx: typer.Context, patient: PatientOption = None, username: UsernameOption = None,
           password_stdin: PasswordStdin = False) -> None:
    """Write a patient's record as a FHIR R4 Bundle (JSON) to standard output."""
    if ctx.invoked_subcommand is None:
        _export(patient, username, password_stdin)


@export_app.command("fhir")
def export_fhir(patient: PatientOption = None, username: UsernameOption = None,
                password_stdin: PasswordStdin = False) -> None:
    """Write a patient's record as a FHIR R4 Bundle (JSON) to standard output."""
    _export(patient, username, password_stdin)


@import_app.command("fhir")
def import_fhir(
    file: Annotated[Path, typer.Option("--file", help="The referral Bundle (JSON)", exists=False, dir_okay=False)],
    username: Username,
    password_stdin: PasswordStdin = False,
    confirm_new_chart: Annotated[bool, typer.Option("--confirm-new-chart", help="Start a new chart even if this "
                                                    "bundle or person seems to be here already")] = False,
    patient: PatientOption = None,
) -> None:
    """Create a patient and a draft evaluation from a referral Bundle (or, with --patient, attach it to
    that chart); print what was taken and ignored."""
    from ketaclinic.services.referrals import attach_referral, import_referral

    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fail(CommandError("file_not_found", f"no file {file}", "file"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        fail(CommandError("invalid_json", f"{file} is not JSON: {exc}", "file"))
    with signed_in(username, password_stdin) as (db, actor):
        if patient is not None:
            view = run_service(lambda: attach_referral(db, actor, patient, document))
        else:
            view = run_service(lambda: import_referral(db, actor, document, confirm_new_chart=confirm_new_chart))
    emit(view.model_dump(mode="json"))


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
    app.add_typer(import_app, name="import")
