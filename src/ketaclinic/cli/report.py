"""``ketaclinic report …``: the printable documents (PDF), signed in as the user who asks for them.

Each document's command lives beside its domain (``cli/report_*.py`` add theirs to
:data:`report_app`); this module holds what they share: signing in (password on standard input,
so the document is checked against that account's rights and audited under its name, as the web
and API are) and writing the PDF to ``--out`` with a one-line JSON receipt on standard output.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from ketaclinic.cli.io import CommandError, emit, fail

report_app = typer.Typer(help="Printable documents as PDF: letters, session records, summaries, outcome reports.",
                         no_args_is_help=True)

Username = Annotated[str, typer.Option("--username", help="Your login (the document is audited under it)")]
PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input")]
Out = Annotated[Path, typer.Option("--out", help="Where to write the PDF", dir_okay=False, writable=True)]

T = TypeVar("T")


@contextmanager
def signed_in(username: str, password_stdin: bool) -> Iterator[tuple[object, object]]:
    """(database, actor) for the account on the command line; the JSON error shape and exit 2 otherwise."""
    from ketaclinic.cli.database import open_migrated
    from ketaclinic.cli.records import _settings
    from ketaclinic.services.auth import authenticate
    from ketaclinic.services.errors import ServiceError

    if not password_stdin:
        fail(CommandError("password_required", "pass --password-stdin and give the password on standard input", "password"))
    password = sys.stdin.readline().rstrip("\r\n")
    settings = _settings()
    db = open_migrated(settings)
    try:
        try:
            actor = authenticate(db, settings, username=username, password=password, ip="local")
        except ServiceError as exc:
            fail(CommandError(exc.code, exc.message, exc.field))
        yield db, actor
    finally:
        db.dispose()


def run_service(call: Callable[[], T]) -> T:
    """Run a service call; a service error becomes the JSON error shape and exit 2."""
    from ketaclinic.services.errors import ServiceError

    try:
        return call()
    except ServiceError as exc:
        fail(CommandError(exc.code, exc.message, exc.field))


def write_pdf(data: bytes, out: Path) -> None:
    """Write the PDF whole (a temporary file renamed into place) and say what was written."""
    out = out.expanduser()
    if not out.parent.exists():
        fail(CommandError("bad_path", f"the folder {out.parent} does not exist", "out"))
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(data)
    partial.replace(out)
    emit({"written": str(out), "bytes": len(data), "media_type": "application/pdf"})


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
