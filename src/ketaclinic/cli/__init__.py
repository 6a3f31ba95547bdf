"""The ``ketaclinic`` command.

Every module of this package that defines ``register(app)`` adds its commands, so each domain
keeps its command next to the others without one file growing without end. All commands that
take clinical input read one JSON document and write one JSON document (design.md, section 4).
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="ketaclinic",
    help="KetaClinic: decision support for low-dose ketamine infusion clinics. "
    "It never replaces the clinician's judgement.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """KetaClinic: decision support for low-dose ketamine infusion clinics (never a replacement for judgement)."""


def _register_commands() -> None:
    """Each command family adds its commands (explicit imports: the command list is visible here)."""
    from ketaclinic.cli import (
        codes,
        demo,
        discharge,
        dose,
        export,
        monitor,
        records,
        register,
        report,
        report_letters,
        report_summaries,
        research,
        score,
        screen,
        simulate,
        tci,
        worker,
    )

    # report_letters and report_summaries add their commands to ``report``'s sub-app when imported
    del report_letters, report_summaries
    for module in (codes, demo, discharge, dose, export, monitor, records, register, report, research, score, screen, simulate, tci, worker):
        module.register(app)


_register_commands()


def main() -> None:
    app()
