"""``ketaclinic report letter`` and ``ketaclinic report session``: the letters to the referring
physician and the monitored-session record, as PDF files.

- ``report letter --evaluation ID`` — the letter after an evaluation (a draft is marked DRAFT — NOT SIGNED);
- ``report letter --patient ID`` — the letter after the patient's course;
- ``report session --session ID`` — the printable session record.

Signed in like every document (``--username`` and the password on standard input), so the rights and
the audit entry are that account's. Bad input (neither or both of --evaluation/--patient, an id that is
not a whole number, an unknown id, a chart the account may not see) exits 2 with the JSON error shape;
success writes the file and prints a one-line JSON receipt.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ketaclinic.cli.report import Out, PasswordStdin, Username, report_app, run_service, signed_in, write_pdf


def _record_id(text: str | None, option: str) -> int | None:
    """An id option as a number, or the JSON error shape (a typo must not become a usage dump)."""
    from ketaclinic.cli.io import CommandError, fail

    if text is None:
        return None
    value = text.strip()
    if not value.isdigit() or not 1 <= int(value) <= 2**31 - 1:
        fail(CommandError("invalid_input", f"--{option} must be a record id, a whole number from 1 (got {text[:40]!r})",
                          option))
    return int(value)


@report_app.command("letter")
def letter(
    username: Username,
    out: Out,
    evaluation: Annotated[str | None, typer.Option("--evaluation", help="The evaluation's id: the letter after it")] = None,
    patient: Annotated[str | None, typer.Option("--patient", help="The patient's id: the letter after their course")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """A letter to the referring physician: after an evaluation (--evaluation) or after a course (--patient)."""
    from ketaclinic.cli.io import CommandError, fail
    from ketaclinic.cli.records import _settings
    from ketaclinic.services.documents import course_letter, evaluation_letter

    evaluation_id, patient_id = _record_id(evaluation, "evaluation"), _record_id(patient, "patient")
    if (evaluation_id is None) == (patient_id is None):
        fail(CommandError("invalid_input", "give exactly one of --evaluation ID (the letter after an evaluation) "
                          "or --patient ID (the letter after a course)", "evaluation"))
    tz = _settings().timezone
    with signed_in(username, password_stdin) as (db, actor):
        if evaluation_id is not None:
            data = run_service(lambda: evaluation_letter(db, actor, evaluation_id, tz=tz))  # type: ignore[arg-type]
        else:
            data = run_service(lambda: course_letter(db, actor, patient_id, tz=tz))  # type: ignore[arg-type]
    write_pdf(data, out)


@report_app.command("session")
def session_record(
    session: Annotated[str, typer.Option("--session", help="The session's id")],
    username: Username,
    out: Out,
    password_stdin: PasswordStdin = False,
) -> None:
    """The printable record of a monitored session (physicians, nurses)."""
    from ketaclinic.cli.records import _settings
    from ketaclinic.services.documents import session_record as record_pdf

    session_id = _record_id(session, "session")
    tz = _settings().timezone
    with signed_in(username, password_stdin) as (db, actor):
        data = run_service(lambda: record_pdf(db, actor, session_id, tz=tz))  # type: ignore[arg-type]
    write_pdf(data, out)
