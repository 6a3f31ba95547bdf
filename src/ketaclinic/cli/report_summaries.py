"""``ketaclinic report summary`` and ``ketaclinic report outcomes``: the patient's plain-language summary
and the clinic's outcome report for a date range, as PDF files.

Signed in like every document (``--username`` and the password on standard input), so the rights and
the audit entry are that account's. Bad input (a malformed date, a start after the end, a patient the
account may not see) exits 2 with the JSON error shape; success prints a one-line JSON receipt.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ketaclinic.cli.report import Out, PasswordStdin, Username, report_app, run_service, signed_in, write_pdf


def _patient_id(text: str) -> int:
    """The ``--patient`` id, or the JSON error shape (a typo must not become a usage dump)."""
    from ketaclinic.cli.io import CommandError, fail

    value = text.strip()
    if not value.isdigit() or not 1 <= int(value) <= 2**31 - 1:
        fail(CommandError("invalid_input", f"--patient must be a patient id, a whole number from 1 (got {text[:40]!r})",
                          "patient"))
    return int(value)


@report_app.command("summary")
def summary(
    patient: Annotated[str, typer.Option("--patient", help="The patient's id")],
    username: Username,
    out: Out,
    password_stdin: PasswordStdin = False,
) -> None:
    """The patient's treatment summary in plain language (physicians, nurses; a patient: their own)."""
    from ketaclinic.cli.records import _settings
    from ketaclinic.services.documents import patient_summary as summary_pdf

    patient_id = _patient_id(patient)
    tz = _settings().timezone
    with signed_in(username, password_stdin) as (db, actor):
        data = run_service(lambda: summary_pdf(db, actor, patient_id, tz=tz))  # type: ignore[arg-type]
    write_pdf(data, out)


@report_app.command("outcomes")
def outcomes(
    username: Username,
    out: Out,
    start: Annotated[str | None, typer.Option("--start", help="First day of the range, YYYY-MM-DD "
                                                              "(default: 12 months before --end)")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last day of the range, YYYY-MM-DD (default: today)")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """The clinic's outcome report for the courses that ended from --start to --end (physicians, nurses)."""
    from ketaclinic.services.documents import outcome_report as report_pdf

    with signed_in(username, password_stdin) as (db, actor):
        data = run_service(lambda: report_pdf(db, actor, start=start, end=end))  # type: ignore[arg-type]
    write_pdf(data, out)
