"""``ketaclinic research-export``: the de-identified research export (ZIP) from the terminal, as the admin.

The operator signs in (password on standard input) so the export is checked against that
account's role and written to the audit log under its name, as through the API or the web page.
The ZIP goes to ``--out``, readable by its owner only (mode 0600: it is confidential even
de-identified); a JSON receipt (bytes, SHA-256, row counts, suppression) to standard output; bad
input exits 2 with the JSON error shape. Dates are the clinic's days (``clinic_timezone``).
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from ketaclinic.cli.io import CommandError, emit, fail
from ketaclinic.cli.report import PasswordStdin, Username, run_service, signed_in


def _date(text: str | None, name: str) -> date | None:
    if text is None or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        fail(CommandError("invalid_input", f"{name} must be a day like 2026-01-31 (got {text[:40]!r})", name))


def write_private(out: Path, data: bytes) -> None:
    """Write ``data`` whole to ``out`` with mode 0600 (a temporary file renamed into place)."""
    partial = out.with_name(out.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older .partial may have had another mode; the umask cannot widen 0600
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(out)


def research_export_command(
    username: Username,
    out: Annotated[Path | None, typer.Option("--out", help="Where to write the ZIP", dir_okay=False)] = None,
    password_stdin: PasswordStdin = False,
    format: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",  # noqa: A002
    k: Annotated[str, typer.Option("--k", help="Smallest cell released as is (default 11, CMS policy; at least 5)")] = "11",
    condition: Annotated[str | None, typer.Option("--condition", help="Only patients with this condition")] = None,
    start: Annotated[str | None, typer.Option("--start", help="First session on or after this day (YYYY-MM-DD)")] = None,
    end: Annotated[str | None, typer.Option("--end", help="First session on or before this day (YYYY-MM-DD)")] = None,
) -> None:
    """Write the de-identified research export (tables, data dictionary, README, manifest) as one ZIP."""
    from ketaclinic.cli.records import _settings
    from ketaclinic.services.errors import ServiceError
    from ketaclinic.services.research_export import parameters, research_export

    if out is None:
        fail(CommandError("missing_field", "--out FILE.zip is required: where to write the export", "out"))
    out = out.expanduser()
    try:
        params = parameters(format=format, k=k, condition=condition, start=_date(start, "start"), end=_date(end, "end"))
    except ServiceError as exc:
        fail(CommandError(exc.code, exc.message, exc.field))
    if not out.parent.exists():
        fail(CommandError("bad_path", f"the folder {out.parent} does not exist", "out"))
    with signed_in(username, password_stdin) as (db, actor):
        tz = _settings().timezone
        data, manifest = run_service(lambda: research_export(
            db, actor, format=params.format, k=params.k, condition=params.condition, start=params.start, end=params.end,
            tz=tz))
    write_private(out, data)
    emit({"written": str(out), "bytes": len(data), "sha256": manifest["sha256"], "media_type": "application/zip",
          "format": manifest["format"], "k": manifest["k"], "patients": manifest["patients"],
          "rows": {name: table["rows"] for name, table in manifest["tables"].items()},
          "suppression": manifest["suppression"], "implausible_values_blanked": manifest["implausible_values_blanked"],
          "generated_month": manifest["generated_month"], "data_up_to": manifest["data_up_to"]})


def register(app: typer.Typer) -> None:
    app.command("research-export")(research_export_command)
