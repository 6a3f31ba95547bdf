"""``ketaclinic score``: score a validated questionnaire (contract 4.11).

Reads ``{"instrument": "phq9" | "gad7" | "pgic", "answers": [ints in item order, null for a missing item]}``
and prints ``{"instrument", "total", "severity", "flags": [{"code", "message", "source"}], ...}``. Missing
items follow the instrument's rule (PHQ-9 and GAD-7 are prorated within their limits); an instrument with no
rule, too many missing items, a wrong number of answers or a value outside an item's options exit 2 with the
JSON error. ``--list`` prints every shipped instrument with its licence and source.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ketaclinic.cli.io import CommandError, emit, run_json_command
from ketaclinic.clinical.questionnaires import ScoreRequest, Unscorable, list_instruments, score_request


def _handle(request: ScoreRequest) -> dict:
    try:
        return score_request(request)
    except Unscorable as exc:
        raise CommandError(exc.code, exc.message, exc.field) from None


def score_command(
    input_file: Path | None = typer.Option(None, "--input", help="JSON document (contract 4.11); standard input when omitted."),
    list_: bool = typer.Option(False, "--list", help="List the shipped instruments (id, name, items, licence, source)."),
) -> None:
    """Score a questionnaire (PHQ-9, GAD-7, PGIC): total, severity and flags with their sources."""
    if list_:
        emit(list_instruments())
        return
    run_json_command(input_file, ScoreRequest, _handle)


def register(app: typer.Typer) -> None:
    app.command("score")(score_command)
